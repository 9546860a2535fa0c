// native_writer.cpp: writes native traces (*.heaplay); layout in native_format.hpp.
//
// The writer is an EventConsumer fed by any reader. Allocation records carry
// no slot in the file because the reader's Lifetimes assigns them; so the
// writer runs a Lifetimes of its own over the incoming records (ignoring the
// source's Death events, which its own instance derives at the same points)
// and maps the source's slots to its own. The file therefore decodes to the
// same stream whatever numbering the source used. Strings are renumbered in
// order of first use and travel in the frame that first uses them.
//
// Output goes through AtomicFile: nothing appears at the destination until
// commit(), which needs end() first (end() writes the last frame, a trailing
// metadata block for metadata that changed since begin(), and the end block).
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_c_literalCompressionMode
#include <zstd.h>

#include <algorithm>

#include <fmt/format.h>

#include "traces/atomic_file.hpp"
#include "traces/error.hpp"
#include "traces/formats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/native_format.hpp"

namespace heaplay::native {

namespace {

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

void append_block(std::string& out, BlockType type, uint32_t count, std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes)
    throw Error(fmt::format("native block of {} bytes is larger than the limit of {}", payload.size(),
                            kMaxPayloadBytes),
                kExitFailure);
  size_t at = out.size();
  out.push_back(static_cast<char>(type));
  out.push_back(0);  // flags
  out.push_back(0);  // reserved (u16)
  out.push_back(0);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, count);
  put_u32(out, type == BlockType::Events ? 0 : crc32_of(payload.data(), payload.size()));
  put_u32(out, crc32_of(out.data() + at, 16));
  out.append(payload);
}

// count x (varint key length, key, varint value length, value).
std::string encode_metadata(const MetadataItems& items) {
  if (items.size() > kMaxMetadataEntries)
    throw Error(fmt::format("{} metadata entries are more than the native format's limit of {}", items.size(),
                            kMaxMetadataEntries));
  std::string payload;
  for (const auto& [key, value] : items) {
    put_varint(payload, key.size());
    payload += key;
    put_varint(payload, value.size());
    payload += value;
  }
  return payload;
}

}  // namespace

uint32_t crc32_of(const void* data, size_t n) {
  return static_cast<uint32_t>(crc32_z(crc32(0L, Z_NULL, 0), static_cast<const Bytef*>(data), n));
}

BlockEncoder::BlockEncoder(int zstd_level) : cctx_(ZSTD_createCCtx()), level_(zstd_level) {
  if (!cctx_) throw Error("cannot create a zstd compressor", kExitFailure);
  auto* cctx = static_cast<ZSTD_CCtx*>(cctx_);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level_);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);     // readers require it
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);  // readers bound it before allocating
  // Literals stored as they are, not Huffman-coded: the streams' bytes are
  // mostly literals, and Huffman decoding was half of a frame's inflation
  // time, for about 10% of the file's size (docs/performance.md). An
  // experimental zstd parameter: a library without it keeps Huffman coding,
  // and the frames are valid either way.
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_disable);
  // Matches of 6 bytes or more only: fewer, longer sequences inflate faster
  // (decode about 1.1x on a Python-like trace) for about 19% more bytes at level 3
  // (1.96 -> 2.32 bytes an event; docs/performance.md).
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 6);
}

BlockEncoder::~BlockEncoder() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

const std::string& BlockEncoder::prologue(const MetadataItems& header, uint32_t version) {
  block_.assign(kNativeMagic, sizeof kNativeMagic);
  put_u32(block_, version);
  append_block(block_, BlockType::Header, static_cast<uint32_t>(header.size()), encode_metadata(header));
  return block_;
}

const std::string& BlockEncoder::events(FrameEncoder& frame) {
  uint32_t count = frame.events();
  content_.clear();
  frame.finish(content_);
  return events(count, content_);
}

const std::string& BlockEncoder::events(uint32_t count, std::string_view content) {
  compressed_.resize(ZSTD_compressBound(content.size()));
  size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data(), compressed_.size(),
                            content.data(), content.size());
  if (ZSTD_isError(n))
    throw Error(fmt::format("zstd compression failed: {}", ZSTD_getErrorName(n)), kExitFailure);
  compressed_.resize(n);
  block_.clear();
  append_block(block_, BlockType::Events, count, compressed_);
  return block_;
}

const std::string& BlockEncoder::metadata(const MetadataItems& items) {
  block_.clear();
  append_block(block_, BlockType::Metadata, static_cast<uint32_t>(items.size()), encode_metadata(items));
  return block_;
}

const std::string& BlockEncoder::end(uint64_t total_events) {
  std::string payload;
  put_u64(payload, total_events);
  block_.clear();
  append_block(block_, BlockType::End, 0, payload);
  return block_;
}

const std::string& BlockEncoder::raw(BlockType type, uint32_t count, std::string_view payload) {
  block_.clear();
  append_block(block_, type, count, payload);
  return block_;
}

namespace {

// Swallows the events the writer's own Lifetimes pushes (it only needs the state).
class NullConsumer final : public EventConsumer {
 public:
  void events(std::span<const Event>) override {}
};

class NativeWriter final : public TraceWriter {
 public:
  NativeWriter(const std::string& path, const WriteOptions& options)
      : file_(path, options.in_place ? AtomicFile::InPlace : AtomicFile::Atomic),
        version_(options.native_version ? options.native_version : kFormatVersion),
        blocks_(options.zstd_level),
        frame_events_(std::clamp<uint32_t>(options.frame_events, 1, kMaxFrameEvents)),
        frame_(version_),
        sink_batch_(sink_, 4096),
        trusted_(options.trusted_slots) {
    if (version_ < kOldestFormatVersion || version_ > kFormatVersion)
      throw Error(fmt::format("{}: cannot write native format version {} (this heaplay writes {} to {})", path,
                              version_, kOldestFormatVersion, kFormatVersion),
                  kExitFailure);
  }

  void begin(const TraceInfo& info) override {
    if (began_) throw Error(fmt::format("{}: native writer began twice", file_.path()), kExitFailure);
    began_ = true;
    strings_ = info.strings;
    header_ = info.metadata.items();
    file_.write(blocks_.prologue(header_, version_));
  }

  void events(std::span<const Event> batch) override {
    if (!began_ || ended_)
      throw Error(fmt::format("{}: events outside begin()/end()", file_.path()), kExitFailure);
    for (const Event& e : batch) {
      if (e.kind == EventKind::Death) continue;  // derived again by every reader
      write_event(e);
      if (frame_.events() >= frame_events_ || frame_.string_bytes() >= kFrameStringFlush) flush_frame();
    }
  }

  void end(const TraceInfo& info, const ReadSummary&) override {
    if (!began_ || ended_) throw Error(fmt::format("{}: end() without begin()", file_.path()), kExitFailure);
    flush_frame();
    // Metadata the source learnt while reading (new keys, changed values).
    MetadataItems trailer;
    for (const auto& kv : info.metadata.items())
      if (std::find(header_.begin(), header_.end(), kv) == header_.end()) trailer.push_back(kv);
    if (!trailer.empty()) file_.write(blocks_.metadata(trailer));
    file_.write(blocks_.end(written_));
    ended_ = true;
  }

  void flush() override {
    if (began_ && !ended_) flush_frame();
  }

  void commit() override {
    if (!ended_) throw Error(fmt::format("{}: commit() before end()", file_.path()), kExitFailure);
    file_.commit();
  }

 private:
  void flush_frame() {
    if (frame_.events() == 0) return;
    file_.write(blocks_.events(frame_));
  }

  [[noreturn]] void fail(const Event& e, Anomaly a) const {
    throw Error(fmt::format("{}: cannot write event {} ({}): {}", file_.path(), written_, kind_name(e.kind),
                            anomaly_name(a)));
  }

  // The source's slot s in the writer's numbering.
  uint32_t own_slot(SlotId s, const Event& e) const {
    if (s.value >= slot_map_.size()) fail(e, Anomaly::UnknownId);
    return slot_map_[s.value];
  }

  // The file's id for the source's string id (assigned on first use).
  uint32_t file_string(StringId id) {
    if (id == kNoString) return 0;
    if (!strings_ || id.value >= strings_->size())
      throw Error(fmt::format("{}: event {} names string {} the source never defined", file_.path(), written_,
                              id.value));
    if (id.value >= string_map_.size()) string_map_.resize(size_t{id.value} + 1, 0);
    uint32_t& f = string_map_[id.value];
    if (f == 0) {
      std::string_view s = strings_->at(id);
      if (s.empty()) return 0;
      f = ++file_strings_;
      frame_.add_string(s);
    }
    return f;
  }

  // Encodes e (a record from the source), checked first against the writer's
  // own Lifetimes and its slots mapped to the writer's unless trusted.
  void write_event(const Event& e) {
    uint32_t slot = e.slot.value, dst = e.dst.value;
    if (!trusted_) check(e, slot, dst);
    encode(e, slot, dst);
    ++written_;
  }

  // Applies e to the writer's Lifetimes (throwing if it breaks the stream
  // rules); slot and dst become the writer's own numbers for e's.
  void check(const Event& e, uint32_t& slot, uint32_t& dst) {
    Event x;
    x.kind = e.kind;
    switch (e.kind) {
      case EventKind::Alloc:
      case EventKind::Object:
        x.domain = e.domain;
        x.size = e.size;
        x.str = e.str;
        if (Anomaly a = own_.apply(x, sink_batch_); a != Anomaly::None) fail(e, a);
        if (e.slot.value >= slot_map_.size()) slot_map_.resize(size_t{e.slot.value} + 1, 0);
        slot_map_[e.slot.value] = x.slot.value;
        slot = x.slot.value;
        return;
      case EventKind::Free:
      case EventKind::Realloc:
      case EventKind::Incref:
      case EventKind::Decref:
        // The slot and flag as mapped here, not as apply() hands x back: the
        // record names the slot it was given, whatever apply() fills in.
        slot = own_slot(e.slot, e);
        x.slot = SlotId{slot};
        x.size = e.size;
        x.flags = e.flags & kFlagGc;
        if (Anomaly a = own_.apply(x, sink_batch_); a != Anomaly::None) fail(e, a);
        return;
      case EventKind::Link:
      case EventKind::Unlink:
        slot = own_slot(e.slot, e);
        dst = own_slot(e.dst, e);
        x.slot = SlotId{slot};
        x.dst = SlotId{dst};
        if (Anomaly a = own_.apply(x, sink_batch_); a != Anomaly::None) fail(e, a);
        return;
      case EventKind::Collect:
      case EventKind::Time:
        x.size = e.size;
        if (Anomaly a = own_.apply(x, sink_batch_); a != Anomaly::None) fail(e, a);
        return;
      default:
        return;
    }
  }

  // Puts e into the frame, naming its block or object slot (and dst).
  void encode(const Event& e, uint32_t slot, uint32_t dst) {
    const bool gc = (e.flags & kFlagGc) != 0;
    switch (e.kind) {
      case EventKind::Alloc: frame_.alloc(e.domain, e.size, file_string(e.str), slot); break;
      case EventKind::Object: frame_.object(e.size, file_string(e.str), slot); break;
      case EventKind::Free: frame_.free(slot, gc); break;
      case EventKind::Realloc: frame_.realloc(slot, e.size); break;
      case EventKind::Incref: frame_.incref(slot); break;
      case EventKind::Decref: frame_.decref(slot); break;
      case EventKind::Link: frame_.link(slot, dst); break;
      case EventKind::Unlink: frame_.unlink(slot, dst); break;
      case EventKind::Collect: frame_.collect(e.size); break;
      case EventKind::Time: frame_.time(e.size); break;
      case EventKind::Mark: frame_.mark(file_string(e.str)); break;
      case EventKind::Thread:
        if (version_ < 3) throw Error(fmt::format("{}: native format version {} has no thread records (T); version 3 has", file_.path(), version_), kExitFailure);
        frame_.thread(e.size);
        break;
      case EventKind::Death: break;
    }
  }

  AtomicFile file_;
  uint32_t version_;
  BlockEncoder blocks_;
  uint32_t frame_events_;
  FrameEncoder frame_;
  NullConsumer sink_;
  EventBatch sink_batch_;
  Lifetimes own_;
  std::vector<uint32_t> slot_map_;    // source slot -> own slot
  std::vector<uint32_t> string_map_;  // source string id -> file string id (0: not yet)
  uint32_t file_strings_ = 0;         // file string ids handed out (the empty string is 0)
  const StringTable* strings_ = nullptr;
  MetadataItems header_;
  uint64_t written_ = 0;
  bool began_ = false, ended_ = false;
  bool trusted_ = false;  // WriteOptions::trusted_slots
};

}  // namespace
}  // namespace heaplay::native

namespace heaplay {

std::unique_ptr<TraceWriter> make_native_writer(const std::string& path, const WriteOptions& options) {
  return std::make_unique<native::NativeWriter>(path, options);
}

}  // namespace heaplay
