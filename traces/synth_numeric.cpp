// synth_numeric.cpp: `heaplay synth numeric`, a pure-Python numeric loop at
// the object level.
//
// What it models: the inner loop of numeric code written without numpy (a
// simulation step, a statistics pass, a geometry kernel) on CPython 3.11:
//
//     for i in range(n):                    # an int object per step past 256
//         x, y = xs[i] * sx, ys[i] * sy     # float temporaries
//         acc = x * x + y * y + c           # chains of floats, each dying at once
//         for a, b in zip(p, q): ...        # small tuples (1..4 items) holding floats
//         q, r = divmod(i, k)               # tuples of fresh ints
//         row = [f(v) for v in vec]         # short lists of floats, summed, dropped
//         results.append((x, y))            # some results kept
//
// The results list lives long and grows by list_resize's over-allocation (r
// of its item array); every kResultsBatch items the batch is handed off and a
// new list started (results = []), which frees the old one's whole contents
// in one cascade. Nothing forms a cycle: everything dies by reference counting.
//
// Why: almost every object is a float or a small tuple that dies within a few
// records, the traffic CPython's free lists exist for (floats: 100 kept;
// tuples: 2000 per length 1..20); replaying it with and without the free-list
// layer shows what they save. Knobs are the constants below; docs/synth.md has
// the record mix.
#include "traces/synth.hpp"
#include "traces/synth_common.hpp"

namespace heaplay {

namespace {

using namespace synth;

constexpr uint32_t kResultsBatch = 8192;   // results kept before a new list is started
constexpr uint32_t kKeepPerMille = 250;    // iterations that append a result
constexpr uint32_t kTimeEvery = 64;        // iterations between time stamps

class NumericSource final : public SynthSource {
 public:
  NumericSource(uint64_t events, uint64_t seed) : SynthSource("numeric", events, seed) {
    py_ = std::make_unique<PyTypes>(strings_);
    label_ = strings_.intern("batch");
  }

 private:
  void generate(PyHeap& h) const override {
    Rng rng(seed_);
    uint64_t now = 1'000'000'000;
    uint32_t results = h.new_list();
    uint32_t counter = kNone;  // the loop variable i (an int past the small-int cache)
    h.mark(label_);
    for (uint64_t step = 0; !h.done(); ++step) {
      if (step % kTimeEvery == 0) {
        now += 2'000 + rng.below(8'000);
        h.time(now);
      }
      uint32_t i = h.new_int();
      if (counter != kNone) h.decref(counter);
      counter = i;

      uint32_t x = h.new_float(), y = h.new_float();
      uint32_t what = rng.below(100);
      if (what < 55) {
        // An arithmetic chain: each temporary dies when the next is made.
        uint32_t acc = h.new_float();
        for (uint32_t k = rng.range(1, 5); k > 0; --k) {
          uint32_t next = h.new_float();
          h.decref(acc);
          acc = next;
        }
        h.decref(acc);
      } else if (what < 80) {
        // zip()/enumerate() tuples holding the operands, unpacked and dropped.
        for (uint32_t k = rng.range(1, 4); k > 0; --k) {
          uint32_t n = rng.range(1, 4);
          uint32_t t = h.new_tuple(n);
          h.link(t, x);
          if (n > 1) h.link(t, y);
          for (uint32_t j = 2; j < n; ++j) h.adopt(t, h.new_float());
          h.decref(t);
        }
      } else if (what < 92) {
        // divmod(i, k): a 2-tuple of fresh ints.
        uint32_t t = h.new_tuple(2);
        h.adopt(t, h.new_int());
        h.adopt(t, h.new_int());
        h.decref(t);
      } else {
        // [f(v) for v in vec]: a short list of floats, summed, dropped.
        uint32_t row = h.new_list();
        for (uint32_t k = rng.range(3, 8); k > 0; --k) h.list_append(row, h.new_float());
        uint32_t sum = h.new_float();
        h.decref(row);
        h.decref(sum);
      }

      if (rng.chance(kKeepPerMille)) {
        if (h.done()) break;
        if (h.aux(results).len == kResultsBatch) {
          h.decref(results);  // handed off and dropped: every result dies
          results = h.new_list();
          h.mark(label_);
          if (results == kNone) break;
        }
        if (rng.below(2)) {
          uint32_t t = h.new_tuple(2);  // results.append((x, y))
          h.link(t, x);
          h.link(t, y);
          h.list_append(results, t);
        } else {
          h.incref(x);  // results.append(x)
          h.list_append(results, x);
        }
      }
      h.decref(x);
      h.decref(y);
    }
  }

  StringId label_;
};

}  // namespace

std::unique_ptr<TraceReader> make_numeric_source(uint64_t events, uint64_t seed) {
  return std::make_unique<NumericSource>(events, seed);
}

}  // namespace heaplay
