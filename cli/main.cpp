// main.cpp: heaplay's entry point: parse the command line, run, report errors once.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <exception>
#include <memory>
#include <mutex>

#include "cli/options.hpp"
#include "engine/malloc_library.hpp"
#include "reports/progress.hpp"
#include "traces/error.hpp"

namespace {

// once: the command reads its input once, so `-` (standard input) or a pipe
// will do; otherwise it must be a file (require_rereadable, traces/trace_io.hpp).
void add_read_options(CLI::App* cmd, heaplay::cli::Options& o, bool once) {
  cmd->add_option("TRACE", o.input,
                  std::string("Trace file (text, .zst/.gz text or native .heaplay; detected from content)") +
                      (once ? "; - reads standard input" : "; read more than once: a file, not - or a pipe"))
      ->required();
  cmd->add_flag("--lenient", o.lenient, "Count bad events as anomalies and carry on instead of stopping");
}

void add_write_options(CLI::App* cmd, heaplay::cli::Options& o) {
  cmd->add_option("--to", o.to, "Output format: text, text.zst, text.gz or native (default: from the name)")
      ->check(CLI::IsMember({"text", "text.zst", "text.gz", "native"}));
  cmd->add_option("--level", o.zstd_level, "zstd compression level")->check(CLI::Range(1, 19))->default_val(3);
  cmd->add_option("--frame-events", o.frame_events, "Native: events per independent frame")
      ->check(CLI::Range(1u, 1u << 20))
      ->default_val(1u << 16);
}

// --format and --threads; work: what the second thread does ("count", "replay").
void add_report_options(CLI::App* cmd, heaplay::cli::Options& o, const std::string& work) {
  cmd->add_option("--format", o.format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->default_val("table");
  cmd->add_option("--threads", o.threads,
                  "1: read and " + work + " on one thread; 2: on two (default where there are two cores)")
      ->check(CLI::Range(1u, 2u));
}

// --python, --set, --raw, --touch and --max-memory (replay; compare: for every
// stack, and --raw takes a comma-separated list there).
void add_stack_options(CLI::App* cmd, heaplay::cli::Options& o, bool compare) {
  cmd->add_option("--python", o.python,
                     "CPython version whose allocator parameters to use: 3.8 to 3.13 "
                     "(default: the trace's own version when recorded, else 3.11)");
  cmd->add_option("--set", o.sets, "Override one parameter, KEY=VALUE (repeatable; see docs/replay.md)")
      ->take_all()
      ->allow_extra_args(false);
  const auto kinds = CLI::IsMember({"sim", "glibc", "jemalloc", "mimalloc", "tcmalloc"});
  const std::string what = "sim (a deterministic model), glibc (this process's malloc), or jemalloc, mimalloc, "
                           "tcmalloc (Debian's libraries, loaded at run time; docs/raw-real.md)";
  if (compare)
    cmd->add_option("--raw", o.raws, "Bottom layers, comma-separated, each replayed with every stack: " + what)
        ->delimiter(',')
        ->check(kinds)
        ->default_str("sim");
  else
    cmd->add_option("--raw", o.raw, "Bottom layer: " + what)->check(kinds)->default_val("sim");
  cmd->add_option("--touch", o.touch, "With a real --raw: write none, the first bytes, or all pages of each block")
      ->check(CLI::IsMember({"none", "first", "all"}))
      ->default_val("none");
  cmd->add_option("--max-memory", o.max_memory,
                  std::string("With a real --raw: stop with an error once the replay holds more than BYTES (K, M, G "
                              "suffixes; default: half the physical memory") +
                      (compare ? ", shared by the workers running at once)" : ")"))
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{1}, std::numeric_limits<uint64_t>::max()));
}

// `record PROGRAM ARGS...`: the words heaplay parses (argv[0, parse)) and
// where PROGRAM starts: after `--`, or at the first word after `record` that
// is neither an option nor the value of -o/--output.
struct RecordSplit {
  int parse, program;
};
RecordSplit split_record_program(int argc, char** argv) {
  int i = 1;
  while (i < argc && std::string_view(argv[i]).starts_with("-")) ++i;  // global options take no values
  if (i == argc || std::string_view(argv[i]) != "record") return {argc, argc};
  for (++i; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") return {i, i + 1};
    if (a == "-o" || a == "--output") {
      ++i;
      continue;
    }
    if (!a.starts_with("-")) return {i, i};
  }
  return {argc, argc};
}

// Log lines to stderr, a progress bar's line erased first (reports/progress.hpp).
class StderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t text;
    formatter_->format(msg, text);
    heaplay::progress_write_log(std::string_view(text.data(), text.size()));
  }
  void flush_() override {}
};

void setup_logging(int verbosity) {
  auto logger = std::make_shared<spdlog::logger>("heaplay", std::make_shared<StderrSink>());
  spdlog::register_logger(logger);
  logger->set_pattern("heaplay: %l: %v");
  logger->set_level(verbosity >= 2   ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                    : verbosity == 0 ? spdlog::level::info
                                     : spdlog::level::err);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  heaplay::cli::Options o;
  CLI::App app{"heaplay: replay and analyze heap allocation traces", "heaplay"};
  app.require_subcommand(1);
  app.fallthrough();  // -v/-q also after the subcommand
  app.set_version_flag("--version", "heaplay 0.1.0");
  int verbose = 0, quiet = 0;
  app.add_flag("-v,--verbose", verbose, "More log output on stderr (repeat for more)");
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");

  auto* stats = app.add_subcommand("stats", "Count events, live bytes, sizes and lifetimes in one streaming pass");
  add_read_options(stats, o, true);
  add_report_options(stats, o, "count");

  auto* replay = app.add_subcommand("replay", "Replay a trace through an allocator stack and measure each layer");
  add_read_options(replay, o, false);
  replay->add_option("--stack", o.stack,
                     "raw, pooled, objspec or gc (cumulative), or layers joined by '+', top to bottom")
      ->default_val("pooled");
  add_stack_options(replay, o, false);
  replay->add_option("--pymalloc-stats", o.pymalloc_stats,
                     "Write the pooled layer's state as sys._debugmallocstats() prints it to PATH ('-': stdout)");
  replay->add_option("-o,--output-dir", o.out_dir,
                     "Also write summary.csv, summary.json, timeline.csv and sizeclasses.csv into DIR (created if needed)");
  replay->add_option("--samples", o.samples, "Timeline rows at most, evenly spaced in events, the final state last")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24))
      ->default_val(1000);
  replay->add_option("--html", o.html,
                     "Also write a self-contained HTML report (charts and the summary) to PATH (docs/html-report.md)");
  replay->add_flag("--no-progress", o.no_progress, "No progress bar on stderr (it is drawn only on a terminal)");
  add_report_options(replay, o, "replay");

  auto* compare = app.add_subcommand(
      "compare", "Replay a trace through several stacks, each in its own worker process, and compare them");
  add_read_options(compare, o, false);
  compare->add_option("--stacks", o.stacks,
                      "Stacks to compare, comma-separated: raw, pooled, objspec, gc or compositions (gc+pooled)")
      ->delimiter(',')
      ->required();
  compare->add_option("--jobs", o.jobs, "Worker processes at once (default: the number of cores)")
      ->check(CLI::Range(1u, 1024u));
  add_stack_options(compare, o, true);  // for every stack
  compare->add_option("-o,--output-dir", o.out_dir,
                      "Also write summary.csv, summary.json, timeline.csv and sizeclasses.csv (all stacks) into DIR");
  compare->add_option("--samples", o.samples, "Timeline rows per stack at most")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24))
      ->default_val(1000);
  compare->add_option("--html", o.html,
                      "Also write a self-contained HTML report of every stack that finished to PATH (docs/html-report.md)");
  compare->add_flag("--no-progress", o.no_progress, "No progress bar on stderr (it is drawn only on a terminal)");
  compare->add_option("--format", o.format, "Output format")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->default_val("table");
  compare->add_option("--threads", o.threads, "Threads per worker: 1 (the default) or 2 (read on a second one)")
      ->check(CLI::Range(1u, 2u));

  auto* convert = app.add_subcommand("convert", "Convert between text and native binary traces");
  add_read_options(convert, o, true);
  convert->add_option("OUT", o.output, "Output file; its extension picks the format unless --to is given")
      ->required();
  add_write_options(convert, o);

  auto* synth = app.add_subcommand("synth", "Write a synthetic trace shaped like a real workload");
  synth->add_option("WORKLOAD", o.workload,
                    "pylike: a CPython service's allocator traffic, with some objects\n"
                    "service: requests building short-lived dict/list/str graphs, a bounded cache, a few cycles\n"
                    "numeric: float and small-tuple churn on free lists, a growing results list\n"
                    "graph: ORM-like sessions of entities with back-references, left in cycles\n"
                    "(docs/synth.md describes each)")
      ->required()
      ->check(CLI::IsMember({"pylike", "service", "numeric", "graph"}));
  synth->add_option("-o,--output", o.output, "Output file (.heaplay, .trace, .trace.zst, .trace.gz)")->required();
  synth->add_option("--events", o.events, "Number of records")->default_val(1'000'000)->check(CLI::PositiveNumber);
  synth->add_option("--seed", o.seed, "Random seed: the same seed gives the same trace")->default_val(1);
  synth->add_flag("--no-objects", o.no_objects, "pylike only: only a/f/r records (a malloc-level trace)");
  add_write_options(synth, o);

  auto* record = app.add_subcommand(
      "record",
      "Run a program and record its heap exactly: every malloc, free and realloc (docs/record.md), or with --python "
      "what CPython's allocator domains see");
  record->add_option("-o,--output", o.output,
                     "Trace to write (native; default: heaplay.PROGRAM.PID.heaplay, with --python the script's "
                     "name with .heaplay)");
  record->add_flag("--sites", o.sites,
                   "Tag each allocation with its immediate caller (module!function+offset); costs time");
  record->add_flag("--follow-fork", o.follow_fork,
                   "Also record the processes the program starts, each into OUTPUT.PID");
  record->add_flag("--python", o.record_python,
                   "PROGRAM is a Python script: run it like python3 in an embedded CPython and record what its "
                   "allocator domains see (docs/record-python.md)");
  record->footer("PROGRAM [ARGS...]: the program to run and its arguments (with --python: SCRIPT.py), after the "
                 "options (or after --)");

  auto* verify = app.add_subcommand(
      "verify", "Replay a Python recording through pymalloc's model and compare with CPython's own statistics");
  verify->add_option("TRACE", o.input, "A trace written by heaplay record --python")->required();
  verify->add_option("--threads", o.threads, "1: read and replay on one thread; 2: on two (default where there are two cores)")
      ->check(CLI::Range(1u, 2u));

  // Name an unknown command instead of CLI11's "A subcommand is required".
  // Global options take no values, so the first word without a dash is the command.
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.starts_with("-")) continue;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->get_name() == a;
    if (!known) {
      std::fprintf(stderr, "heaplay: error: unknown command '%s' (stats, replay, compare, convert, synth, record, verify)\nRun 'heaplay --help' for usage.\n",
                   argv[i]);
      return heaplay::kExitBadInput;
    }
    break;
  }

  // record PROGRAM ARGS...: the program's words never reach CLI11.
  const RecordSplit split = split_record_program(argc, argv);
  for (int i = split.program; i < argc; ++i) o.program.emplace_back(argv[i]);

  try {
    app.parse(split.parse, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "heaplay: error: %s\nRun 'heaplay --help' for usage.\n", e.what());
    return heaplay::kExitBadInput;
  }
  o.command = app.get_subcommands().front()->get_name();
  // jemalloc's dlopen needs static TLS reserved from the process's start
  // (engine/malloc_library.hpp): start again with it, before anything is read.
  if (o.raw == "jemalloc" || std::find(o.raws.begin(), o.raws.end(), "jemalloc") != o.raws.end())
    heaplay::reexec_with_static_tls(argv);
  o.verbosity = verbose - quiet;
  setup_logging(o.verbosity);

  try {
    return heaplay::cli::run(o);
  } catch (const heaplay::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "heaplay: error: %s\n", e.what());
    return e.exit_status();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "heaplay: error: out of memory\n");
    return heaplay::kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "heaplay: error: %s\n", e.what());
    return heaplay::kExitFailure;
  }
}
