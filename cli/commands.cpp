// commands.cpp: each command as a straight list of phases over the libraries.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "cli/options.hpp"
#include "engine/pooled.hpp"
#include "engine/replay.hpp"
#include "engine/site_counts.hpp"
#include "engine/stack.hpp"
#include "reports/format.hpp"
#include "reports/pymalloc_stats.hpp"
#include "reports/render_html.hpp"
#include "reports/replay_report.hpp"
#include "reports/stats.hpp"
#include "traces/atomic_file.hpp"
#include "traces/error.hpp"
#include "traces/pipeline.hpp"
#include "traces/reader_thread.hpp"
#include "traces/synth.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::cli {

namespace {

ReadOptions read_options(const Options& o) {
  ReadOptions r;
  r.lenient = o.lenient;
  return r;
}

void write_stdout(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
    throw Error(fmt::format("cannot write to standard output: {}", std::strerror(errno)), kExitFailure);
}

unsigned thread_count(const Options& o) {
  return o.threads ? o.threads : std::thread::hardware_concurrency() >= 2 ? 2 : 1;
}

int run_stats(const Options& o) {
  // Two threads where there are two cores: reading and counting overlap, and
  // native frames are inflated ahead of decoding.
  unsigned threads = thread_count(o);
  ReadOptions r = read_options(o);
  r.prefetch = threads == 2;
  // Open the trace; its format comes from its content.
  auto reader = open_trace(o.input, r);
  // One streaming pass, no allocator model.
  StatsConsumer stats;
  if (threads == 2) {
    PipelinedConsumer pipe(stats);
    reader->read(pipe);
  } else {
    reader->read(stats);
  }
  // Render the finished model.
  write_stdout(render_stats(stats.finish(), parse_format(o.format)));
  return 0;
}

// Writes pymalloc's own view (--pymalloc-stats), the -o DIR files, the HTML
// report (--html), then the summary.
int finish_replay(const Options& o, const Stack& stack, const Replayer& replayer) {
  ReplayResult result = replayer.finish();
  if (!o.pymalloc_stats.empty()) {
    const auto* pooled = dynamic_cast<const PooledLayer*>(stack.find(LayerKind::Pooled));
    AtomicFile out(o.pymalloc_stats);
    out.write(render_pymalloc_stats(pooled->pymalloc_stats()));
    out.commit();
  }
  if (!o.out_dir.empty()) {
    // Each file appears whole (written beside, then renamed), the summary last.
    std::error_code ec;
    std::filesystem::create_directories(o.out_dir, ec);
    if (ec) throw Error(fmt::format("{}: cannot create the directory: {}", o.out_dir, ec.message()), kExitFailure);
    auto write = [&](const char* name, const std::string& text) {
      AtomicFile out((std::filesystem::path(o.out_dir) / name).string());
      out.write(text);
      out.commit();
    };
    write("timeline.csv", render_timeline_csv(result));
    write("sizeclasses.csv", render_sizeclasses_csv(result));
    write("summary.json", render_replay(result, Format::Json));
    write("summary.csv", render_replay(result, Format::Csv));
  }
  if (!o.html.empty()) {
    AtomicFile out(o.html);
    out.write(render_html(std::span<const ReplayResult>(&result, 1)));
    out.commit();
  }
  write_stdout(render_replay(result, parse_format(o.format)));
  return 0;
}

int run_replay(const Options& o) {
  // Check the command line before reading anything.
  StackSpec spec = parse_stack(o.stack);
  StackOptions options{parse_raw_kind(o.raw), parse_touch(o.touch)};
  if (!o.pymalloc_stats.empty() && !spec.has(LayerKind::Pooled))
    throw Error(fmt::format("--pymalloc-stats needs a stack with the pooled layer (stack {})", spec.name()));
  if (!o.pymalloc_stats.empty()) refuse_same_file(o.input, o.pymalloc_stats);
  if (!o.html.empty()) refuse_same_file(o.input, o.html);
  if (o.input == "-" && spec.has(LayerKind::Objspec)) {
    Params probe;  // objspec.sites does not depend on the version
    for (const std::string& s : o.sets) probe.set(s);
    if (probe.objspec.sites > 0)
      throw Error("objspec.sites needs a first pass over the trace, and standard input cannot be read twice; "
                  "give a file (or objspec.sites=0)",
                  kExitBadInput);
  }
  // The parameters: --python, else the version the trace was recorded with; then --set.
  std::string note;
  Params params = params_for_trace(leading_metadata(o.input), o.python, o.sets, &note);
  if (!note.empty()) spdlog::warn("{}", note);
  unsigned threads = thread_count(o);
  ReadOptions r = read_options(o);
  r.prefetch = threads == 2;
  // objspec.sites: a first pass picks the most frequent site tags.
  if (spec.has(LayerKind::Objspec) && params.objspec.sites > 0)
    params.objspec.site_tags = top_sites(o.input, r, params.objspec.sites);
  if (options.raw == RawKind::Glibc) {
    // The real malloc heap is measured: read on a worker thread (its own glibc
    // arena), replay on this one, whose arena is the sbrk heap a program uses.
    ReaderThread reading([&] { return open_trace(o.input, r); });
    Stack stack = build_stack(spec, params, options);
    Replayer replayer(stack, params, options, MetricsOptions{o.samples});
    reading.run(replayer);
    return finish_replay(o, stack, replayer);
  }
  // Build the stack, then stream the trace through it.
  Stack stack = build_stack(spec, params, options);
  Replayer replayer(stack, params, options, MetricsOptions{o.samples});
  auto reader = open_trace(o.input, r);
  if (threads == 2) {
    PipelinedConsumer pipe(replayer);
    reader->read(pipe);
  } else {
    reader->read(replayer);
  }
  return finish_replay(o, stack, replayer);
}

// Streams reader into a new file at o.output; returns what was read.
ReadSummary write_trace(TraceReader& reader, const Options& o) {
  OutputFormat to = o.to.empty() ? output_format_for(o.output) : parse_output_format(o.to);
  WriteOptions w;
  w.zstd_level = o.zstd_level;
  w.frame_events = o.frame_events;
  auto writer = make_writer(o.output, to, w);
  ReadSummary summary = reader.read(*writer);
  // Only now does the output appear, whole.
  writer->commit();
  return summary;
}

int run_convert(const Options& o) {
  // Check the output's format and that it is not the input before reading anything.
  if (o.to.empty()) output_format_for(o.output);
  refuse_same_file(o.input, o.output);
  // Stream every event from the reader into the writer.
  auto reader = open_trace(o.input, read_options(o));
  ReadSummary summary = write_trace(*reader, o);
  spdlog::info("{}: wrote {} events{}", o.output, summary.events,
               summary.truncated ? " (the input was truncated)" : "");
  return 0;
}

int run_synth(const Options& o) {
  // The workload is a reader like any other; write it like a conversion.
  auto source = make_synth_source(o.workload, o.events, o.seed, !o.no_objects);
  ReadSummary summary = write_trace(*source, o);
  spdlog::info("{}: wrote {} events ({} seed {})", o.output, summary.events, o.workload, o.seed);
  return 0;
}

}  // namespace

int run(const Options& o) {
  if (o.command == "stats") return run_stats(o);
  if (o.command == "replay") return run_replay(o);
  if (o.command == "convert") return run_convert(o);
  if (o.command == "synth") return run_synth(o);
  throw Error(fmt::format("unknown command '{}'", o.command));
}

}  // namespace heaplay::cli
