// pointer_recorder.cpp: see pointer_recorder.hpp.
#include "traces/pointer_recorder.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

namespace {

// The pipeline's buffers: 4 x 16Ki events (2 MiB). A recorded program
// touches every one within its first 64Ki calls (page faults, which show in
// short runs), and deeper buffers would only let the writer fall further
// behind before the program waits for it.
constexpr size_t kPipeEvents = size_t{1} << 14;

}  // namespace

PointerRecorder::PointerRecorder(std::unique_ptr<TraceWriter> writer, const std::string& path, Metadata header,
                                 bool pipelined)
    : path_(path),
      writer_(std::move(writer)),
      consumer_(pipelined ? &pipe_.emplace(*writer_, kPipeEvents, 4) : static_cast<EventConsumer*>(writer_.get())),
      batch_(*consumer_, 4096) {
  info_.path = path;
  info_.format = TraceFormat::Native;
  info_.metadata = std::move(header);
  info_.strings = &strings_;
  consumer_->begin(info_);
}

PointerRecorder::~PointerRecorder() = default;

void PointerRecorder::push(const Event& e) {
  if (finished_) throw Error(fmt::format("{}: a record after the recording finished", path_), kExitFailure);
  batch_.push(e);
  ++counts_.records;
}

SlotId PointerRecorder::take_slot() {
  if (!free_slots_.empty()) {
    const SlotId s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  if (next_slot_ >= kMaxSlots)
    throw Error(fmt::format("{}: more than {} blocks live at once", path_, kMaxSlots), kExitFailure);
  return SlotId{next_slot_++};
}

void PointerRecorder::put(uint64_t addr, uint64_t value) {
  auto [slot, inserted] = map_.try_emplace(addr);
  if (!inserted) [[unlikely]] {
    // The address is live here: its free went around the recorder.
    ++counts_.reused_addresses;
    release(addr, *slot);
  }
  *slot = value;
}

void PointerRecorder::alloc(uint64_t addr, uint64_t size, Domain domain, StringId type) {
  auto [value, inserted] = map_.try_emplace(addr);
  if (!inserted) [[unlikely]] {
    // The address is live here: its free went around the recorder.
    ++counts_.reused_addresses;
    release(addr, *value);
  }
  Event e;
  e.kind = EventKind::Alloc;
  e.domain = domain;
  e.size = size;
  e.str = type;
  e.slot = take_slot();
  push(e);
  *value = pack(e.slot, epoch_);
}

// Records the free of the block behind a map value and releases its slot
// (the caller drops or reuses the map entry).
void PointerRecorder::release(uint64_t addr, uint64_t value) {
  Event e;
  e.kind = EventKind::Free;
  e.slot = slot_of(value);
  if (window_open_ && epoch_of(value) != epoch_ &&
      std::find(exempt_.begin(), exempt_.end(), addr) == exempt_.end()) {
    e.flags = kFlagGc;
    ++counts_.gc_frees;
  }
  push(e);
  free_slots_.push_back(e.slot);
}

void PointerRecorder::free(uint64_t addr) {
  const uint64_t* v = map_.find(addr);
  if (!v) {
    ++counts_.unknown_frees;
    return;
  }
  release(addr, *v);
  map_.erase(addr);
}

void PointerRecorder::realloc(uint64_t old_addr, uint64_t new_addr, uint64_t size, Domain domain) {
  std::optional<Detached> d = old_addr ? detach(old_addr) : std::nullopt;
  if (!d) {
    alloc(new_addr, size, domain);
    return;
  }
  settle(*d, new_addr, size);
}

std::optional<PointerRecorder::Detached> PointerRecorder::detach(uint64_t addr) {
  const uint64_t* v = map_.find(addr);
  if (!v) {
    ++counts_.unknown_reallocs;
    return std::nullopt;
  }
  Detached d{addr, *v};
  map_.erase(addr);
  return d;
}

void PointerRecorder::settle(const Detached& d, uint64_t new_addr, uint64_t size) {
  if (new_addr == 0) {
    if (size == 0) {
      release(d.addr, d.value);
    } else {
      put(d.addr, d.value);
    }
    return;
  }
  Event e;
  e.kind = EventKind::Realloc;
  e.slot = slot_of(d.value);
  e.size = size;
  push(e);
  // Something else live at the new address was freed around the recorder: put() frees it first.
  put(new_addr, d.value);
}

void PointerRecorder::release_all() {
  std::vector<std::pair<uint64_t, uint64_t>> live;  // (slot in the low bits, address)
  map_.erase_if([&](uint64_t addr, uint64_t value) {
    live.emplace_back(value, addr);
    return false;
  });
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return slot_of(a.first) < slot_of(b.first); });
  for (const auto& [value, addr] : live) release(addr, value);
  map_ = FlatMap();
}

void PointerRecorder::flush() {
  batch_.flush();
  if (!pipe_) writer_->flush();
}

void PointerRecorder::time(uint64_t ns) {
  Event e;
  e.kind = EventKind::Time;
  e.size = ns;
  push(e);
}

void PointerRecorder::thread(uint64_t tid) {
  Event e;
  e.kind = EventKind::Thread;
  e.size = tid;
  push(e);
}

void PointerRecorder::mark(std::string_view label) {
  Event e;
  e.kind = EventKind::Mark;
  e.str = strings_.intern(label);
  push(e);
}

void PointerRecorder::open_gc_window(std::span<const uint64_t> exempt) {
  ++epoch_;
  window_open_ = true;
  exempt_.assign(exempt.begin(), exempt.end());
}

void PointerRecorder::close_gc_window() {
  window_open_ = false;
  exempt_.clear();
}

void PointerRecorder::set_metadata(std::string key, std::string value) {
  info_.metadata.set(std::move(key), std::move(value));
}

void PointerRecorder::finish() {
  if (finished_) return;
  finished_ = true;
  batch_.flush();
  ReadSummary summary;
  summary.events = counts_.records;
  consumer_->end(info_, summary);
  writer_->commit();
}

}  // namespace heaplay
