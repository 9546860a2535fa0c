// record_stream.cpp: see record_stream.hpp.
#include "traces/record_stream.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <cstddef>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "traces/error.hpp"

namespace heaplay {

namespace w = record_wire;

namespace {

// "libfoo.so.6!func(int)+0x12", or "prog+0x1a2b" for an address no symbol covers.
std::string site_tag(std::string_view module, std::string_view symbol, bool has_symbol, uint64_t offset) {
  std::string_view base = module.substr(module.find_last_of('/') + 1);
  if (base.empty()) base = "?";
  if (!has_symbol || symbol.empty()) return fmt::format("{}+{:#x}", base, offset);
  std::string name(symbol);
  int status = 0;
  if (char* d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status)) {
    if (status == 0) name = d;
    std::free(d);
  }
  return fmt::format("{}!{}+{:#x}", base, name, offset);
}

// Grows in place; PointerRecorder's slots follow the rule and its events are
// valid by construction (record_stream_test reads every file back strictly).
std::unique_ptr<TraceWriter> in_place_writer(const std::string& path, WriteOptions o) {
  o.in_place = true;
  o.trusted_slots = true;
  return make_writer(path, OutputFormat::Native, o);
}

}  // namespace

RecordStream::RecordStream(const std::string& path, const WriteOptions& options, const Metadata& header,
                           uint64_t start_ns, uint64_t time_resolution_ns)
    : path_(path),
      recorder_(in_place_writer(path, options), path, header, /*pipelined=*/false),
      start_ns_(start_ns),
      resolution_ns_(std::max<uint64_t>(1, time_resolution_ns)) {}

RecordStream::~RecordStream() {
  if (finished_) return;
  try {
    finish(Metadata{});
  } catch (const std::exception& e) {
    spdlog::error("{}: {}", path_, e.what());
  }
}

bool RecordStream::feed(const char* data, size_t n) {
  if (broken_ || finished_) return false;
  // Chunks are parsed where they are; only an incomplete one is kept.
  const bool joined = !pending_.empty();
  if (joined) pending_.append(data, n);
  const char* p = joined ? pending_.data() : data;
  const size_t len = joined ? pending_.size() : n;
  size_t at = 0;
  while (len - at >= sizeof(w::ChunkHeader)) {
    w::ChunkHeader h;
    std::memcpy(&h, p + at, sizeof h);
    if (h.magic != w::kChunkMagic || h.count == 0 || h.count > w::kMaxChunkRecords) {
      broken_ = true;
      spdlog::warn("{}: the recorder sent bytes that are not a chunk (byte {} of its stream); the rest of "
                   "this process is not recorded",
                   path_, consumed_ + at);
      pending_.clear();
      return false;
    }
    const size_t bytes = sizeof h + size_t{h.count} * sizeof(w::Record);
    if (len - at < bytes) break;
    if (!take_chunk(h, reinterpret_cast<const w::Record*>(p + at + sizeof h))) {
      broken_ = true;
      pending_.clear();
      return false;
    }
    at += bytes;
  }
  consumed_ += at;
  if (joined) pending_.erase(0, at);
  else pending_.assign(p + at, len - at);
  release(false);
  return true;
}

bool RecordStream::take_chunk(const w::ChunkHeader& h, const w::Record* unaligned) {
  clock_.observe(h.ticks, h.monotonic_ns);
  Run*& cur = current_[h.tid];
  constexpr uint32_t kAhead = 16;  // records whose map entries are on their way
  for (uint32_t i = 0; i < std::min(kAhead, h.count); ++i) prefetch(unaligned + i);
  for (uint32_t i = 0; i < h.count; ++i) {
    if (i + kAhead < h.count) prefetch(unaligned + i + kAhead);
    w::Record x;
    std::memcpy(&x, unaligned + i, sizeof x);
    if (x.op() == w::kSite) {
      const uint32_t slots = w::site_slots(x.size);
      if (x.size > w::kMaxSiteText || slots > h.count - 1 - i) {
        spdlog::warn("{}: a site record runs past its chunk; the rest of this process is not recorded", path_);
        return false;
      }
      char text[w::kMaxSiteText + sizeof(w::Record)];
      std::memcpy(text, unaligned + i + 1, size_t{slots} * sizeof(w::Record));
      define_site(x, text);
      i += slots;
      continue;
    }
    x.ticks = clock_.ns(x.ticks);  // from here on, nanoseconds
    if (held_ == 0 && x.seq() == next_seq_) {  // nothing to wait for: no queueing
      emit(x, h.tid);
      continue;
    }
    if (!cur || (!cur->empty() && x.seq() <= cur->recs.back().seq())) {
      runs_.push_back(std::make_unique<Run>());
      cur = runs_.back().get();
      cur->tid = h.tid;
    }
    const bool was_empty = cur->empty();
    if (was_empty) {
      cur->recs.clear();
      cur->pos = 0;
    }
    cur->recs.push_back(x);
    ++held_;
    if (was_empty) ready_.push(cur);
  }
  return true;
}

void RecordStream::prefetch(const w::Record* unaligned) const {
  uint64_t addr;
  std::memcpy(&addr, reinterpret_cast<const char*>(unaligned) + offsetof(w::Record, addr), sizeof addr);
  recorder_.prefetch(addr);
}

void RecordStream::define_site(const w::Record& site, const char* text) {
  if (sites_.find(site.addr)) return;  // the first name given for an address stays
  std::string_view all(text, site.size);
  size_t nul = all.find('\0');
  std::string_view module = all.substr(0, nul);
  std::string_view symbol = nul == std::string_view::npos ? std::string_view{} : all.substr(nul + 1);
  StringId id = recorder_.intern(site_tag(module, symbol, (site.seq_op >> 8) & 1, site.caller));
  sites_.put(site.addr, id.value);
}

StringId RecordStream::tag(uint64_t caller) {
  if (caller == 0) return kNoString;
  if (const uint64_t* id = sites_.find(caller)) return StringId{static_cast<uint32_t>(*id)};
  StringId id = recorder_.intern(fmt::format("{:#x}", caller));  // never named: should not happen
  sites_.put(caller, id.value);
  return id;
}

void RecordStream::release(bool all) {
  while (!ready_.empty()) {
    Run* r = ready_.top();
    if (!all && r->head_seq() > next_seq_) {
      if (held_ <= max_held_) break;
      counts_.gaps += r->head_seq() - next_seq_;  // waited long enough: those numbers are lost
    }
    ready_.pop();
    for (;;) {
      const w::Record& x = r->recs[r->pos++];
      --held_;
      emit(x, r->tid);
      if (r->empty()) break;
      const uint64_t s = r->head_seq();
      if (s <= next_seq_) continue;  // the next number, or a straggler
      if (all && (ready_.empty() || s <= ready_.top()->head_seq())) continue;
      break;
    }
    if (!r->empty()) {
      if (r->pos >= 4096 && r->pos * 2 >= r->recs.size()) {
        r->recs.erase(r->recs.begin(), r->recs.begin() + static_cast<ptrdiff_t>(r->pos));
        r->pos = 0;
      }
      ready_.push(r);
    } else if (current_[r->tid] != r) {
      runs_.erase(std::find_if(runs_.begin(), runs_.end(), [&](const auto& p) { return p.get() == r; }));
    } else {
      r->recs.clear();
      r->pos = 0;
    }
  }
}

// Time and thread records before the first record a call makes.
void RecordStream::prelude(const w::Record& x, uint64_t tid) {
  const uint64_t t = x.ticks > start_ns_ ? x.ticks - start_ns_ : 0;
  last_ns_ = std::max(last_ns_, t);  // threads' clocks are read a little apart: never backwards
  if (!time_written_ || last_ns_ - written_ns_ >= resolution_ns_) {
    recorder_.time(last_ns_);
    written_ns_ = last_ns_;
    time_written_ = true;
  }
  if (!tid_written_ || tid != last_tid_) {
    recorder_.thread(tid);
    last_tid_ = tid;
    tid_written_ = true;
    if (!tids_.find(tid)) {
      tids_.put(tid, 1);
      ++counts_.threads;
    }
  }
}

void RecordStream::emit(const w::Record& x, uint64_t tid) {
  next_seq_ = std::max(next_seq_, x.seq() + 1);
  const uint8_t op = x.op();
  if (op == 0 || op >= w::kOps) return;
  ++counts_.by_op[op];
  if (op != w::kReallocTo && op != w::kReallocarrayTo) ++counts_.calls;
  prelude(x, tid);
  if (w::is_allocation(op)) {
    recorder_.alloc(x.addr, x.size, Domain::None, tag(x.caller));
    return;
  }
  switch (op) {
    case w::kFree:
      recorder_.free(x.addr);
      return;
    case w::kReallocFrom:
    case w::kReallocarrayFrom:
      // The block leaves its address now: another thread may be given that
      // address before this realloc returns.
      in_flight_[tid] = recorder_.detach(x.addr);
      return;
    case w::kReallocTo:
    case w::kReallocarrayTo: {
      std::optional<PointerRecorder::Detached> d;
      if (auto it = in_flight_.find(tid); it != in_flight_.end()) {
        d = it->second;
        in_flight_.erase(it);
      }
      if (x.addr == 0 && x.size != 0) ++counts_.failed_reallocs;
      if (d) recorder_.settle(*d, x.addr, x.size);
      else if (x.addr) recorder_.alloc(x.addr, x.size, Domain::None, tag(x.caller));  // a block never seen
      return;
    }
    default:
      return;
  }
}

void RecordStream::new_image(std::string_view label) {
  if (finished_) return;
  counts_.lost_bytes += pending_.size();
  pending_.clear();
  broken_ = false;
  consumed_ = 0;
  release(true);
  in_flight_.clear();
  current_.clear();
  ready_ = {};
  runs_.clear();
  held_ = 0;
  next_seq_ = 0;  // the new image numbers its calls from 0
  recorder_.release_all();
  sites_ = FlatMap();  // the addresses hold other code now
  recorder_.mark(label);
  ++counts_.images;
}

void RecordStream::flush() {
  if (finished_) return;
  release(false);
  recorder_.flush();
}

void RecordStream::finish(const Metadata& extra) {
  if (finished_) return;
  finished_ = true;
  counts_.lost_bytes += pending_.size();
  pending_.clear();
  release(true);
  static constexpr const char* kOpNames[w::kOps] = {
      "",       "malloc", "calloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "realloc",
      "reallocarray", "free", "", "", "", "", ""};
  auto set = [&](const std::string& key, uint64_t v) { recorder_.set_metadata(key, std::to_string(v)); };
  set("record.calls", counts_.calls);
  for (int op = 1; op < w::kOps; ++op) {
    if (!*kOpNames[op]) continue;
    uint64_t n = counts_.by_op[op];
    if (op == w::kReallocNull) n += counts_.by_op[w::kReallocFrom];
    if (op == w::kReallocarrayNull) n += counts_.by_op[w::kReallocarrayFrom];
    set(fmt::format("record.calls.{}", kOpNames[op]), n);
  }
  const PointerRecorder::Counts& b = recorder_.counts();
  set("record.unknown_frees", b.unknown_frees);
  set("record.unknown_reallocs", b.unknown_reallocs);
  set("record.reused_addresses", b.reused_addresses);
  set("record.failed_reallocs", counts_.failed_reallocs);
  set("record.lost_records", counts_.gaps);
  set("record.lost_bytes", counts_.lost_bytes);
  set("record.threads", counts_.threads);
  set("record.images", counts_.images);
  for (const auto& [k, v] : extra.items()) recorder_.set_metadata(k, v);
  recorder_.finish();
}

}  // namespace heaplay
