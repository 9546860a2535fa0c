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

// `replay -o DIR`: timeline.csv (one row per sample: stack, event, time_ns,
// live_bytes, allocated_bytes, held_bytes, rss_bytes, arenas, collections)
// and sizeclasses.csv (one row per pooled size class with requests). RFC
// 4180 with a header row; a missing value is an empty field. Rows carry the
// stack's name so that the files of several stacks concatenate.
std::string render_timeline_csv(const ReplayResult& result);
std::string render_sizeclasses_csv(const ReplayResult& result);

}  // namespace heaplay
