// replay_fuzz.cpp: libFuzzer target replaying arbitrary bytes through one
// allocator stack, chosen at build time (fuzz/CMakeLists.txt compiles this
// file once per stack): HEAPLAY_FUZZ_STACK is "raw", "pooled", "objspec" or
// "gc", with raw sim at the bottom.
//
// The input is a trace in any format (open_trace() detects it; the seeds are
// mostly text, which mutates best). It is replayed as `heaplay replay
// --lenient` does, through replay_trace(): so the events are valid ones
// (the readers drop the rest), and what is fuzzed is what valid but hostile
// streams do to the engine: sizes up to 2^64-1, millions of slots, deep
// reference graphs, collections at any moment. The result is then rendered
// in every form the CLI writes (table, CSV, JSON, timeline and size-class
// CSV, HTML, pymalloc's statistics) and sent through compare's wire encoding.
//
// Findings: as fuzz_util.hpp says (any exception but Error with status 2
// naming the file; an invariant check failing is status 1), plus a wire
// encoding that does not survive a round trip.
#include <string>

#include "engine/pooled.hpp"
#include "engine/replay_run.hpp"
#include "tests/fuzz/fuzz_util.hpp"
#include "reports/pymalloc_stats.hpp"
#include "reports/render_html.hpp"
#include "reports/replay_report.hpp"
#include "reports/replay_wire.hpp"

#ifndef HEAPLAY_FUZZ_STACK
#error "HEAPLAY_FUZZ_STACK names the stack (raw, pooled, objspec or gc)"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace heaplay;
  const std::string& path = fuzz::mem_file().hold(data, size);
  ReplayJob job;
  job.input = path;
  job.stack = HEAPLAY_FUZZ_STACK;
  job.lenient = true;
  job.samples = 5;  // a timeline with few rows: the sampler's thinning runs early
  // objspec: the first pass that picks the commonest sites runs too.
  if (job.stack == "objspec") job.sets.push_back("objspec.sites=3");
  std::string pymalloc;
  try {
    ReplayResult r = replay_trace(job, [&](const Stack& stack) {
      if (const auto* pooled = dynamic_cast<const PooledLayer*>(stack.find(LayerKind::Pooled)))
        pymalloc = render_pymalloc_stats(pooled->pymalloc_stats());
    });
    for (Format f : {Format::Table, Format::Csv, Format::Json}) (void)render_replay(r, f);
    (void)render_timeline_csv(r);
    (void)render_sizeclasses_csv(r);
    (void)render_html(std::span<const ReplayResult>(&r, 1));
    const std::string wire = encode_replay_result(r);
    if (encode_replay_result(decode_replay_result(wire)) != wire)
      fuzz::finding("compare's wire encoding", "decode(encode(result)) encodes differently");
  } catch (const Error& e) {
    fuzz::check_error(e, path);
  }
  return 0;
}
