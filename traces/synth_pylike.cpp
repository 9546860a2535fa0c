// synth_pylike.cpp: see synth_pylike.hpp.
//
// The generator keeps references it still has to drop in three places: a short
// stack (most references; popped LIFO-ish within a few events), a medium ring
// and a long ring (a new entry evicts a random old one, which gives roughly
// exponential lifetimes of about the ring's size in entries). Each entry is one
// reference: a block's entry is released with f, an object's with -, and an
// object with an extra reference (+) simply has two entries. Allocations that
// get no entry are never freed. Every record goes through Lifetimes::apply, so
// slots and deaths are exactly what a reader of the same stream would derive.
#include "traces/synth_pylike.hpp"

#include <array>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "traces/error.hpp"
#include "traces/synth_common.hpp"

namespace heaplay {

namespace {

using synth::kNone;
using synth::Rng;

// One kind of request: size = base + step * (random & mask).
struct Shape {
  const char* type;  // nullptr: untyped (mem/raw buffers)
  Domain domain;
  uint32_t base, step, mask;
  int weight;  // out of 256
};

// Sizes as CPython 3.11 requests them on 64-bit (object sizes include the GC
// header where the type has one). Weights add up to 256.
constexpr Shape kShapes[] = {
    {"float", Domain::Obj, 24, 0, 0, 20},      {"int", Domain::Obj, 28, 4, 1, 24},
    {"str", Domain::Obj, 50, 1, 63, 28},       {"tuple", Domain::Obj, 56, 8, 3, 24},
    {"list", Domain::Obj, 72, 0, 0, 10},       {"dict", Domain::Obj, 64, 0, 0, 8},
    {"bytes", Domain::Obj, 33, 1, 255, 6},     {"frame", Domain::Obj, 400, 8, 15, 8},
    {"function", Domain::Obj, 152, 0, 0, 2},   {"method", Domain::Obj, 64, 0, 0, 12},
    {"cell", Domain::Obj, 40, 0, 0, 4},        {"set", Domain::Obj, 216, 0, 0, 2},
    {"generator", Domain::Obj, 208, 0, 0, 2},  {nullptr, Domain::Mem, 8, 8, 7, 80},
    {nullptr, Domain::Mem, 64, 16, 31, 22},    {nullptr, Domain::Raw, 1024, 1024, 31, 4},
};
constexpr int kShapeCount = sizeof kShapes / sizeof kShapes[0];
constexpr const char* kLabels[] = {"startup", "request", "batch", "idle"};

constexpr uint32_t kMediumRing = 4096;
constexpr uint32_t kLongRing = 32768;
constexpr uint32_t kEmpty = kNone;

// One reference the program still holds: a block (f) or an object (-).
struct Ref {
  uint32_t slot = kEmpty;
  bool object = false;
};

class PyLikeSource final : public synth::SynthSource {
 public:
  PyLikeSource(uint64_t events, uint64_t seed, bool objects)
      : SynthSource("pylike", events, seed, objects ? "" : ",blocks"), objects_(objects) {
    info_.metadata.set("synth.objects", objects ? "yes" : "no");
    int at = 0;
    for (int i = 0; i < kShapeCount; ++i) {
      types_[i] = kShapes[i].type ? strings_.intern(kShapes[i].type) : kNoString;
      for (int w = 0; w < kShapes[i].weight; ++w) shape_of_[at++] = static_cast<uint8_t>(i);
    }
    if (at != 256) throw Error("synth: shape weights must add up to 256", kExitFailure);
    for (size_t i = 0; i < std::size(kLabels); ++i) labels_[i] = strings_.intern(kLabels[i]);
  }

 private:
  void generate(synth::PyHeap& heap) const override {
    Run run(*this, heap);
    run.go();
  }

  // The state of one read(): everything starts afresh each time.
  struct Run {
    Run(const PyLikeSource& src, synth::Emitter& emitter)
        : self(src), rng(src.seed_), em(emitter), medium(kMediumRing), longer(kLongRing) {}

    const PyLikeSource& self;
    Rng rng;
    synth::Emitter& em;
    std::vector<Ref> stack, medium, longer;
    uint64_t now = 1'000'000'000;
    uint32_t gc_frees = 0;  // blocks mode: frees right after a g are the collector's

    uint32_t alloc(EventKind kind, Domain d, uint64_t size, StringId type) { return em.alloc(kind, d, size, type); }
    void slot_event(EventKind kind, uint32_t slot, uint32_t dst = 0, uint8_t flags = 0) {
      em.slot_event(kind, slot, dst, flags);
    }
    void value_event(EventKind kind, uint64_t value, StringId str = kNoString) { em.value_event(kind, value, str); }
    void release(Ref r, uint8_t flags = 0) {
      if (r.slot == kEmpty) return;
      if (r.object) slot_event(EventKind::Decref, r.slot);
      else slot_event(EventKind::Free, r.slot, 0, flags);
    }
    // Keeps r for a while: short (most), medium, long, or forever.
    void keep(Ref r, uint64_t u) {
      if (r.slot == kEmpty) return;
      uint32_t c = u & 255;
      if (c < 214) {
        stack.push_back(r);
      } else if (c < 246) {
        Ref& old = medium[(u >> 8) & (kMediumRing - 1)];
        uint8_t flags = 0;
        if (gc_frees && old.slot != kEmpty && !old.object) {
          flags = kFlagGc;  // the collector of a blocks-only trace frees medium-lived blocks
          --gc_frees;
        }
        release(old, flags);
        old = r;
      } else if (c < 254) {
        Ref& old = longer[(u >> 8) & (kLongRing - 1)];
        release(old);
        old = r;
      }  // else: never freed
    }

    // A new request of a random shape; typed ones are objects when objects_.
    // Bits of u: 0-7 shape, 8-15 size, 16-21 huge raw, 32-54 lifetime, 56-63 huge size.
    void allocate(uint64_t u) {
      const Shape& sh = kShapes[self.shape_of_[u & 255]];
      uint64_t size = sh.base + uint64_t{sh.step} * ((u >> 8) & sh.mask);
      if (sh.domain == Domain::Raw && ((u >> 16) & 63) == 0) size = (128u << 10) + ((u >> 56) << 12);
      StringId type = self.types_[&sh - kShapes];
      bool object = self.objects_ && sh.type;
      uint32_t slot = alloc(object ? EventKind::Object : EventKind::Alloc, sh.domain, size, type);
      keep(Ref{slot, object}, u >> 32);
    }

    // A list or dict owning 1..6 fresh items; sometimes one is removed again,
    // sometimes the container joins a two-object cycle (garbage for a collector).
    void container(uint64_t u) {
      bool dict = u & 1;
      uint32_t c = alloc(EventKind::Object, Domain::Obj, dict ? 64 : 72, self.types_[dict ? 5 : 4]);
      int items = 1 + static_cast<int>((u >> 1) % 6);
      uint32_t last = kEmpty;
      for (int i = 0; i < items; ++i) {
        const Shape& sh = kShapes[(u >> (4 + 2 * i)) & 3];  // float, int, str or tuple
        last = alloc(EventKind::Object, Domain::Obj, sh.base + sh.step * ((u >> (20 + i)) & sh.mask),
                     self.types_[&sh - kShapes]);
        slot_event(EventKind::Link, c, last);
        slot_event(EventKind::Decref, last);  // the container's reference is the only one now
      }
      if (((u >> 40) & 7) == 0) slot_event(EventKind::Unlink, c, last);  // list.pop(): the item dies
      if (((u >> 43) & 15) == 0) {
        uint32_t other = alloc(EventKind::Object, Domain::Obj, 64, self.types_[5]);
        slot_event(EventKind::Link, c, other);
        slot_event(EventKind::Link, other, c);
        slot_event(EventKind::Decref, other);
      }
      keep(Ref{c, true}, rng.next());
    }

    void go() {
      // Probability (of 256) of releasing rather than allocating, by stack depth:
      // the deeper the stack, the likelier a pop, so it stays a few entries deep.
      static constexpr uint8_t kPop[16] = {0, 96, 120, 136, 148, 160, 170, 180, 190, 200, 210, 220, 228, 236, 244, 250};
      uint64_t next_time = 300, next_collect = 20000, next_mark = 1000;
      uint32_t mark = 0;
      while (!em.done()) {
        uint64_t u = rng.next();
        size_t depth = stack.size();
        if (depth && (u & 255) < kPop[depth < 16 ? depth : 15]) {
          // LIFO-ish: usually the top, sometimes one or two below it.
          size_t pick = depth - 1 - (((u >> 8) & 7) == 0 ? std::min<size_t>(depth - 1, 1 + ((u >> 11) & 1)) : 0);
          Ref r = stack[pick];
          stack[pick] = stack.back();
          stack.pop_back();
          release(r);
        } else if (self.objects_ && ((u >> 8) & 63) == 0) {
          container(rng.next());
        } else if (self.objects_ && ((u >> 8) & 63) < 3 && depth && stack.back().object) {
          slot_event(EventKind::Incref, stack.back().slot);  // a temporary extra reference
          stack.push_back(stack.back());
        } else if (((u >> 8) & 127) == 5 && depth && !stack.back().object) {
          em.realloc(stack.back().slot, 16 + ((u >> 16) & 255) * 16);  // a growing buffer: 16 .. 4 KiB
        } else {
          allocate(rng.next());  // fresh bits: the ones of u above decided what to do
        }
        if (em.records() >= next_time) {
          now += 500 + (u >> 50) * 2;  // 0.5 .. 33 us per few hundred events
          value_event(EventKind::Time, now);
          next_time = em.records() + 200 + ((u >> 40) & 511);
        }
        if (em.records() >= next_collect) {
          uint64_t gen = ((u >> 20) % 100 == 0) ? 2 : ((u >> 20) % 10 == 0) ? 1 : 0;
          value_event(EventKind::Collect, gen);
          if (!self.objects_) gc_frees = 3;
          next_collect = em.records() + 10000 + ((u >> 30) & 16383);
        }
        if (em.records() >= next_mark) {
          value_event(EventKind::Mark, 0, self.labels_[mark++ % std::size(kLabels)]);
          next_mark = em.records() + (1u << 16);
        }
      }
    }
  };

  bool objects_;
  std::array<StringId, kShapeCount> types_{};
  std::array<uint8_t, 256> shape_of_{};
  std::array<StringId, std::size(kLabels)> labels_{};
};

}  // namespace

std::unique_ptr<TraceReader> make_pylike_source(uint64_t events, uint64_t seed, bool objects) {
  return std::make_unique<PyLikeSource>(events, seed, objects);
}

}  // namespace heaplay
