// replay_run.cpp: one whole replay (replay_run.hpp).
#include "engine/replay_run.hpp"

#include <spdlog/spdlog.h>

#include "engine/os_memory.hpp"
#include "engine/site_counts.hpp"
#include "traces/error.hpp"
#include "traces/pipeline.hpp"
#include "traces/reader_thread.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

StackSpec check_replay_job(const ReplayJob& job) {
  StackSpec spec = parse_stack(job.stack);
  parse_raw_kind(job.raw);
  parse_touch(job.touch);
  // The metadata is read first (trace_metadata), objspec.sites makes a pass
  // of its own: a pipe would reach the replay without its first bytes.
  require_rereadable(job.input, "replay reads the trace more than once (its metadata first)");
  return spec;
}

ReplayResult replay_trace(const ReplayJob& job, const std::function<void(const Stack&)>& after) {
  StackSpec spec = check_replay_job(job);
  StackOptions options{parse_raw_kind(job.raw), parse_touch(job.touch),
                       job.max_memory ? job.max_memory : default_max_memory()};
  // The parameters: --python, else the version the trace was recorded with; then --set.
  // The metadata as at the trace's end: a recorder writes the arena alignments
  // (pooled.arena_alignment=trace) after its last frame.
  std::string note;
  Params params = params_for_trace(trace_metadata(job.input), job.python, job.sets, &note);
  if (!note.empty()) spdlog::warn("{}", note);
  ReadOptions r;
  r.lenient = job.lenient;
  r.prefetch = job.threads == 2;
  // objspec.sites: a first pass picks the most frequent site tags.
  if (spec.has(LayerKind::Objspec) && params.objspec.sites > 0)
    params.objspec.site_tags = top_sites(job.input, r, params.objspec.sites);
  MetricsOptions metrics;
  metrics.samples = job.samples;
  metrics.progress = job.progress;
  metrics.expected_records = recorded_event_count(job.input).value_or(0);
  auto finish = [&](const Stack& stack, const Replayer& replayer) {
    ReplayResult result = replayer.finish();
    if (after) after(stack);
    return result;
  };
  if (is_real(options.raw)) {
    // The real malloc heap is measured: read on a worker thread (its own glibc
    // arena), replay on this one, whose arena is the sbrk heap a program uses.
    // A library allocator (raw_real.hpp) serves the replay alone whichever
    // thread reads, but it reads the same way, so that heaplay's own part of
    // the resident set is the same under every real allocator, and the
    // library serves the main thread, as in a single-threaded program.
    ReaderThread reading([&] { return open_trace(job.input, r); });
    Stack stack = build_stack(spec, params, options);
    Replayer replayer(stack, params, options, metrics);
    reading.run(replayer);
    return finish(stack, replayer);
  }
  // Build the stack, then stream the trace through it.
  Stack stack = build_stack(spec, params, options);
  Replayer replayer(stack, params, options, metrics);
  auto reader = open_trace(job.input, r);
  if (job.threads == 2) {
    PipelinedConsumer pipe(replayer);
    reader->read(pipe);
  } else {
    reader->read(replayer);
  }
  return finish(stack, replayer);
}

}  // namespace heaplay
