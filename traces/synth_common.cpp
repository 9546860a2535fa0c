// synth_common.cpp: see synth_common.hpp.
#include "traces/synth_common.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay::synth {

void Emitter::fail(Anomaly a) {
  throw Error(fmt::format("synth: generated an invalid event ({})", anomaly_name(a)), kExitFailure);
}

void Emitter::on_deaths() {
  std::span<const SlotId> died = lt_.died();
  deaths_ += died.size();
  pending_.clear();
  for (SlotId s : died) {
    if (s.value >= aux_.size()) continue;
    Aux& a = aux_[s.value];
    if (a.block != kNone) pending_.push_back(a.block);
    a = Aux{};
  }
  // A free never kills an object, so this does not come back here.
  for (uint32_t block : pending_) slot_event(EventKind::Free, block);
}

PyTypes::PyTypes(StringTable& t)
    : float_(t.intern("float")),
      int_(t.intern("int")),
      str(t.intern("str")),
      bytes(t.intern("bytes")),
      tuple(t.intern("tuple")),
      list(t.intern("list")),
      dict(t.intern("dict")),
      function(t.intern("function")),
      cell(t.intern("cell")),
      list_items(t.intern("list_items")),
      dict_keys(t.intern("dict_keys")),
      dict_values(t.intern("dict_values")) {}

uint32_t PyHeap::list_capacity(uint32_t size, uint32_t newsize) {
  // Objects/listobject.c list_resize (3.9 and later).
  uint32_t n = (newsize + (newsize >> 3) + 6) & ~3u;
  if (newsize - size > n - newsize) n = (newsize + 3) & ~3u;
  return newsize == 0 ? 0 : n;
}

void PyHeap::list_append(uint32_t list, uint32_t item) {
  if (done()) return;
  Aux& a = aux(list);
  if (a.len == a.cap) {
    a.cap = list_capacity(a.len, a.len + 1);
    if (a.block == kNone) {
      a.block = alloc(EventKind::Alloc, Domain::Mem, 8 * uint64_t{a.cap}, types().list_items);
      if (a.block == kNone) return;
    } else {
      realloc(a.block, 8 * uint64_t{a.cap});
    }
  }
  ++a.len;
  adopt(list, item);
}

void PyHeap::list_pop(uint32_t list, uint32_t item) {
  if (done()) return;
  Aux& a = aux(list);
  unlink(list, item);
  --a.len;
  // list_resize shrinks when fewer than half the slots are used.
  if (a.len > 0 && a.len < (a.cap >> 1)) {
    a.cap = list_capacity(a.len + 1, a.len);
    realloc(a.block, 8 * uint64_t{a.cap});
  }
}

uint64_t PyHeap::keys_bytes(uint32_t log2, bool str_keys) {
  // Objects/dictobject.c new_keys_object: header 32, the index table (1, 2
  // or 4 bytes an index), USABLE_FRACTION entries of 16 (str keys) or 24 bytes.
  uint64_t size = uint64_t{1} << log2;
  uint64_t index = log2 < 8 ? 1 : log2 < 16 ? 2 : 4;
  uint64_t usable = (size << 1) / 3;
  return 32 + size * index + usable * (str_keys ? 16 : 24);
}

void PyHeap::dict_insert(uint32_t d, uint32_t key, uint32_t value, bool str_keys) {
  if (done()) return;
  Aux& a = aux(d);
  if (a.cap == 0) {
    // The first insertion, or dictresize: a keys object for used * 3 (at least 8).
    uint32_t log2 = 3;
    while ((uint64_t{1} << log2) < uint64_t{a.len} * 3) ++log2;
    uint32_t old = a.block;
    a.block = alloc(EventKind::Alloc, Domain::Obj, keys_bytes(log2, str_keys), types().dict_keys);
    if (a.block == kNone) return;
    if (old != kNone) slot_event(EventKind::Free, old);
    a.log2 = log2 | (str_keys ? 0 : 0x100);
    a.cap = static_cast<uint32_t>(((uint64_t{1} << log2) << 1) / 3) - a.len;
  }
  --a.cap;
  ++a.len;
  link(d, key);
  link(d, value);
}

void PyHeap::dict_delete(uint32_t d, uint32_t key, uint32_t value) {
  if (done()) return;
  --aux(d).len;
  unlink(d, key);
  unlink(d, value);
}

uint32_t PyHeap::new_instance(StringId cls, uint32_t attrs) {
  uint32_t obj = object(56, cls);
  if (obj == kNone) return kNone;
  uint32_t values = alloc(EventKind::Alloc, Domain::Mem, values_bytes(attrs), types().dict_values);
  if (values != kNone) aux(obj).block = values;
  return obj;
}

void ClockCache::insert(PyHeap& h, uint32_t id, uint32_t value) {
  if (h.done()) return;
  uint32_t at;
  if (size_ < entries_.size()) {
    at = size_++;
  } else {
    while (entries_[hand_].used) {
      entries_[hand_].used = false;
      hand_ = (hand_ + 1) % entries_.size();
    }
    at = hand_;
    hand_ = (hand_ + 1) % entries_.size();
    Entry& old = entries_[at];
    where_[old.id] = kNone;
    h.dict_delete(dict_, old.key, old.value);  // the key dies; the value too unless held elsewhere
  }
  uint32_t key = h.new_int();
  h.dict_insert(dict_, key, value, false);
  h.decref(key);
  entries_[at] = Entry{key, value, id, true};
  where_[id] = at;
}

SynthSource::SynthSource(std::string_view workload, uint64_t events, uint64_t seed, std::string_view variant)
    : events_(events), seed_(seed) {
  info_.path = fmt::format("synth:{}(events={},seed={}{})", workload, events, seed, variant);
  info_.format = TraceFormat::Text;  // no file behind it; closest in spirit
  info_.strings = &strings_;
  info_.metadata.set("source", fmt::format("heaplay synth {}", workload));
  info_.metadata.set("synth.events", std::to_string(events));
  info_.metadata.set("synth.seed", std::to_string(seed));
}

ReadSummary SynthSource::read(EventConsumer& consumer) {
  PyHeap heap(events_, consumer, py_.get());
  consumer.begin(info_);
  generate(heap);
  heap.flush();
  ReadSummary s;
  s.events = heap.records();
  s.deaths = heap.deaths();
  consumer.end(info_, s);
  return s;
}

}  // namespace heaplay::synth
