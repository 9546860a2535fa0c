// bench_read.hpp: the body every whole-file reading benchmark shares.
//
// Reads path with open_trace into a consumer that only counts, once per
// iteration; items are records (Death events excluded, as in ReadSummary),
// bytes the file's size per iteration (compressed bytes for .zst and .gz).
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "tests/test_util.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::testing {

inline void bench_read_file(benchmark::State& state, const std::string& path) {
  uint64_t records = 0;
  for (auto _ : state) {
    CountingConsumer c;
    records += open_trace(path)->read(c).events;
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
  state.SetBytesProcessed(static_cast<int64_t>(std::filesystem::file_size(path)) *
                          static_cast<int64_t>(state.iterations()));
}

}  // namespace heaplay::testing
