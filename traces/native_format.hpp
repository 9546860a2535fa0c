// native_format.hpp: the byte layout of native traces (*.heaplay), shared by
// native_reader.cpp and native_writer.cpp (and tests that craft files by hand).
//
// docs/trace-format.md ("Native binary format") is the prose version of this
// file. In short:
//
//   magic (12 bytes, kNativeMagic) | u32 LE version | header block | blocks...
//
// Every block starts with a 20-byte header (all integers little-endian):
//
//   u8 type | u8 flags (0) | u16 reserved (0) | u32 payload bytes | u32 count |
//   u32 payload CRC-32 (0 for event frames: zstd's checksum covers those) |
//   u32 CRC-32 of header bytes 0..15
//
// The header CRC is checked before any length in it is trusted, so a damaged
// header is an error, never a huge allocation or a false "truncated".
//
// Event frames ('E') hold one zstd frame (content size and checksum set) of
// events encoded into per-field streams; the strings they first use travel
// with them, so a file cut after any frame decodes up to that frame. Metadata
// blocks ('H' first, 'M' later) hold key/value pairs; the end block ('Z')
// holds the total event count and marks a complete file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "traces/consumer.hpp"
#include "traces/event.hpp"
#include "traces/varint.hpp"

namespace heaplay::native {

// What this build writes by default and the newest it reads. Version 2 adds the
// fused opcodes below, version 3 the thread record; versions 1 and 2 stay
// readable (and writable, for tests and comparisons: WriteOptions::native_version).
inline constexpr uint32_t kFormatVersion = 3;
inline constexpr uint32_t kOldestFormatVersion = 1;
inline constexpr size_t kMagicBytes = 12;
inline constexpr uint64_t kVersionOffset = 12;
inline constexpr uint64_t kFirstBlockOffset = 16;  // the header block
inline constexpr size_t kBlockHeaderBytes = 20;

enum class BlockType : uint8_t {
  Header = 'H',    // metadata at the start; exactly once, first
  Events = 'E',    // one zstd frame of count events
  Metadata = 'M',  // later metadata; a key replaces the value it had before
  End = 'Z',       // u64 LE total events; the last block of a complete file
};

// Bounds the reader enforces before allocating anything a file asks for.
inline constexpr uint32_t kMaxPayloadBytes = 64u << 20;  // any block's payload
inline constexpr uint32_t kMaxFrameEvents = 1u << 20;    // events per frame
// Metadata is a handful of keys; the caps keep Metadata::set (linear) cheap.
inline constexpr uint32_t kMaxMetadataEntries = 4096;    // per block, and distinct keys per file
inline constexpr size_t kMaxEventBytes = 32;             // encoded bytes per event (real max is 16)
// New strings per frame: the writer closes a frame once its strings pass
// kFrameStringFlush bytes, and one string is at most StringTable::kMaxStringBytes.
inline constexpr size_t kFrameStringFlush = 4u << 20;
inline constexpr size_t kMaxFrameStringBytes = 8u << 20;
// The largest decoded frame content a reader accepts for a frame of events.
inline uint64_t max_frame_content(uint32_t events) {
  return 64 + uint64_t{events} * kMaxEventBytes + kMaxFrameStringBytes;
}

// One byte per event in the ops stream. Alloc's domain and Free's gc flag ride
// in the opcode; every other field goes to the stream named beside it.
enum Op : uint8_t {
  kOpAlloc = 0x00,      // +Domain (0..3): sizes(size) strs(type)
  kOpFree = 0x04,       // slots(slot)
  kOpFreeGc = 0x05,     // slots(slot); flags = kFlagGc
  kOpRealloc = 0x06,    // slots(slot) sizes(new size)
  kOpObject = 0x07,     // sizes(size) strs(type)
  kOpIncref = 0x08,     // slots(slot)
  kOpDecref = 0x09,     // slots(slot)
  kOpLink = 0x0A,       // slots(src) slots(dst)
  kOpUnlink = 0x0B,     // slots(src) slots(dst)
  kOpCollect = 0x0C,    // sizes(generation)
  kOpTime = 0x0D,       // times(zigzag(ns - previous t of this frame))
  kOpMark = 0x0E,       // strs(label)
  kOpCountV1 = 0x0F,    // first invalid opcode of version 1
  // Version 2: two records in one opcode, for the commonest pairs (a third of
  // a Python-like trace's records): an allocation immediately followed by the
  // release of what it made. The pair needs no slot (it is the one assigned).
  kOpAllocFree = 0x0F,  // +Domain (0..3): `a` then `f` of that block; sizes(size) strs(type)
  kOpObjectDecref = 0x13,  // `o` then `-` of that object, which dies; sizes(size) strs(type)
  kOpCountV2 = 0x14,    // first invalid opcode of version 2
  // Version 3: which thread made the records that follow (a recorder's).
  kOpThread = 0x14,     // sizes(thread id)
  kOpCount = 0x15,      // first invalid opcode of version 3
};
inline constexpr uint8_t op_limit(uint32_t version) {
  return version == 1 ? kOpCountV1 : version == 2 ? kOpCountV2 : kOpCount;
}

// Streams in the order their lengths and bytes appear in a frame.
enum Stream : int { kOps, kSlots, kSizes, kStrs, kTimes, kStreams };
inline constexpr const char* kStreamNames[kStreams] = {"ops", "slots", "sizes", "strs", "times"};

// Encodes the events of one frame into its streams. Slots and strings are in
// file numbering: slots as the reader's Lifetimes will assign them, strings as
// ids of the file's string table (0 = none; new ones via add_string, numbered
// on from the strings of earlier frames). Callers are responsible for the
// events making sense; this only lays out bytes.
class FrameEncoder {
 public:
  explicit FrameEncoder(uint32_t version = kFormatVersion) : v1_(version == 1) {}

  // A string first used in this frame; it gets the next file string id.
  void add_string(std::string_view s) {
    ++new_strings_;
    put_varint(strings_, s.size());
    strings_.append(s);
  }
  // assigned: the slot the allocator gives this block.
  void alloc(Domain d, uint64_t size, uint32_t type, uint32_t assigned) {
    op(static_cast<uint8_t>(kOpAlloc + static_cast<uint8_t>(d)));
    put_varint(s_[kSizes], size);
    put_varint(s_[kStrs], type);
    allocated(assigned);
  }
  void object(uint64_t size, uint32_t type, uint32_t assigned) {
    op(kOpObject);
    put_varint(s_[kSizes], size);
    put_varint(s_[kStrs], type);
    allocated(assigned);
  }
  void free(uint32_t slot, bool gc) {
    if (fused(kOpAlloc, kOpAllocFree, slot, !gc)) return;
    op(gc ? kOpFreeGc : kOpFree);
    put_slot(slot);
  }
  void realloc(uint32_t slot, uint64_t size) {
    op(kOpRealloc);
    put_slot(slot);
    put_varint(s_[kSizes], size);
  }
  void incref(uint32_t slot) { op(kOpIncref); put_slot(slot); }
  // A decref right after the `o` of its object is that object's death (a new
  // object has no other reference), so it fuses.
  void decref(uint32_t slot) {
    if (fused(kOpObject, kOpObjectDecref, slot, true)) return;
    op(kOpDecref);
    put_slot(slot);
  }
  void link(uint32_t src, uint32_t dst) { op(kOpLink); put_slot(src); put_slot(dst); }
  void unlink(uint32_t src, uint32_t dst) { op(kOpUnlink); put_slot(src); put_slot(dst); }
  void collect(uint64_t generation) { op(kOpCollect); put_varint(s_[kSizes], generation); }
  void time(uint64_t ns) {
    op(kOpTime);
    put_varint(s_[kTimes], zigzag_encode(static_cast<int64_t>(ns - prev_time_)));
    prev_time_ = ns;
  }
  void mark(uint32_t label) { op(kOpMark); put_varint(s_[kStrs], label); }
  void thread(uint64_t tid) { op(kOpThread); put_varint(s_[kSizes], tid); }

  // Records in the frame (a fused opcode counts two).
  uint32_t events() const { return events_; }
  size_t string_bytes() const { return strings_.size(); }

  // Appends the frame's uncompressed content to out and starts a new frame:
  //   varint S, S x (varint length, bytes), kStreams x varint length, streams.
  void finish(std::string& out) {
    put_varint(out, new_strings_);
    out += strings_;
    for (const std::string& s : s_) put_varint(out, s.size());
    for (const std::string& s : s_) out += s;
    for (std::string& s : s_) s.clear();
    strings_.clear();
    new_strings_ = 0;
    events_ = 0;
    prev_slot_ = 0;
    prev_time_ = 0;
    fusable_ = false;
  }

 private:
  void op(uint8_t o) {
    s_[kOps].push_back(static_cast<char>(o));
    ++events_;
    fusable_ = false;
  }
  void allocated(uint32_t slot) {
    if (v1_) {
      prev_slot_ = slot;  // version 1: the slot base moves to an allocation's slot
    } else {
      fusable_ = true;
      assigned_ = slot;
    }
  }
  // Turns the allocation just written (an opcode from first to first + 3, or
  // first alone) into its fused form when slot is the one it was assigned.
  bool fused(uint8_t first, uint8_t fused_first, uint32_t slot, bool ok) {
    if (!fusable_ || !ok || slot != assigned_) return false;
    char& last = s_[kOps].back();
    const uint8_t o = static_cast<uint8_t>(last);
    if (o < first || o > first + (first == kOpAlloc ? 3 : 0)) return false;
    last = static_cast<char>(fused_first + (o - first));
    ++events_;
    fusable_ = false;
    return true;
  }
  // Slots are coded as the signed difference from the previous slot field of
  // the frame (version 1: the previous slot referenced or assigned).
  void put_slot(uint32_t slot) {
    put_varint(s_[kSlots], zigzag_encode(int64_t{slot} - int64_t{prev_slot_}));
    prev_slot_ = slot;
  }

  std::string s_[kStreams];
  std::string strings_;
  uint64_t new_strings_ = 0;
  uint32_t events_ = 0;
  uint32_t prev_slot_ = 0;
  uint64_t prev_time_ = 0;
  const bool v1_;         // version 1: no fused opcodes, allocations move the slot base
  bool fusable_ = false;  // the last opcode is an allocation that may fuse ...
  uint32_t assigned_ = 0; // ... with a release of this slot
};

using MetadataItems = std::vector<std::pair<std::string, std::string>>;

// Builds complete blocks, header included (defined in native_writer.cpp).
// Each call returns the bytes to write, valid until the next call.
class BlockEncoder {
 public:
  explicit BlockEncoder(int zstd_level);
  ~BlockEncoder();
  BlockEncoder(const BlockEncoder&) = delete;
  BlockEncoder& operator=(const BlockEncoder&) = delete;

  // Magic, version and the header block.
  const std::string& prologue(const MetadataItems& header, uint32_t version = kFormatVersion);
  // Compresses the frame's events into an 'E' block and resets frame.
  const std::string& events(FrameEncoder& frame);
  // An 'E' block of count events from ready frame content (tests craft odd ones).
  const std::string& events(uint32_t count, std::string_view content);
  const std::string& metadata(const MetadataItems& items);
  const std::string& end(uint64_t total_events);
  // Any block from a ready payload (tests use it to build odd files).
  const std::string& raw(BlockType type, uint32_t count, std::string_view payload);

 private:
  void* cctx_;  // ZSTD_CCtx, reused across frames
  int level_;
  std::string content_, compressed_, block_;
};

// CRC-32 with the zlib/IEEE polynomial (what zlib's crc32() computes).
uint32_t crc32_of(const void* data, size_t n);

// Decodes a metadata payload ('H', 'M') of count entries into out (later keys
// replace earlier values). False when the payload is malformed or out would
// pass kMaxMetadataEntries keys; out may then hold some of the entries.
// Defined in trace_metadata.cpp.
bool decode_metadata(const uint8_t* payload, size_t length, uint32_t count, Metadata& out);

}  // namespace heaplay::native
