// pointer_recorder.cpp: see pointer_recorder.hpp.
#include "traces/pointer_recorder.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

PointerRecorder::PointerRecorder(std::unique_ptr<TraceWriter> writer, const std::string& path, Metadata header,
                                 bool pipelined)
    : path_(path),
      writer_(std::move(writer)),
      consumer_(pipelined ? &pipe_.emplace(*writer_) : static_cast<EventConsumer*>(writer_.get())),
      batch_(*consumer_, 4096) {
  info_.path = path;
  info_.format = TraceFormat::Native;
  info_.metadata = std::move(header);
  info_.strings = &strings_;
  consumer_->begin(info_);
}

PointerRecorder::~PointerRecorder() = default;

void PointerRecorder::apply(Event& e) {
  if (finished_) throw Error(fmt::format("{}: a record after the recording finished", path_), kExitFailure);
  if (Anomaly a = lifetimes_.apply(e, batch_); a != Anomaly::None)
    throw Error(fmt::format("{}: recorded an invalid {} record ({})", path_, kind_name(e.kind), anomaly_name(a)),
                kExitFailure);
  ++counts_.records;
}

void PointerRecorder::alloc(uint64_t addr, uint64_t size, Domain domain) {
  if (const uint64_t* old = map_.find(addr)) {
    ++counts_.reused_addresses;
    free_slot(addr, *old);
  }
  Event e;
  e.kind = EventKind::Alloc;
  e.domain = domain;
  e.size = size;
  apply(e);
  map_.put(addr, pack(e.slot, epoch_));
}

void PointerRecorder::free_slot(uint64_t addr, uint64_t value) {
  Event e;
  e.kind = EventKind::Free;
  e.slot = slot_of(value);
  if (window_open_ && epoch_of(value) != epoch_ &&
      std::find(exempt_.begin(), exempt_.end(), addr) == exempt_.end()) {
    e.flags = kFlagGc;
    ++counts_.gc_frees;
  }
  apply(e);
  map_.erase(addr);
}

void PointerRecorder::free(uint64_t addr) {
  const uint64_t* v = map_.find(addr);
  if (!v) {
    ++counts_.unknown_frees;
    return;
  }
  free_slot(addr, *v);
}

void PointerRecorder::realloc(uint64_t old_addr, uint64_t new_addr, uint64_t size, Domain domain) {
  const uint64_t* v = old_addr ? map_.find(old_addr) : nullptr;
  if (!v) {
    if (old_addr) ++counts_.unknown_reallocs;
    alloc(new_addr, size, domain);
    return;
  }
  const uint64_t value = *v;
  Event e;
  e.kind = EventKind::Realloc;
  e.slot = slot_of(value);
  e.size = size;
  apply(e);
  if (new_addr != old_addr) {
    map_.erase(old_addr);
    // Something else live at the new address was freed around the recorder.
    if (const uint64_t* other = map_.find(new_addr)) {
      ++counts_.reused_addresses;
      free_slot(new_addr, *other);
    }
    map_.put(new_addr, value);
  }
}

void PointerRecorder::mark(std::string_view label) {
  Event e;
  e.kind = EventKind::Mark;
  e.str = strings_.intern(label);
  apply(e);
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
