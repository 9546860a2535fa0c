// native_reader.cpp: reads native traces (*.heaplay); layout in native_format.hpp.
//
// Blocks are read one at a time (memory: one frame, compressed and decoded,
// plus the Lifetimes state; nothing grows with the trace's length). Every
// length a file states is bounded before anything is allocated for it, every
// block header carries a CRC and every event frame zstd's content checksum, so
// damage is reported as an error at the block's byte offset. A file that
// simply stops (a crashed recording) is read up to its last complete block and
// reported as truncated there.
//
// Events are decoded straight into Lifetimes (its Fast entry points), which
// validates them, assigns the slots allocations do not store, fills in
// implicit fields and derives deaths, exactly as the text reader does.
#include <zstd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "traces/byte_source.hpp"
#include "traces/error.hpp"
#include "traces/formats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/native_decode.hpp"
#include "traces/native_format.hpp"

namespace heaplay::native {

namespace {

constexpr const char* kNothingReadable = "a file cut inside its header has nothing readable";

uint32_t get_u32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Sequential reads from the input, opened once, with the file offset kept
// alongside (counted from the input's first byte, whatever the source has
// already served to format detection: peek_source hands those bytes on).
class Input {
 public:
  explicit Input(std::unique_ptr<ByteSource> src) : src_(std::move(src)) {}
  // Reads up to n bytes; fewer only at the end of the file.
  size_t read(void* buf, size_t n) {
    char* p = static_cast<char*>(buf);
    size_t got = 0;
    while (got < n) {
      size_t r = src_->read(p + got, n - got);
      if (r == 0) break;
      got += r;
    }
    offset_ += got;
    return got;
  }
  uint64_t offset() const { return offset_; }

 private:
  std::unique_ptr<ByteSource> src_;
  uint64_t offset_ = 0;
};

// A reusable byte buffer that grows without zero-filling.
class Buffer {
 public:
  uint8_t* get(size_t n) {
    if (n > cap_) {
      cap_ = std::max(n, cap_ * 2);
      data_.reset(new uint8_t[cap_]);
    }
    return data_.get();
  }
  const uint8_t* data() const { return data_.get(); }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t cap_ = 0;
};

struct BlockHeader {
  uint8_t type = 0;
  uint32_t length = 0;  // payload bytes
  uint32_t count = 0;
  const uint8_t* payload = nullptr;
};

enum class BlockRead { Ok, Eof, Cut };

// One block as read and, for an event frame, decompressed: the part of
// reading that may run ahead of decoding, on a thread of its own.
struct Unpacked {
  uint64_t at = 0;  // file offset of the block
  BlockRead status = BlockRead::Eof;
  BlockHeader h;
  Buffer payload, content;    // content: an event frame's decompressed bytes
  uint64_t content_size = 0;  // bytes of content, before the read-ahead padding
  bool trailing_data = false; // End: bytes follow the end block
  std::exception_ptr error;   // reading failed at this block; nothing follows
};


// Slots are zigzag deltas from the previous one; unsigned arithmetic, so a
// hostile delta wraps (and is caught by the range check) instead of overflowing.
[[gnu::always_inline]] inline SlotId next_slot(const uint8_t*& p, uint64_t& prev, bool& bad) {
  uint64_t v = prev + static_cast<uint64_t>(zigzag_decode(next_varint(p, bad)));
  bad |= v > UINT32_MAX;
  prev = v;
  return SlotId{static_cast<uint32_t>(v)};
}

[[gnu::always_inline]] inline StringId next_string(const uint8_t*& p, const StringId* table, uint64_t n, bool& bad) {
  uint64_t id = next_varint(p, bad);
  bad |= id >= n;
  return table[id < n ? id : 0];
}

// A record as decoded, for messages about it.
Event record(EventKind kind, SlotId slot, uint64_t size = 0) {
  Event e;
  e.kind = kind;
  e.slot = slot;
  e.size = size;
  return e;
}

struct DctxDeleter {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// Blocks in file order, unpacked (read, checked, inflated) either inline or by
// a prefetch thread that runs up to kDepth - 1 blocks ahead of the decoder.
// Frames are independent zstd frames, so inflating the next ones while the
// current one is decoded only needs the ring below; the decoder then spends
// its core on decoding alone.
class BlockPipe {
 public:
  using Unpack = std::function<void(Unpacked&, uint64_t frame)>;
  BlockPipe(Unpack unpack, bool thread) : unpack_(std::move(unpack)) {
    if (thread) producer_ = std::thread([this] { produce(); });
  }
  ~BlockPipe() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    space_.notify_one();
    if (producer_.joinable()) producer_.join();
  }
  BlockPipe(const BlockPipe&) = delete;
  BlockPipe& operator=(const BlockPipe&) = delete;

  // The next block; valid until the next call. No block follows one that is
  // last() (an error, the end of the data, or the end block).
  Unpacked& next() {
    if (!producer_.joinable()) {
      Unpacked& u = ring_[0];
      unpack_(u, frames_);
      frames_ += is_frame(u);
      return u;
    }
    std::unique_lock lock(mu_);
    if (held_) {
      held_ = false;
      space_.notify_one();
    }
    ready_cv_.wait(lock, [this] { return ready_ > 0; });
    Unpacked& u = ring_[head_];
    head_ = (head_ + 1) % kDepth;
    --ready_;
    held_ = true;
    return u;
  }

 private:
  static constexpr size_t kDepth = 4;
  static bool is_frame(const Unpacked& u) {
    return !u.error && u.status == BlockRead::Ok && u.h.type == static_cast<uint8_t>(BlockType::Events);
  }
  static bool last(const Unpacked& u) {
    return u.error || u.status != BlockRead::Ok || u.h.type == static_cast<uint8_t>(BlockType::End);
  }
  void produce() {
    for (size_t tail = 0;; tail = (tail + 1) % kDepth) {
      {
        std::unique_lock lock(mu_);
        space_.wait(lock, [this] { return stop_ || ready_ + held_ < kDepth; });
        if (stop_) return;
      }
      Unpacked& u = ring_[tail];  // neither held by the decoder nor waiting for it
      unpack_(u, frames_);
      frames_ += is_frame(u);
      {
        std::lock_guard lock(mu_);
        ++ready_;
      }
      ready_cv_.notify_one();
      if (last(u)) return;
    }
  }

  Unpack unpack_;
  std::array<Unpacked, kDepth> ring_;
  uint64_t frames_ = 0;  // event frames unpacked (the producer's count)
  std::thread producer_;
  std::mutex mu_;
  std::condition_variable ready_cv_, space_;
  size_t head_ = 0, ready_ = 0;  // guarded by mu_
  bool held_ = false, stop_ = false;
};

class NativeReader final : public TraceReader {
 public:
  NativeReader(std::unique_ptr<ByteSource> source, const std::string& path, const ReadOptions& options)
      : options_(options), in_(std::make_unique<Input>(std::move(source))) {
    info_.path = input_name(path);
    info_.format = TraceFormat::Native;
    info_.strings = &strings_;
    if (is_regular_file(path)) reopen_ = path;
    read_prologue(*in_);
  }

  const TraceInfo& info() const override { return info_; }
  ReadSummary read(EventConsumer& consumer) override;

 private:
  [[noreturn]] void fail(uint64_t at, std::string_view what) const {
    throw Error(fmt::format("{}: byte {}: {}", info_.path, at, what));
  }
  void read_prologue(Input& in);
  BlockRead read_block(Input& in, uint64_t at, BlockHeader& h, Buffer& payload);
  // Reads the next block into u (and inflates an event frame, the frame-th);
  // never throws: a failure is stored in u.error. Runs on the prefetch thread
  // when there is one, so it touches nothing but in, u and dctx_.
  void unpack(Input& in, Unpacked& u, uint64_t frame);
  void inflate_frame(Unpacked& u, uint64_t frame);
  void read_metadata(uint64_t at, const BlockHeader& h);
  void read_end(const Unpacked& u);
  void decode_frame(const Unpacked& u, EventBatch& batch, ReadSummary& s);
  uint32_t decode_events(uint64_t at, uint64_t ops, const uint8_t* const* stream, EventBatch& batch,
                         ReadSummary& s);
  [[gnu::noinline]] uint32_t step(uint64_t at, Cursor& c, EventBatch& batch, ReadSummary& s);
  uint64_t record_of(const uint8_t* op);
  void decode_slots(const uint8_t* p, uint64_t bytes, uint64_t n);  // into slot_values_
  SlotId slot_field(Cursor& c, bool& bad) const;
  [[gnu::noinline, gnu::cold]] void problem(uint64_t at, uint64_t k, const Event& e, Anomaly a, ReadSummary& s);

  TraceInfo info_;
  ReadOptions options_;
  StringTable strings_;
  uint32_t version_ = 0;
  std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx_{ZSTD_createDCtx()};
  Buffer header_payload_;  // the header block's, read by the constructor
  // The input, past the header block, until the first read() takes it; a
  // second read() opens reopen_ again ("": it cannot, a pipe or standard input).
  std::unique_ptr<Input> in_;
  std::string reopen_;
  // Per read():
  std::unique_ptr<Lifetimes> lifetimes_;
  std::vector<StringId> file_strings_;  // file string id -> strings_ id
  std::vector<uint32_t> slot_values_;   // version 2: the frame's slot fields (decode_slots())
  uint64_t slot_valid_ = 0;             // ... of which the first slot_valid_ decoded fine
  const uint8_t* counted_ = nullptr;    // an opcode of the frame, for messages (record_of()) ...
  uint64_t counted_records_ = 0;        // ... and the records before it
  uint64_t frames_ = 0;                 // event frames decoded
  uint64_t records_ = 0;                // records decoded, dropped ones included
};

void NativeReader::read_prologue(Input& in) {
  unsigned char buf[kMagicBytes];
  size_t n = in.read(buf, kMagicBytes);
  if (n == 0) fail(0, fmt::format("file is empty ({})", kNothingReadable));
  if (std::memcmp(buf, kNativeMagic, n) != 0) fail(0, "not a heaplay native trace (bad magic)");
  if (n < kMagicBytes) fail(0, fmt::format("file ends inside the magic ({})", kNothingReadable));
  if (in.read(buf, 4) < 4)
    fail(kVersionOffset, fmt::format("file ends inside the format version ({})", kNothingReadable));
  uint32_t version = get_u32(buf);
  // Every version this build reads gets its own branch here (and in read()).
  if (version == 0) fail(kVersionOffset, "format version 0 is not valid");
  if (version > kFormatVersion)
    fail(kVersionOffset,
         fmt::format("format version {} is newer than this heaplay reads ({})", version, kFormatVersion));
  version_ = version;
  info_.format_version = version;

  BlockHeader h;
  if (read_block(in, kFirstBlockOffset, h, header_payload_) != BlockRead::Ok)
    fail(kFirstBlockOffset, fmt::format("file ends inside the header block ({})", kNothingReadable));
  if (h.type != static_cast<uint8_t>(BlockType::Header))
    fail(kFirstBlockOffset, fmt::format("expected the header block, found block type 0x{:02x}", h.type));
  info_.metadata = Metadata();
  read_metadata(kFirstBlockOffset, h);
}

BlockRead NativeReader::read_block(Input& in, uint64_t at, BlockHeader& h, Buffer& payload) {
  unsigned char hb[kBlockHeaderBytes];
  size_t n = in.read(hb, sizeof hb);
  if (n == 0) return BlockRead::Eof;
  if (n < sizeof hb) return BlockRead::Cut;
  if (crc32_of(hb, 16) != get_u32(hb + 16)) fail(at, "block header checksum mismatch (corrupt file)");
  h.type = hb[0];
  h.length = get_u32(hb + 4);
  h.count = get_u32(hb + 8);
  uint32_t payload_crc = get_u32(hb + 12);
  switch (static_cast<BlockType>(h.type)) {
    case BlockType::Header:
    case BlockType::Events:
    case BlockType::Metadata:
    case BlockType::End:
      break;
    default:
      fail(at, fmt::format("unknown block type 0x{:02x}", h.type));
  }
  if (hb[1] != 0 || hb[2] != 0 || hb[3] != 0)
    fail(at, fmt::format("block flags 0x{:02x}{:02x}{:02x} are not zero", hb[1], hb[2], hb[3]));
  if (h.length > kMaxPayloadBytes)
    fail(at, fmt::format("block payload of {} bytes is larger than the limit of {}", h.length, kMaxPayloadBytes));
  uint8_t* p = payload.get(h.length);
  if (in.read(p, h.length) < h.length) return BlockRead::Cut;
  h.payload = p;
  if (h.type != static_cast<uint8_t>(BlockType::Events) && crc32_of(p, h.length) != payload_crc)
    fail(at, "block payload checksum mismatch (corrupt file)");
  return BlockRead::Ok;
}

// count x (varint key length, key, varint value length, value); later keys
// replace earlier values (Metadata::set).
void NativeReader::read_metadata(uint64_t at, const BlockHeader& h) {
  if (h.count > h.length / 2 || h.count > kMaxMetadataEntries)
    fail(at, fmt::format("metadata block claims {} entries in {} bytes", h.count, h.length));
  if (!decode_metadata(h.payload, h.length, h.count, info_.metadata)) {
    if (info_.metadata.items().size() > kMaxMetadataEntries)
      fail(at, fmt::format("more than {} metadata keys", kMaxMetadataEntries));
    fail(at, "malformed metadata block");
  }
}

void NativeReader::read_end(const Unpacked& u) {
  const BlockHeader& h = u.h;
  uint64_t at = u.at;
  if (h.length != 8 || h.count != 0) fail(at, "malformed end block");
  uint64_t total = uint64_t{get_u32(h.payload)} | uint64_t{get_u32(h.payload + 4)} << 32;
  if (total != records_)
    fail(at, fmt::format("the end block counts {} events but the file holds {}", total, records_));
  if (u.trailing_data) fail(at + kBlockHeaderBytes + 8, "data after the end block");
}

void NativeReader::unpack(Input& in, Unpacked& u, uint64_t frame) {
  u.error = nullptr;
  u.trailing_data = false;
  u.at = in.offset();
  try {
    u.status = read_block(in, u.at, u.h, u.payload);
    if (u.status != BlockRead::Ok) return;
    if (u.h.type == static_cast<uint8_t>(BlockType::Events)) {
      // Versions 1 to 3 wrap frames alike (a later version with other
      // framing gets a branch of its own here).
      if (version_ >= 1 && version_ <= 3) inflate_frame(u, frame);
      else fail(u.at, fmt::format("no event decoder for format version {}", version_));
    } else if (u.h.type == static_cast<uint8_t>(BlockType::End)) {
      char c;
      u.trailing_data = in.read(&c, 1) != 0;
    }
  } catch (...) {
    u.error = std::current_exception();
  }
}

ReadSummary NativeReader::read(EventConsumer& consumer) {
  // Each read() starts from the top: the string table is kept (re-interning
  // the same strings yields the same ids), everything else starts afresh.
  // The first one goes on from the constructor's header; later ones open
  // the file again.
  if (!in_) {
    if (reopen_.empty())
      throw Error(fmt::format("{}: read a second time, but a pipe or standard input can be read only once",
                              info_.path));
    in_ = std::make_unique<Input>(open_input_source(reopen_));
    read_prologue(*in_);
  }
  const std::unique_ptr<Input> taken = std::move(in_);
  Input& in = *taken;
  lifetimes_ = std::make_unique<Lifetimes>();
  file_strings_.assign(1, kNoString);
  frames_ = records_ = 0;

  ReadSummary s;
  EventBatch batch(consumer, options_.batch_events);
  consumer.begin(info_);
  // Destroyed (its thread joined) before in, which it reads.
  BlockPipe blocks([&](Unpacked& u, uint64_t frame) { unpack(in, u, frame); }, options_.prefetch);
  for (bool complete = false; !complete;) {
    const Unpacked& u = blocks.next();
    if (u.error) std::rethrow_exception(u.error);
    if (u.status != BlockRead::Ok) {
      s.truncated = true;
      s.truncated_at = u.at;
      break;
    }
    switch (static_cast<BlockType>(u.h.type)) {
      case BlockType::Events:
        decode_frame(u, batch, s);
        ++frames_;
        break;
      case BlockType::Metadata:
        read_metadata(u.at, u.h);
        break;
      case BlockType::End:
        read_end(u);
        complete = true;
        break;
      case BlockType::Header:
        fail(u.at, "a second header block");
    }
  }
  batch.flush();
  if (s.truncated)
    spdlog::warn("{}: byte {}: file is truncated (no end block); read {} events from {} complete frames",
                 info_.path, s.truncated_at, s.events, frames_);
  if (options_.lenient && s.anomalies.total() > options_.max_warnings)
    spdlog::warn("{}: {} invalid events dropped in all ({} not shown)", info_.path, s.anomalies.total(),
                 s.anomalies.total() - options_.max_warnings);
  consumer.end(info_, s);
  return s;
}

void NativeReader::problem(uint64_t at, uint64_t k, const Event& e, Anomaly a, ReadSummary& s) {
  std::string what;
  switch (e.kind) {
    case EventKind::Alloc:
    case EventKind::Object: what = fmt::format("{} of {} bytes", kind_name(e.kind), e.size); break;
    case EventKind::Link:
    case EventKind::Unlink:
      what = fmt::format("{} slot {} -> slot {}", kind_name(e.kind), e.slot.value, e.dst.value);
      break;
    case EventKind::Collect:
    case EventKind::Time: what = fmt::format("{} {}", kind_name(e.kind), e.size); break;
    default: what = fmt::format("{} of slot {}", kind_name(e.kind), e.slot.value); break;
  }
  std::string msg = fmt::format("{}: byte {}: event {} of frame {}: {}: {}", info_.path, at, k, frames_,
                                anomaly_name(a), what);
  if (!options_.lenient) throw Error(msg);
  s.anomalies.add(a);
  if (s.anomalies.total() <= options_.max_warnings) spdlog::warn("{} (dropped)", msg);
}

void NativeReader::inflate_frame(Unpacked& u, uint64_t frame) {
  const BlockHeader& h = u.h;
  uint64_t at = u.at;
  auto frame_fail = [&](std::string_view what) {
    fail(at, fmt::format("corrupt event frame {}: {}", frame, what));
  };
  if (h.count > kMaxFrameEvents)
    fail(at, fmt::format("event frame of {} events is more than the limit of {}", h.count, kMaxFrameEvents));

  // The zstd frame: exactly one, with its content size and checksum recorded.
  const uint8_t* zp = h.payload;
  size_t zn = h.length;
  unsigned long long size = ZSTD_getFrameContentSize(zp, zn);
  if (size == ZSTD_CONTENTSIZE_ERROR) frame_fail("not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) frame_fail("zstd frame without a content size");
  if (size > max_frame_content(h.count))
    frame_fail(fmt::format("{} bytes of content for {} events", size, h.count));
  size_t whole = ZSTD_findFrameCompressedSize(zp, zn);
  if (ZSTD_isError(whole) || whole != zn) frame_fail("payload is not exactly one zstd frame");
  if (!(zp[4] & 0x04)) frame_fail("zstd frame without a content checksum");  // Frame_Header_Descriptor bit 2
  uint8_t* content = u.content.get(size + kVarintReadAhead);  // see next_varint()
  std::memset(content + size, 0, kVarintReadAhead);           // read, never used: defined anyway
  size_t got = ZSTD_decompressDCtx(dctx_.get(), content, size, zp, zn);
  if (ZSTD_isError(got)) frame_fail(ZSTD_getErrorName(got));
  if (got != size) frame_fail("content shorter than its recorded size");
  u.content_size = size;
}

// One frame's content. Versions 1 to 3 differ only in their opcodes:
// version 2 adds the fused ones (op_limit()), whose two records make the
// frame's record count larger than its opcode count (a version 1 frame has
// exactly one opcode a record); version 3 adds the thread record. Everything
// else is shared.
void NativeReader::decode_frame(const Unpacked& u, EventBatch& batch, ReadSummary& s) {
  const BlockHeader& h = u.h;
  uint64_t at = u.at;
  auto frame_fail = [&](std::string_view what) {
    fail(at, fmt::format("corrupt event frame {}: {}", frames_, what));
  };
  const uint8_t* content = u.content.data();
  const uint64_t size = u.content_size;

  // Strings first used in this frame, then the stream lengths.
  VarintReader r(content, content + size);
  uint64_t new_strings = r.get();
  if (new_strings > h.count) frame_fail(fmt::format("{} new strings for {} events", new_strings, h.count));
  for (uint64_t i = 0; i < new_strings; ++i) {
    uint64_t len = r.get();
    const uint8_t* text = nullptr;
    if (len > StringTable::kMaxStringBytes) frame_fail(fmt::format("string of {} bytes", len));
    if (!r.bytes(len, &text)) break;
    try {
      file_strings_.push_back(strings_.intern(std::string_view(reinterpret_cast<const char*>(text), len)));
    } catch (const Error& e) {
      fail(at, e.what());
    }
  }
  uint64_t lens[kStreams];
  for (uint64_t& len : lens) len = r.get();
  if (!r.ok()) frame_fail("malformed string section");
  size_t left = r.remaining();
  uint64_t total = 0;
  for (uint64_t len : lens) total += len <= left ? len : left + 1;  // no overflow: each term <= left + 1
  const uint64_t nops = lens[kOps];
  if (total != left || nops > h.count || (version_ == 1 && nops != h.count))
    frame_fail("stream lengths do not add up");
  const uint8_t* stream[kStreams];
  stream[0] = content + r.consumed();
  for (int i = 1; i < kStreams; ++i) stream[i] = stream[i - 1] + lens[i - 1];
  const uint8_t* ops = stream[kOps];

  // Check the whole frame's shape before decoding any of it: every opcode is
  // known, they make the frame's count of records, and each varint stream
  // holds exactly as many varints as the opcodes take from it and ends with
  // a complete one. Then the hot loop can read varints with no bounds checks
  // and never stray out of a stream.
  // An opcode histogram (four interleaved ones, so that a run of one opcode
  // does not chain each count on the one before), then the shapes summed
  // over it: a load and a store an opcode, no table of shapes.
  uint32_t hist[4][256] = {};
  uint64_t k = 0;
  for (; k + 4 <= nops; k += 4) {
    ++hist[0][ops[k]];
    ++hist[1][ops[k + 1]];
    ++hist[2][ops[k + 2]];
    ++hist[3][ops[k + 3]];
  }
  for (; k < nops; ++k) ++hist[0][ops[k]];
  uint64_t need[kStreams] = {nops, 0, 0, 0, 0}, records = 0, unknown = 0;
  for (unsigned op = 0; op < 256; ++op) {
    const uint64_t n = uint64_t{hist[0][op]} + hist[1][op] + hist[2][op] + hist[3][op];
    if (op >= op_limit(version_)) {
      unknown += n;
      continue;
    }
    const OpShape x = op_shape(static_cast<uint8_t>(op));
    need[kSlots] += n * x.slots;
    need[kSizes] += n * x.sizes;
    need[kStrs] += n * x.strs;
    need[kTimes] += n * x.times;
    records += n * x.records;
  }
  if (unknown != 0) {
    uint64_t j = 0, extra = 0;
    for (; ops[j] < op_limit(version_); ++j) extra += op_shape(ops[j]).records - 1u;
    frame_fail(fmt::format("event {}: unknown opcode 0x{:02x}", j + extra, ops[j]));
  }
  if (records != h.count)
    frame_fail(fmt::format("stream lengths do not add up: {} opcodes make {} records, the frame counts {}", nops,
                           records, h.count));
  for (int i = 1; i < kStreams; ++i) {
    const uint8_t* p = stream[i];
    const uint64_t ends = varint_ends(p, lens[i]);
    if (ends != need[i] || (lens[i] && p[lens[i] - 1] >= 0x80))
      frame_fail(fmt::format("the {} stream holds {} values where its events need {}", kStreamNames[i], ends,
                             need[i]));
  }

  if (version_ != 1) decode_slots(stream[kSlots], lens[kSlots], need[kSlots]);
  const uint64_t deaths_before = lifetimes_->deaths();
  const uint32_t dropped = decode_events(at, nops, stream, batch, s);
  records_ += h.count;
  s.events += h.count - dropped;
  s.deaths += lifetimes_->deaths() - deaths_before;
}

// Decodes and applies a frame's opcodes; returns the number of records
// dropped (lenient). The hot loop takes what it can; whatever stops it goes
// through run_graph() if it is a common l, u or small cascade (version 2),
// else through step() (a rare kind, a new slot, a long varint, a nearly full
// batch, an anomaly or damage), one opcode, and the hot loop carries on after it.
uint32_t NativeReader::decode_events(uint64_t at, uint64_t nops, const uint8_t* const* stream, EventBatch& batch,
                                     ReadSummary& s) {
  const uint8_t* const end = stream[kOps] + nops;
  Cursor c{stream[kOps], stream[kSlots], slot_values_.data(), stream[kSizes], stream[kStrs], stream[kTimes]};
  counted_ = c.op;
  counted_records_ = 0;
  uint32_t dropped = 0;
  for (;;) {
    if (version_ == 1) run_hot_v1(c, end, *lifetimes_, batch, file_strings_.data(), file_strings_.size());
    else run_hot_v2(c, end, *lifetimes_, batch, file_strings_.data(), file_strings_.size());
    if (c.op == end) break;
    if (version_ != 1 && run_graph(c, *lifetimes_, batch)) continue;
    dropped += step(at, c, batch, s);
  }
  return dropped;
}

// Version 2's slot fields, all of the frame's decoded ahead of its events
// (decode_slot_fields()), with kSlotPadding more for the hot loop's
// prefetching. Fields from the first that did not decode on read kBadSlot;
// step() reports the damage when it reaches it, so events before it are
// delivered as with version 1.
void NativeReader::decode_slots(const uint8_t* p, uint64_t bytes, uint64_t n) {
  slot_values_.resize(n + kSlotPadding);
  slot_valid_ = decode_slot_fields(p, bytes, n, slot_values_.data());
}

// The next slot field; bad is set when it did not decode.
SlotId NativeReader::slot_field(Cursor& c, bool& bad) const {
  if (version_ == 1) return next_slot(c.slots, c.prev_slot, bad);
  bad |= static_cast<uint64_t>(c.slot - slot_values_.data()) >= slot_valid_;
  return SlotId{*c.slot++};
}

// The index in its frame of the (first) record of opcode op; op only moves
// forward within a frame, so counting costs nothing until a message needs it.
uint64_t NativeReader::record_of(const uint8_t* op) {
  for (; counted_ < op; ++counted_) counted_records_ += op_shape(*counted_).records;
  return counted_records_;
}

// One opcode at c.op, of any kind, with every check. Returns the number of
// records dropped (lenient).
// Range problems set bad, which is checked before the record reaches Lifetimes.
uint32_t NativeReader::step(uint64_t at, Cursor& c, EventBatch& batch, ReadSummary& s) {
  const StringId* fstr = file_strings_.data();
  const uint64_t nstr = file_strings_.size();
  const uint8_t* const here = c.op;
  const uint8_t op = *c.op++;
  auto k = [&] { return record_of(here); };
  bool bad = false;
  Lifetimes::Fast lt(*lifetimes_, batch);
  Anomaly a;
  Event e;  // the record, for the rare kinds (and messages)
  switch (op) {
    case kOpAlloc + 0:
    case kOpAlloc + 1:
    case kOpAlloc + 2:
    case kOpAlloc + 3:
    case kOpObject:
    case kOpAllocFree + 0:
    case kOpAllocFree + 1:
    case kOpAllocFree + 2:
    case kOpAllocFree + 3:
    case kOpObjectDecref: {
      const bool object = op == kOpObject || op == kOpObjectDecref;
      const bool fused = op >= kOpAllocFree;
      const EventKind kind = object ? EventKind::Object : EventKind::Alloc;
      const uint64_t size = next_varint(c.sizes, bad);
      const StringId type = next_string(c.strs, fstr, nstr, bad);
      if (bad) [[unlikely]] break;
      SlotId slot;
      a = lt.allocate(kind, object ? Domain::Obj : static_cast<Domain>(op - (fused ? kOpAllocFree : kOpAlloc)),
                      size, type, slot);
      if (a != Anomaly::None) {
        // Dropped; so is the release a fused opcode pairs with it: there is
        // nothing to release.
        problem(at, k(), record(kind, SlotId{}, size), a, s);
        if (fused) problem(at, k() + 1, record(object ? EventKind::Decref : EventKind::Free, SlotId{}),
                           Anomaly::UnknownId, s);
        return fused ? 2 : 1;
      }
      if (version_ == 1) c.prev_slot = slot.value;  // version 2: allocations leave the base
      if (!fused) return 0;
      // Cannot fail on a slot just made; checked all the same.
      a = object ? lt.decref(slot) : lt.free(slot, 0);
      if (a == Anomaly::None) return 0;
      problem(at, k() + 1, record(object ? EventKind::Decref : EventKind::Free, slot), a, s);
      return 1;
    }
    case kOpFree:
    case kOpFreeGc: {
      const SlotId slot = slot_field(c, bad);
      if (bad) [[unlikely]] break;
      a = lt.free(slot, op == kOpFreeGc ? kFlagGc : 0);
      if (a == Anomaly::None) return 0;
      e = record(EventKind::Free, slot);
      goto invalid;
    }
    case kOpIncref:
    case kOpDecref: {
      const SlotId slot = slot_field(c, bad);
      if (bad) [[unlikely]] break;
      a = op == kOpIncref ? lt.incref(slot) : lt.decref(slot);
      if (a == Anomaly::None) return 0;
      e = record(op == kOpIncref ? EventKind::Incref : EventKind::Decref, slot);
      goto invalid;
    }
    case kOpRealloc:
      e.kind = EventKind::Realloc;
      e.slot = slot_field(c, bad);
      e.size = next_varint(c.sizes, bad);
      break;
    case kOpLink:
    case kOpUnlink:
      e.kind = op == kOpLink ? EventKind::Link : EventKind::Unlink;
      e.slot = slot_field(c, bad);
      e.dst = slot_field(c, bad);
      break;
    case kOpCollect:
      e.kind = EventKind::Collect;
      e.size = next_varint(c.sizes, bad);
      break;
    case kOpTime:
      e.kind = EventKind::Time;
      e.size = c.prev_time + static_cast<uint64_t>(zigzag_decode(next_varint(c.times, bad)));
      c.prev_time = e.size;
      break;
    case kOpMark:
      e.kind = EventKind::Mark;
      e.str = next_string(c.strs, fstr, nstr, bad);
      break;
    case kOpThread:
      e.kind = EventKind::Thread;
      e.size = next_varint(c.sizes, bad);
      break;
    default:
      __builtin_unreachable();  // every opcode was checked against op_limit()
  }
  if (bad) [[unlikely]]
    fail(at, fmt::format("corrupt event frame {}: event {}: a varint is overlong, or a slot or string id out of range",
                         frames_, k()));
  a = lt.other(e);
  if (a == Anomaly::None) return 0;
invalid:
  problem(at, k(), e, a, s);
  return 1;
}

}  // namespace

}  // namespace heaplay::native

namespace heaplay {

std::unique_ptr<TraceReader> open_native_trace(std::unique_ptr<ByteSource> source, const std::string& path,
                                               const ReadOptions& options) {
  return std::make_unique<native::NativeReader>(std::move(source), path, options);
}

std::unique_ptr<TraceReader> open_native_trace(const std::string& path, const ReadOptions& options) {
  return open_native_trace(open_input_source(path), path, options);
}

}  // namespace heaplay
