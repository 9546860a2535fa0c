// verify.cpp: see verify.hpp.
#include "reports/verify.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "engine/pooled.hpp"
#include "engine/replay_run.hpp"
#include "reports/pymalloc_stats.hpp"
#include "reports/text_diff.hpp"
#include "traces/error.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

namespace {

// Swallows events: reading a whole text trace for its late metadata.
class Discard final : public EventConsumer {
 public:
  void events(std::span<const Event>) override {}
};

// The metadata as at the trace's end: native files by their blocks; other
// formats (a recording converted to text keeps its late keys at the end) by a
// full read.
Metadata final_metadata(const std::string& path) {
  Metadata m = trace_metadata(path);
  if (m.get("pymalloc.stats")) return m;
  auto reader = open_trace(path);
  Discard discard;
  reader->read(discard);
  return reader->info().metadata;
}

}  // namespace

VerifyResult verify_recording(const std::string& path, unsigned threads) {
  require_rereadable(path, "verify reads the trace more than once (its metadata first)");
  const Metadata meta = final_metadata(path);
  const std::string* stats = meta.get("pymalloc.stats");
  if (!stats || stats->empty())
    throw Error(fmt::format("{}: the trace carries no pymalloc statistics to verify against (metadata "
                            "pymalloc.stats: traces recorded by `heaplay record --python` have them)",
                            path),
                kExitBadInput);
  VerifyResult v;
  v.recorded = *stats;
  const std::string* version = meta.get("python.version");
  v.python = version ? *version : "";
  ReplayJob job;
  job.input = path;
  job.stack = "gc+pooled";
  job.python = v.python;  // an unknown version is an error here, not a silent 3.11
  // The alignments as recorded, given explicitly: a text trace has them only at its end.
  const std::string* excess = meta.get("pymalloc.arena_excess");
  job.sets = {"pooled.arena_alignment=" + (excess && !excess->empty() ? *excess : std::string("aligned"))};
  job.threads = threads;
  replay_trace(job, [&](const Stack& stack) {
    const auto* pooled = dynamic_cast<const PooledLayer*>(stack.find(LayerKind::Pooled));
    v.replayed = render_pymalloc_stats(pooled->pymalloc_stats());
  });
  return v;
}

std::string render_verify(const std::string& path, const VerifyResult& v) {
  const auto lines = std::count(v.recorded.begin(), v.recorded.end(), '\n');
  if (v.identical())
    return fmt::format("identical: {}: the replay's pymalloc statistics equal CPython's ({} lines, Python {})\n",
                       path, lines, v.python);
  return fmt::format("different: {}: the replay's pymalloc statistics differ from CPython's (Python {})\n", path,
                     v.python) +
         unified_diff(v.recorded, v.replayed, "recorded (CPython)", "replayed (heaplay)");
}

}  // namespace heaplay
