// render_html.hpp: one self-contained HTML page for one or more replays.
//
// `heaplay replay --html PATH` renders its one result; `heaplay compare`
// renders one per stack. The page fetches nothing (no scripts, no fonts, no
// images; every chart is inline SVG drawn here) and is deterministic: the
// same results and options give the same bytes. Every string from the trace
// or the command line (paths, stack names, parameters) is escaped.
// docs/html-report.md describes the page.
//
// Chart ids, for tests and scripts: chart-footprint (held and live bytes over
// events, every stack), chart-jw4 (J&W #4 overhead per stack),
// chart-fragmentation (where the final held bytes go, per stack),
// chart-throughput (events per second, and gc share where there is gc); the
// summary table is table#summary.
#pragma once

#include <span>
#include <string>

#include "engine/replay.hpp"

namespace heaplay {

struct HtmlOptions {
  std::string title;      // "": "heaplay: " and the trace's name
  std::string generated;  // shown in the header when not empty (a timestamp, say); "" keeps the page deterministic
};

std::string render_html(std::span<const ReplayResult> runs, const HtmlOptions& options = {});

}  // namespace heaplay
