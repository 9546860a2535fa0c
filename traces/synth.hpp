// synth.hpp: `heaplay synth` workloads, each a TraceReader generating a
// deterministic trace for (events, seed). docs/synth.md describes them.
//
//   pylike   allocator-level traffic of a CPython service (synth_pylike.hpp)
//   service  object level: a request/response web service (synth_service.cpp)
//   numeric  object level: a numeric loop on float and tuple free lists (synth_numeric.cpp)
//   graph    object level: an ORM-like object graph heavy in cycles (synth_graph.cpp)
//
// Every workload writes exactly `events` records (derived deaths on top).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

inline constexpr std::array<std::string_view, 4> kSynthWorkloads = {"pylike", "service", "numeric", "graph"};

std::unique_ptr<TraceReader> make_service_source(uint64_t events, uint64_t seed);
std::unique_ptr<TraceReader> make_numeric_source(uint64_t events, uint64_t seed);
std::unique_ptr<TraceReader> make_graph_source(uint64_t events, uint64_t seed);

// One of kSynthWorkloads; objects = false (blocks only) exists for pylike
// alone. Throws Error (exit 2) for an unknown workload or objects = false elsewhere.
std::unique_ptr<TraceReader> make_synth_source(std::string_view workload, uint64_t events, uint64_t seed,
                                               bool objects = true);

}  // namespace heaplay
