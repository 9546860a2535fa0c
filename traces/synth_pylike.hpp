// synth_pylike.hpp: a synthetic trace shaped like a CPython service's heap traffic.
//
// Deterministic for a given (events, seed, objects): the same stream every
// time, on every machine. It is a TraceReader like any other, validating its
// own output through Lifetimes, so it can feed any consumer or writer; tests
// and benchmarks use it to make large traces without shipping them, and it is
// the seed of `heaplay synth`.
//
// Shape: mostly small requests of CPython's typical sizes (floats, ints, short
// strings, tuples, dicts, frames...) in the obj and mem domains, a tail up to
// 512 bytes, some KiB-sized and rare >128 KiB raw requests; lifetimes mostly
// very short and LIFO-ish, some medium, a few long-lived, a few never freed.
// With objects, typed requests are objects (o) whose references come and go
// (+/-), some small containers own their items (l/u) and a few form cycles.
// Time stamps (t), collections (g) and phase markers (m) are interleaved.
//
// Memory is proportional to the live set, never to the number of events.
#pragma once

#include <cstdint>
#include <memory>

#include "traces/trace_io.hpp"

namespace heaplay {

// events: exactly this many records (Death events come on top, as derived).
std::unique_ptr<TraceReader> make_pylike_source(uint64_t events, uint64_t seed, bool objects = true);

}  // namespace heaplay
