// native_frames_fuzz.cpp: libFuzzer target for the native reader's event
// decoder, behind the checksums.
//
// Random bytes rarely get past a native file's CRCs and zstd's content
// checksum, so fuzz_native mostly exercises the block layer. Here the input
// is the *decompressed* content of event frames, and this harness wraps it
// into a well-formed file (BlockEncoder: magic, header block, CRCs, one
// compressed zstd frame per frame), so every mutation reaches the frame
// parser and the decoder's hot loop (docs/trace-format.md, "Event frames").
//
// Input layout:
//   byte 0      bit 0: format version 1 (else 2); bit 1: no end block
//   then frames, each:
//     int8      count adjustment: the frame's count is the records its ops
//               stream stands for (worked out here), plus this
//     u16 LE    content length n (clipped to what is left)
//     n bytes   the frame's decompressed content
// The file is then read three ways and the outcomes compared, as fuzz_native
// reads its inputs (read_check.hpp).
#include <algorithm>
#include <string>

#include "tests/fuzz/read_check.hpp"
#include "traces/formats.hpp"
#include "traces/native_format.hpp"

namespace heaplay::fuzz {
namespace {

using namespace heaplay::native;

// The records an ops stream stands for, or the stream's length when the
// content's layout does not parse (the reader will say why).
uint32_t records_in(std::string_view content, uint32_t version) {
  const auto* p = reinterpret_cast<const uint8_t*>(content.data());
  VarintReader r(p, p + content.size());
  uint64_t strings = r.get();
  for (uint64_t i = 0; i < strings && r.ok(); ++i) {
    const uint8_t* s;
    r.bytes(r.get(), &s);
  }
  uint64_t ops = r.get();
  for (int i = 1; i < kStreams; ++i) (void)r.get();
  const uint8_t* op = nullptr;
  if (!r.ok() || !r.bytes(ops, &op)) return static_cast<uint32_t>(std::min<uint64_t>(ops, kMaxFrameEvents));
  uint64_t records = 0;
  for (uint64_t i = 0; i < ops; ++i)
    records += version >= 2 && op[i] >= kOpAllocFree && op[i] < kOpCount ? 2 : 1;
  return static_cast<uint32_t>(std::min<uint64_t>(records, kMaxFrameEvents));
}

std::string build_file(const uint8_t* data, size_t size) {
  static BlockEncoder blocks(1);
  std::string file;
  const uint8_t flags = size ? data[0] : 0;
  const uint32_t version = flags & 1 ? 1 : 2;
  file += blocks.prologue({{"source", "fuzz"}}, version);
  uint64_t total = 0;
  size_t i = 1;
  while (i + 3 <= size) {
    const int adjust = static_cast<int8_t>(data[i]);
    size_t n = data[i + 1] | size_t{data[i + 2]} << 8;
    i += 3;
    n = std::min(n, size - i);
    std::string_view content(reinterpret_cast<const char*>(data + i), n);
    i += n;
    const int64_t count = std::clamp<int64_t>(int64_t{records_in(content, version)} + adjust, 0, kMaxFrameEvents);
    file += blocks.events(static_cast<uint32_t>(count), content);
    total += static_cast<uint64_t>(count);
  }
  if (!(flags & 2)) file += blocks.end(total);
  return file;
}

}  // namespace
}  // namespace heaplay::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace heaplay::fuzz;
  std::string file = build_file(data, size);
  const std::string& path = mem_file().hold(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  // open_native_trace has a ByteSource overload too: name the path one.
  read_three_ways(path, [](const std::string& p, const heaplay::ReadOptions& o) { return heaplay::open_native_trace(p, o); }, 5);
  return 0;
}
