// replay_report.hpp: rendering a replay's finished model (engine/replay.hpp).
//
// Table for people; JSON with the figures at the top level, "layers" keyed by
// layer name and "params"; CSV as one header row and one row per replay (wide,
// so the CSV of many runs concatenates into one data frame), layer counters
// as "LAYER.COUNTER" columns and parameters as "param.KEY" columns.
// docs/metrics.md defines every figure.
#pragma once

#include <string>

#include "engine/replay.hpp"
#include "reports/format.hpp"

namespace heaplay {

std::string render_replay(const ReplayResult& result, Format format);

}  // namespace heaplay
