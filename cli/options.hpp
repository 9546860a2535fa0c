// options.hpp: the parsed command line, as plain data.
//
// The CLI11 front end fills one of these; commands.cpp runs it. Nothing here
// knows how to parse or how to run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heaplay::cli {

struct Options {
  std::string command;  // "stats", "convert", "synth", "replay", "compare", "record", "verify"
  int verbosity = 0;    // -v: +1 each, -q: -1

  // Every command that reads a trace.
  std::string input;
  bool lenient = false;

  // stats, replay
  std::string format = "table";  // table | csv | json
  unsigned threads = 0;          // 0: 2 where the machine has two cores, else 1

  // replay
  std::string stack = "pooled";    // a named stack or a composition (engine/stack.hpp)
  std::string python;              // "": the trace's version, else 3.11
  std::vector<std::string> sets;   // --set KEY=VALUE, in order
  std::string raw = "sim";         // sim | glibc | jemalloc | mimalloc | tcmalloc
  std::string touch = "none";      // none | first | all (real raw layers)
  uint64_t max_memory = 0;         // --max-memory BYTES (real raw layers); 0: half the physical memory
  std::string pymalloc_stats;      // path or "-"; "": not written
  std::string out_dir;             // -o DIR: summary.csv, summary.json, timeline.csv, sizeclasses.csv; "": none
  uint64_t samples = 1000;         // timeline rows at most
  std::string html;                // --html PATH: the HTML report; "": not written

  // compare (also --python, --set, --touch, --max-memory, -o, --samples, --format)
  std::vector<std::string> stacks;  // --stacks, comma-separated: each a named stack or a composition
  std::vector<std::string> raws;    // --raw, comma-separated: one worker per stack and raw kind
  unsigned jobs = 0;                // worker processes at once; 0: the number of cores
  bool no_progress = false;         // --no-progress

  // convert, synth
  std::string output;
  std::string to;          // "", text, text.zst, text.gz, native
  int zstd_level = 3;
  uint32_t frame_events = 1u << 16;

  // record (-o is output)
  std::vector<std::string> program;  // PROGRAM ARGS...
  bool record_python = false;        // --python: PROGRAM is a Python script (heaplay-python)
  bool sites = false;                // --sites
  bool follow_fork = false;          // --follow-fork

  // synth
  std::string workload;  // pylike, service, numeric, graph (traces/synth.hpp)
  uint64_t events = 1'000'000;
  uint64_t seed = 1;
  bool no_objects = false;
};

// Runs the parsed command; returns the process exit status. Throws heaplay::Error.
int run(const Options& options);

}  // namespace heaplay::cli
