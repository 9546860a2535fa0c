// commands.cpp: each command as a straight list of phases over the libraries.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <unistd.h>
#include <thread>

#include <fmt/format.h>

#include "cli/options.hpp"
#include "cli/record_python.hpp"
#include "cli/workers.hpp"
#include "engine/os_memory.hpp"
#include "engine/pooled.hpp"
#include "engine/replay.hpp"
#include "engine/replay_run.hpp"
#include "engine/stack.hpp"
#include "reports/compare_report.hpp"
#include "reports/format.hpp"
#include "reports/progress.hpp"
#include "reports/pymalloc_stats.hpp"
#include "reports/render_html.hpp"
#include "reports/replay_report.hpp"
#include "reports/replay_wire.hpp"
#include "reports/stats.hpp"
#include "reports/verify.hpp"
#include "traces/atomic_file.hpp"
#include "traces/error.hpp"
#include "traces/pipeline.hpp"
#include "traces/record.hpp"
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

// The replay job the command line describes (engine/replay_run.hpp).
ReplayJob replay_job(const Options& o, const std::string& stack) {
  ReplayJob job;
  job.input = o.input;
  job.stack = stack;
  job.python = o.python;
  job.sets = o.sets;
  job.raw = o.raw;
  job.touch = o.touch;
  job.max_memory = o.max_memory;
  job.samples = o.samples;
  job.threads = thread_count(o);
  job.lenient = o.lenient;
  return job;
}

// -o DIR: each file appears whole (written beside, then renamed), in the order given.
void write_output_dir(const std::string& dir, const std::vector<std::pair<const char*, std::string>>& files) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the directory: {}", dir, ec.message()), kExitFailure);
  for (const auto& [name, text] : files) {
    AtomicFile out((std::filesystem::path(dir) / name).string());
    out.write(text);
    out.commit();
  }
}

// --html PATH: the report appears whole (written beside, then renamed).
void write_html(const std::string& path, std::span<const ReplayResult> results) {
  AtomicFile out(path);
  out.write(render_html(results));
  out.commit();
}

int run_replay(const Options& o) {
  // Check the command line before reading anything.
  ReplayJob job = replay_job(o, o.stack);
  StackSpec spec = check_replay_job(job);
  if (!o.pymalloc_stats.empty() && !spec.has(LayerKind::Pooled))
    throw Error(fmt::format("--pymalloc-stats needs a stack with the pooled layer (stack {})", spec.name()));
  if (!o.pymalloc_stats.empty()) refuse_same_file(o.input, o.pymalloc_stats);
  if (!o.html.empty()) refuse_same_file(o.input, o.html);
  // The progress bar: on a terminal only, drawn from the Replayer's counter
  // by a small thread, erased before anything else is written.
  std::atomic<uint64_t> done{0};
  std::optional<ProgressThread> bar;
  if (!o.no_progress && o.verbosity >= 0 && isatty(2)) {
    job.progress = &done;
    bar.emplace(done, recorded_event_count(o.input));
  }
  // Replay; pymalloc's own view (--pymalloc-stats) from the finished stack.
  ReplayResult result = replay_trace(job, [&](const Stack& stack) {
    if (bar) bar->stop();  // before --pymalloc-stats and any warning after the replay
    if (o.pymalloc_stats.empty()) return;
    const auto* pooled = dynamic_cast<const PooledLayer*>(stack.find(LayerKind::Pooled));
    AtomicFile out(o.pymalloc_stats);
    out.write(render_pymalloc_stats(pooled->pymalloc_stats()));
    out.commit();
  });
  // The summary last.
  if (!o.out_dir.empty())
    write_output_dir(o.out_dir, {{"timeline.csv", render_timeline_csv(result)},
                                 {"sizeclasses.csv", render_sizeclasses_csv(result)},
                                 {"summary.json", render_replay(result, Format::Json)},
                                 {"summary.csv", render_replay(result, Format::Csv)}});
  if (!o.html.empty()) write_html(o.html, std::span<const ReplayResult>(&result, 1));
  write_stdout(render_replay(result, parse_format(o.format)));
  return 0;
}

// compare: the stacks' names, checked, before anything is read or forked.
std::vector<StackSpec> compare_stacks(const Options& o) {
  if (o.stacks.empty()) throw Error("--stacks needs at least one stack", kExitBadInput);
  std::vector<StackSpec> specs;
  for (const std::string& s : o.stacks) {
    StackSpec spec;
    try {
      spec = parse_stack(s);
    } catch (const Error& e) {
      std::string what = e.what();
      if (what.starts_with("--stack ")) what.insert(7, "s");
      throw Error(what, e.exit_status());
    }
    for (const StackSpec& seen : specs)
      if (seen.name() == spec.name())
        throw Error(fmt::format("--stacks names the stack {} twice", spec.name()), kExitBadInput);
    specs.push_back(std::move(spec));
  }
  return specs;
}

// compare: the raw kinds (--raw, comma-separated; sim when not given), checked.
std::vector<std::string> compare_raws(const Options& o) {
  std::vector<std::string> raws = o.raws.empty() ? std::vector<std::string>{"sim"} : o.raws;
  for (size_t i = 0; i < raws.size(); ++i) {
    parse_raw_kind(raws[i]);
    for (size_t j = 0; j < i; ++j)
      if (raws[j] == raws[i]) throw Error(fmt::format("--raw names {} twice", raws[i]), kExitBadInput);
  }
  return raws;
}

int run_compare(const Options& o) {
  // Check the command line before forking: stacks, raw kinds, --python, --set, the trace's header.
  std::vector<StackSpec> specs = compare_stacks(o);
  std::vector<std::string> raws = compare_raws(o);
  require_rereadable(o.input, "compare reads the trace more than once (its metadata, then once per stack)");
  if (!o.html.empty()) refuse_same_file(o.input, o.html);
  // One task per stack and raw kind, stack by stack (so that each stack's
  // rows sit together, the model's beside the real allocators').
  struct Task {
    std::string stack, raw;
  };
  std::vector<Task> tasks;
  std::vector<std::string> names;  // the workers' names: STACK, or STACK/RAW when --raw names several
  for (const StackSpec& spec : specs) {
    for (const std::string& raw : raws) {
      ReplayJob job = replay_job(o, spec.name());
      job.raw = raw;
      check_replay_job(job);
      tasks.push_back({spec.name(), raw});
      names.push_back(raws.size() > 1 ? spec.name() + "/" + raw : spec.name());
    }
  }
  params_for_trace(trace_metadata(o.input), o.python, o.sets);
  Format format = parse_format(o.format);
  // One worker process per task, --jobs at once; each replays as `heaplay replay` does.
  unsigned jobs = o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  ProgressOptions progress;
  progress.show = !o.no_progress && o.verbosity >= 0 && isatty(2);
  if (progress.show) progress.task_total = recorded_event_count(o.input);
  // --max-memory's default, half the physical memory, is shared by the
  // workers that run at once: together they stay under it.
  const uint64_t max_memory = o.max_memory ? o.max_memory : default_max_memory() / std::min<size_t>(jobs, tasks.size());
  std::vector<WorkerOutcome> outcomes = run_workers(names, jobs, [&](size_t i, std::atomic<uint64_t>* counter) {
    ReplayJob job = replay_job(o, tasks[i].stack);
    job.raw = tasks[i].raw;
    job.max_memory = max_memory;
    job.threads = o.threads ? o.threads : 1;  // the workers share the cores
    job.progress = counter;
    return encode_replay_result(replay_trace(job));
  }, progress);
  // Collect each stack's result or failure, in --stacks order.
  std::vector<CompareRow> rows;
  std::set<std::string> logged;  // the workers' warnings, each distinct line once
  // Exit 2 when every stack that failed did so on bad input (a damaged
  // trace, or one asking for more than the simulated machine has), else 1.
  int status = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    CompareRow row{tasks[i].stack, std::nullopt, outcomes[i].error, tasks[i].raw};
    if (outcomes[i].ok) {
      try {
        row.result = decode_replay_result(outcomes[i].reply);
      } catch (const Error& e) {
        row.error = e.what();
      }
    }
    std::string_view log = outcomes[i].log;
    for (size_t at = 0; at < log.size();) {
      size_t end = std::min(log.find('\n', at), log.size());
      std::string line(log.substr(at, end - at));
      if (!line.empty() && !line.starts_with("heaplay: error: ") && logged.insert(line).second)
        std::fprintf(stderr, "%s\n", line.c_str());
      at = end + 1;
    }
    if (!row.result) {
      const bool bad_input = !outcomes[i].ok && outcomes[i].exit_status == kExitBadInput;
      status = bad_input && status != kExitFailure ? kExitBadInput : kExitFailure;
      spdlog::error("stack {}: {}", names[i], row.error);
    }
    rows.push_back(std::move(row));
  }
  // The files once every worker has finished, the summary last; then stdout.
  if (!o.out_dir.empty())
    write_output_dir(o.out_dir, {{"timeline.csv", render_compare_timeline_csv(rows)},
                                 {"sizeclasses.csv", render_compare_sizeclasses_csv(rows)},
                                 {"summary.json", render_compare(o.input, rows, Format::Json)},
                                 {"summary.csv", render_compare(o.input, rows, Format::Csv)}});
  if (!o.html.empty()) {
    std::vector<ReplayResult> finished;  // the stacks that failed are named on stderr and in the table
    for (const CompareRow& row : rows)
      if (row.result) finished.push_back(*row.result);
    write_html(o.html, finished);
  }
  write_stdout(render_compare(o.input, rows, format));
  return status;
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

int run_record(const Options& o) {
  if (o.record_python) {
    if (o.sites || o.follow_fork)
      throw Error("record --python records the interpreter's own allocator domains: --sites and --follow-fork "
                  "are for programs recorded with the preload library");
    return run_record_python(o);
  }
  // The library runs the program and writes the file; its exit status is ours.
  RecordOptions r;
  r.argv = o.program;
  r.output = o.output;
  r.sites = o.sites;
  r.follow_fork = o.follow_fork;
  return record_program(r);
}

int run_verify(const Options& o) {
  // Replay the recording, compare with what CPython printed; the verdict on stdout.
  VerifyResult v = verify_recording(o.input, thread_count(o));
  write_stdout(render_verify(o.input, v));
  return v.identical() ? 0 : kExitFailure;
}

}  // namespace

int run(const Options& o) {
  if (o.command == "stats") return run_stats(o);
  if (o.command == "replay") return run_replay(o);
  if (o.command == "compare") return run_compare(o);
  if (o.command == "convert") return run_convert(o);
  if (o.command == "synth") return run_synth(o);
  if (o.command == "record") return run_record(o);
  if (o.command == "verify") return run_verify(o);
  throw Error(fmt::format("unknown command '{}'", o.command));
}

}  // namespace heaplay::cli
