// text_bench.cpp: throughput of the text reader (Google Benchmark).
//
//   BM_TextRead/0  a plain *.trace file -> a consumer that only counts
//   BM_TextRead/1  the same trace compressed with zstd (*.trace.zst)
//   BM_TextRead/2  ... with gzip (*.trace.gz)
//
// The trace is make_pylike_source(HEAPLAY_BENCH_EVENTS, seed 1) written as
// text (default 5M records, about 15 bytes a line). items_per_second counts
// records; bytes_per_second counts the bytes of the file read.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "tests/bench_read.hpp"
#include "tests/test_util.hpp"
#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

// One file per format, written on first use and kept for the process.
const std::string& trace_file(int which) {
  static std::string paths[3];
  static const OutputFormat formats[3] = {OutputFormat::Text, OutputFormat::TextZstd, OutputFormat::TextGzip};
  static const char* names[3] = {"bench.trace", "bench.trace.zst", "bench.trace.gz"};
  if (paths[which].empty()) {
    paths[which] = testing::temp_path(names[which]);
    auto source = make_pylike_source(testing::bench_events(5'000'000), 1);
    auto writer = make_writer(paths[which], formats[which]);
    source->read(*writer);
    writer->commit();
  }
  return paths[which];
}

void BM_TextRead(benchmark::State& state) {
  testing::bench_read_file(state, trace_file(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_TextRead)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace heaplay

BENCHMARK_MAIN();
