// synth.cpp: the workload table behind `heaplay synth` (see synth.hpp).
#include "traces/synth.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "traces/error.hpp"

namespace heaplay {

std::unique_ptr<TraceReader> make_synth_source(std::string_view workload, uint64_t events, uint64_t seed,
                                               bool objects) {
  if (!objects && workload != "pylike")
    throw Error(fmt::format("synth: --no-objects applies to pylike only ({} is an object-level workload)", workload),
                kExitBadInput);
  if (workload == "pylike") return make_pylike_source(events, seed, objects);
  if (workload == "service") return make_service_source(events, seed);
  if (workload == "numeric") return make_numeric_source(events, seed);
  if (workload == "graph") return make_graph_source(events, seed);
  throw Error(fmt::format("synth: unknown workload '{}' ({})", workload, fmt::join(kSynthWorkloads, ", ")),
              kExitBadInput);
}

}  // namespace heaplay
