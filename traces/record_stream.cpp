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

}  // namespace

RecordStream::RecordStream(const std::string& path, const WriteOptions& options, const Metadata& header,
                           uint64_t start_ns, uint64_t time_resolution_ns)
    : path_(path), start_ns_(start_ns), resolution_ns_(std::max<uint64_t>(1, time_resolution_ns)) {
  WriteOptions o = options;
  o.in_place = true;
  writer_ = make_writer(path, OutputFormat::Native, o);
  info_.path = path;
  info_.format = TraceFormat::Native;
  info_.metadata = header;
  info_.strings = &strings_;
  writer_->begin(info_);
  batch_ = std::make_unique<EventBatch>(*writer_, 4096);
}

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
  live_.prefetch(addr);
}

void RecordStream::define_site(const w::Record& site, const char* text) {
  if (sites_.find(site.addr)) return;  // the first name given for an address stays
  std::string_view all(text, site.size);
  size_t nul = all.find('\0');
  std::string_view module = all.substr(0, nul);
  std::string_view symbol = nul == std::string_view::npos ? std::string_view{} : all.substr(nul + 1);
  StringId id = strings_.intern(site_tag(module, symbol, (site.seq_op >> 8) & 1, site.caller));
  sites_.put(site.addr, id.value);
}

StringId RecordStream::tag(uint64_t caller) {
  if (caller == 0) return kNoString;
  if (const uint64_t* id = sites_.find(caller)) return StringId{static_cast<uint32_t>(*id)};
  StringId id = strings_.intern(fmt::format("{:#x}", caller));  // never named: should not happen
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

// The writer checks every event against the stream rules (its own
// Lifetimes) and throws on a bad one; this side only numbers the blocks,
// with the same last-freed-first rule, so its numbers stay dense.
void RecordStream::apply(Event& e) {
  if (e.kind == EventKind::Alloc) {
    if (free_slots_.empty()) {
      e.slot = SlotId{next_slot_++};
    } else {
      e.slot = SlotId{free_slots_.back()};
      free_slots_.pop_back();
    }
  }
  batch_->push(e);
  if (e.kind == EventKind::Free) free_slots_.push_back(e.slot.value);
  ++counts_.events;
}

// Time and thread records before the first event a call makes.
void RecordStream::prelude(const w::Record& x, uint64_t tid) {
  const uint64_t t = x.ticks > start_ns_ ? x.ticks - start_ns_ : 0;
  last_ns_ = std::max(last_ns_, t);  // threads' clocks are read a little apart: never backwards
  if (!time_written_ || last_ns_ - written_ns_ >= resolution_ns_) {
    Event e;
    e.kind = EventKind::Time;
    e.size = last_ns_;
    apply(e);
    written_ns_ = last_ns_;
    time_written_ = true;
  }
  if (!tid_written_ || tid != last_tid_) {
    Event e;
    e.kind = EventKind::Thread;
    e.size = tid;
    apply(e);
    last_tid_ = tid;
    tid_written_ = true;
    if (!tids_.find(tid)) {
      tids_.put(tid, 1);
      ++counts_.threads;
    }
  }
}

void RecordStream::free_slot(uint32_t slot) {
  Event e;
  e.kind = EventKind::Free;
  e.slot = SlotId{slot};
  apply(e);
}

void RecordStream::allocate(uint64_t addr, uint64_t size, StringId type) {
  if (const uint64_t* old = live_.find(addr)) {  // its free went unseen
    ++counts_.missed_frees;
    free_slot(static_cast<uint32_t>(*old));
  }
  Event e;
  e.kind = EventKind::Alloc;
  e.size = size;
  e.str = type;
  apply(e);
  live_.put(addr, e.slot.value);
}

void RecordStream::emit(const w::Record& x, uint64_t tid) {
  next_seq_ = std::max(next_seq_, x.seq() + 1);
  const uint8_t op = x.op();
  if (op == 0 || op >= w::kOps) return;
  ++counts_.by_op[op];
  if (op != w::kReallocTo && op != w::kReallocarrayTo) ++counts_.calls;
  prelude(x, tid);
  if (w::is_allocation(op)) {
    allocate(x.addr, x.size, tag(x.caller));
    return;
  }
  switch (op) {
    case w::kFree:
      if (const uint64_t* s = live_.find(x.addr)) {
        free_slot(static_cast<uint32_t>(*s));
        live_.erase(x.addr);
      } else {
        ++counts_.unknown_frees;
      }
      return;
    case w::kReallocFrom:
    case w::kReallocarrayFrom: {
      // The block leaves its address now: another thread may be given that
      // address before this realloc returns.
      InFlight f;
      f.addr = x.addr;
      if (const uint64_t* s = live_.find(x.addr)) {
        f.slot = static_cast<uint32_t>(*s);
        f.known = true;
        live_.erase(x.addr);
      }
      in_flight_[tid] = f;
      return;
    }
    case w::kReallocTo:
    case w::kReallocarrayTo: {
      InFlight f;
      auto it = in_flight_.find(tid);
      if (it != in_flight_.end()) {
        f = it->second;
        in_flight_.erase(it);
      }
      if (x.addr == 0) {
        if (x.size == 0) {  // realloc(p, 0) freed p
          if (f.known) free_slot(f.slot);
          else ++counts_.unknown_frees;
        } else {  // failed: p is as it was
          ++counts_.failed_reallocs;
          if (f.known) live_.put(f.addr, f.slot);
        }
        return;
      }
      if (!f.known) {  // a block the recorder never saw allocated: from here on, a new one
        ++counts_.unknown_frees;
        allocate(x.addr, x.size, tag(x.caller));
        return;
      }
      if (const uint64_t* old = live_.find(x.addr)) {
        ++counts_.missed_frees;
        free_slot(static_cast<uint32_t>(*old));
      }
      Event e;
      e.kind = EventKind::Realloc;
      e.slot = SlotId{f.slot};
      e.size = x.size;
      apply(e);
      live_.put(x.addr, f.slot);
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
  std::vector<uint32_t> slots;
  live_.erase_if([&](uint64_t, uint64_t slot) {
    slots.push_back(static_cast<uint32_t>(slot));
    return false;
  });
  live_ = FlatMap();
  std::sort(slots.begin(), slots.end());
  for (uint32_t s : slots) free_slot(s);
  sites_ = FlatMap();  // the addresses hold other code now
  Event m;
  m.kind = EventKind::Mark;
  m.str = strings_.intern(label);
  apply(m);
  ++counts_.images;
}

void RecordStream::flush() {
  if (finished_) return;
  release(false);
  batch_->flush();
  writer_->flush();
}

void RecordStream::finish(const Metadata& extra) {
  if (finished_) return;
  finished_ = true;
  counts_.lost_bytes = pending_.size();
  pending_.clear();
  release(true);
  batch_->flush();
  static constexpr const char* kOpNames[w::kOps] = {
      "",       "malloc", "calloc", "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "realloc",
      "reallocarray", "free", "", "", "", "", ""};
  Metadata& m = info_.metadata;
  m.set("record.calls", std::to_string(counts_.calls));
  for (int op = 1; op < w::kOps; ++op) {
    if (!*kOpNames[op]) continue;
    uint64_t n = counts_.by_op[op];
    if (op == w::kReallocNull) n += counts_.by_op[w::kReallocFrom];
    if (op == w::kReallocarrayNull) n += counts_.by_op[w::kReallocarrayFrom];
    m.set(fmt::format("record.calls.{}", kOpNames[op]), std::to_string(n));
  }
  m.set("record.unknown_frees", std::to_string(counts_.unknown_frees));
  m.set("record.missed_frees", std::to_string(counts_.missed_frees));
  m.set("record.failed_reallocs", std::to_string(counts_.failed_reallocs));
  m.set("record.lost_records", std::to_string(counts_.gaps));
  m.set("record.lost_bytes", std::to_string(counts_.lost_bytes));
  m.set("record.threads", std::to_string(counts_.threads));
  m.set("record.images", std::to_string(counts_.images));
  for (const auto& [k, v] : extra.items()) m.set(k, v);
  ReadSummary summary;
  summary.events = counts_.events;
  writer_->end(info_, summary);
  writer_->commit();
}

}  // namespace heaplay
