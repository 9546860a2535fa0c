// synth_common.hpp: the plumbing every `heaplay synth` workload shares.
//
// - Rng: xoshiro256** seeded through splitmix64, so a (events, seed) pair
//   gives the same stream on every machine and standard library (never the
//   std::*_distribution classes, whose outputs are implementation-defined).
// - Emitter: applies each generated record through Lifetimes (the stream
//   rules a reader enforces), counts exactly `limit` records and stops there,
//   and frees the raw blocks an object owns (a list's item array, a dict's
//   keys, an instance's values) right after the record that killed the object.
// - PyHeap: CPython 3.11's object shapes on 64-bit on top of an Emitter:
//   sizes as CPython requests them (GC header and pre-header included), lists
//   with their item arrays grown by list_resize's over-allocation, dicts with
//   their keys objects rebuilt by dictresize, instances with their values.
// - SynthSource: the TraceReader boilerplate (metadata, string table, read()).
//
// Slots are the ones Lifetimes hands out, which are the IDs the writers
// write. Memory: per live slot (the owned-block table), never per record.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "traces/lifetimes.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::synth {

inline constexpr uint32_t kNone = UINT32_MAX;

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& w : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      w = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) (Lemire's multiply-shift on the high 32 bits; n < 2^32).
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(((next() >> 32) * n) >> 32); }
  // Uniform in [lo, hi].
  uint32_t range(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }
  // True with probability per_mille / 1000.
  bool chance(uint32_t per_mille) { return below(1000) < per_mille; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

class Emitter {
 public:
  Emitter(uint64_t limit, EventConsumer& consumer) : limit_(limit), batch_(consumer, 2048) {}

  bool done() const { return n_ >= limit_; }
  uint64_t records() const { return n_; }
  uint64_t deaths() const { return deaths_; }
  const Lifetimes& lifetimes() const { return lt_; }
  void flush() { batch_.flush(); }

  // Applies one record; false once `limit` records are out (every later emit
  // is a no-op too, so a half-built sequence simply stops).
  bool emit(Event& e) {
    if (n_ >= limit_) return false;
    if (Anomaly a = lt_.apply(e, batch_); a != Anomaly::None) [[unlikely]]
      fail(a);
    ++n_;
    if (!lt_.died().empty()) on_deaths();
    return true;
  }
  // A new block (a) or object (o); its slot, or kNone once done.
  uint32_t alloc(EventKind kind, Domain d, uint64_t size, StringId type) {
    Event e;
    e.kind = kind;
    e.domain = d;
    e.size = size;
    e.str = type;
    return emit(e) ? e.slot.value : kNone;
  }
  void slot_event(EventKind kind, uint32_t slot, uint32_t dst = 0, uint8_t flags = 0) {
    Event e;
    e.kind = kind;
    e.slot = SlotId{slot};
    e.dst = SlotId{dst};
    e.flags = flags;
    emit(e);
  }
  void value_event(EventKind kind, uint64_t value, StringId str = kNoString) {
    Event e;
    e.kind = kind;
    e.size = value;
    e.str = str;
    emit(e);
  }
  void realloc(uint32_t slot, uint64_t size) {
    Event e;
    e.kind = EventKind::Realloc;
    e.slot = SlotId{slot};
    e.size = size;
    emit(e);
  }

  uint32_t object(uint64_t size, StringId type) { return alloc(EventKind::Object, Domain::Obj, size, type); }
  void incref(uint32_t s) { slot_event(EventKind::Incref, s); }
  void decref(uint32_t s) { slot_event(EventKind::Decref, s); }
  void link(uint32_t src, uint32_t dst) { slot_event(EventKind::Link, src, dst); }
  void unlink(uint32_t src, uint32_t dst) { slot_event(EventKind::Unlink, src, dst); }
  // src takes over the creator's reference to a fresh object: l, then -.
  void adopt(uint32_t src, uint32_t dst) {
    link(src, dst);
    decref(dst);
  }
  void time(uint64_t ns) { value_event(EventKind::Time, ns); }
  void mark(StringId label) { value_event(EventKind::Mark, 0, label); }
  void collect(uint64_t gen) { value_event(EventKind::Collect, gen); }

  // What PyHeap keeps per object slot: the raw block the object owns (freed
  // when the object dies) and the container's bookkeeping.
  struct Aux {
    uint32_t block = kNone;  // item array, keys object or values array
    uint32_t len = 0;        // list: items; dict: entries in use
    uint32_t cap = 0;        // list: allocated items; dict: insertions left before a resize
    uint32_t log2 = 0;       // dict: log2 of the keys object's size; bit 8: general (not str) keys
  };
  // Only for slots of live objects (so slot < slot_limit()).
  Aux& aux(uint32_t s) {
    if (s >= aux_.size()) aux_.resize(std::max<size_t>(s + 1, aux_.size() * 2));
    return aux_[s];
  }

 private:
  [[noreturn]] static void fail(Anomaly a);
  void on_deaths();  // frees the blocks the dead objects owned

  uint64_t limit_, n_ = 0, deaths_ = 0;
  EventBatch batch_;
  Lifetimes lt_;
  std::vector<Aux> aux_;
  std::vector<uint32_t> pending_;
};

// The CPython type names PyHeap uses (tp_name), interned once per source.
struct PyTypes {
  explicit PyTypes(StringTable& t);
  StringId float_, int_, str, bytes, tuple, list, dict, function, cell, list_items, dict_keys, dict_values;
};

// CPython 3.11 object shapes on 64-bit (docs/synth.md lists the sizes).
class PyHeap : public Emitter {
 public:
  // types may be null for a workload that uses only Emitter's records.
  PyHeap(uint64_t limit, EventConsumer& consumer, const PyTypes* types) : Emitter(limit, consumer), t_(types) {}

  uint32_t new_float() { return object(24, t_->float_); }
  // Ints past the small-int cache (-5..256): 28 bytes up to 2^30, 4 more a 30-bit digit.
  uint32_t new_int(uint32_t digits = 1) { return object(24 + 4 * uint64_t{digits}, t_->int_); }
  // A compact ASCII str of len characters: PyASCIIObject (48) + len + 1.
  uint32_t new_str(uint32_t len) { return object(49 + uint64_t{len}, t_->str); }
  uint32_t new_bytes(uint32_t len) { return object(33 + uint64_t{len}, t_->bytes); }
  // GC header 16 + PyTupleObject 24 + 8 per item.
  uint32_t new_tuple(uint32_t n) { return object(40 + 8 * uint64_t{n}, t_->tuple); }
  // GC header 16 + PyListObject 40; the item array (PyMem) comes with the first item.
  uint32_t new_list() { return object(56, t_->list); }
  // Appends a fresh item, taking over its reference (list.append, then the local dies).
  void list_append(uint32_t list, uint32_t item);
  // Removes the last item (list.pop(), the popped value dropped): item must be it.
  void list_pop(uint32_t list, uint32_t item);
  // GC header 16 + PyDictObject 48; the keys object (PyObject_Malloc) comes with the first insertion.
  uint32_t new_dict() { return object(64, t_->dict); }
  // d[key] = value for a new key: the dict links both (a fresh key or value's
  // own reference is the caller's to drop).
  void dict_insert(uint32_t d, uint32_t key, uint32_t value, bool str_keys = true);
  // del d[key]: drops the dict's references (the keys object keeps its size: a dummy entry).
  void dict_delete(uint32_t d, uint32_t key, uint32_t value);
  // An instance of a user class with n attributes (3.11: GC header 16,
  // managed-dict pre-header 16, object + __weakref__ 24; its values array in PyMem).
  uint32_t new_instance(StringId cls, uint32_t attrs);
  // The sizes, for documentation and tests.
  static uint64_t keys_bytes(uint32_t log2, bool str_keys);
  static uint64_t values_bytes(uint32_t attrs) { return ((attrs + 3 + 7) & ~7u) + 8 * (uint64_t{attrs} + 1); }
  // list_resize's over-allocation for newsize items when size are in use.
  static uint32_t list_capacity(uint32_t size, uint32_t newsize);

  const PyTypes& types() const { return *t_; }

 private:
  const PyTypes* t_;
};

// A bounded cache of long-lived objects, CPython style: a dict from an int key
// to the value, entries evicted by a clock (second-chance LRU) once full.
// Evicting drops the dict's references, so a value nobody else holds dies.
class ClockCache {
 public:
  ClockCache(uint32_t capacity, uint32_t keys) : entries_(capacity), where_(keys, kNone) {}
  // Makes the cache dict (a module global: it lives to the end).
  void create(PyHeap& h) { dict_ = h.new_dict(); }
  // The value cached for id (< keys), marked recently used, or kNone.
  uint32_t find(uint32_t id) {
    uint32_t at = where_[id];
    if (at == kNone) return kNone;
    entries_[at].used = true;
    return entries_[at].value;
  }
  // Caches value (a live object) under a fresh int key, evicting one entry when full.
  void insert(PyHeap& h, uint32_t id, uint32_t value);
  uint32_t size() const { return size_; }

 private:
  struct Entry {
    uint32_t key = kNone, value = kNone, id = kNone;
    bool used = false;
  };
  std::vector<Entry> entries_;
  std::vector<uint32_t> where_;  // id -> entry
  uint32_t dict_ = kNone, hand_ = 0, size_ = 0;
};

// A synthetic trace as a TraceReader: the metadata, the string table and
// read(); a workload overrides generate().
class SynthSource : public TraceReader {
 public:
  SynthSource(std::string_view workload, uint64_t events, uint64_t seed, std::string_view variant = {});
  const TraceInfo& info() const override { return info_; }
  ReadSummary read(EventConsumer& consumer) override;

 protected:
  // Generates up to events_ records into a fresh PyHeap.
  virtual void generate(PyHeap& heap) const = 0;

  uint64_t events_, seed_;
  TraceInfo info_;
  StringTable strings_;
  std::unique_ptr<PyTypes> py_;  // made by workloads that use PyHeap's shapes
};

}  // namespace heaplay::synth
