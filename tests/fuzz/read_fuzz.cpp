// read_fuzz.cpp: libFuzzer target for one trace reader, chosen at build time
// (fuzz/CMakeLists.txt compiles this file once per reader):
//
//   HEAPLAY_FUZZ_READER 0  text       (open_text_trace, whatever the first line)
//   HEAPLAY_FUZZ_READER 1  native     (open_native_trace)
//   HEAPLAY_FUZZ_READER 2  heaptrack  (open_heaptrack_trace)
//   HEAPLAY_FUZZ_READER 3  mtrace     (open_mtrace_trace)
//
// (Format detection, open_trace(), is the replay targets' way in.)
//
// The line-based readers get the input through open_decoded_source(), so a
// zstd or gzip input goes through the decompressors as it would from the CLI.
//
// Each input is read three ways and the outcomes compared (read_check.hpp).
#include <memory>
#include <string>

#include "tests/fuzz/read_check.hpp"
#include "traces/formats.hpp"
#include "traces/trace_io.hpp"

#ifndef HEAPLAY_FUZZ_READER
#error "HEAPLAY_FUZZ_READER selects the reader (see the banner)"
#endif

namespace heaplay::fuzz {
namespace {

std::unique_ptr<TraceReader> open_reader(const std::string& path, const ReadOptions& options) {
#if HEAPLAY_FUZZ_READER == 1
  return open_native_trace(path, options);
#else
  TraceInfo info;
  info.path = path;
  auto source = open_decoded_source(path, &info.compression);
  if (options.prefetch && !info.compression.empty()) source = make_read_ahead_source(std::move(source));
#if HEAPLAY_FUZZ_READER == 0
  return open_text_trace(std::move(source), std::move(info), options);
#elif HEAPLAY_FUZZ_READER == 2
  return open_heaptrack_trace(std::move(source), std::move(info), options);
#else
  return open_mtrace_trace(std::move(source), std::move(info), options);
#endif
#endif
}

}  // namespace
}  // namespace heaplay::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace heaplay::fuzz;
  read_three_ways(mem_file().hold(data, size), open_reader, 7);
  return 0;
}
