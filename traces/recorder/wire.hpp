// wire.hpp: what the preload library (recorder/preload.cpp) sends to
// `heaplay record` (traces/record*.cpp) over its socket.
//
// One stream socket per recorded process image. It starts with one Hello,
// then carries Chunks: a ChunkHeader, then `count` fixed-size Records made by
// one thread, in the order that thread made them. Every interposed call takes
// one number from a per-process counter (two for realloc), so the parent can
// merge the threads' streams back into one order (docs/record.md says why
// that order replays correctly). A Site record (sites mode) has no sequence
// number: it names a caller address before the records that use it, in the
// same thread's stream, and the text follows in the next record slots.
//
// Plain data only, host byte order (both ends run on the same machine): this
// header is shared by a dependency-free shared library and the parent.
#pragma once

#include <cstdint>

namespace heaplay::record_wire {

inline constexpr uint32_t kHelloMagic = 0x48524c48;  // "HLRH" little-endian
inline constexpr uint32_t kChunkMagic = 0x43524c48;  // "HLRC"
inline constexpr uint32_t kVersion = 1;

// The environment the parent gives the program.
inline constexpr const char* kSocketEnv = "HEAPLAY_RECORD_SOCKET";  // abstract socket name, without the NUL
inline constexpr const char* kFlagsEnv = "HEAPLAY_RECORD_FLAGS";    // comma-separated: sites, follow
inline constexpr const char* kRootEnv = "HEAPLAY_RECORD_ROOT";      // the recorded process's pid (decimal)

enum class HelloKind : uint32_t {
  Start = 0,  // the library initialized in a new image (the program, or one it exec'ed)
  Fork = 1,   // a forked child, followed (--follow-fork)
};

// Records carry clock ticks, the cheapest clock at hand: the x86-64 time
// stamp counter (rdtsc, about half the cost of clock_gettime, which was the
// largest single cost of a recorded call), nanoseconds elsewhere. The Hello
// and every ChunkHeader pair ticks with CLOCK_MONOTONIC read at the same
// moment, and the parent maps ticks to nanoseconds through those pairs.
enum class ClockKind : uint32_t { Nanoseconds = 0, Tsc = 1 };

struct Hello {
  uint32_t magic = kHelloMagic;
  uint32_t version = kVersion;
  uint64_t pid = 0;
  uint64_t ppid = 0;
  HelloKind kind = HelloKind::Start;
  ClockKind clock = ClockKind::Nanoseconds;
  uint64_t ticks = 0;         // the record clock when it connected...
  uint64_t monotonic_ns = 0;  // ...and CLOCK_MONOTONIC then
  uint32_t cmdline_bytes = 0;  // then this many bytes of /proc/self/cmdline (NUL-separated words)
  uint32_t reserved = 0;
};
static_assert(sizeof(Hello) == 56);
inline constexpr uint32_t kMaxCmdline = 4096;

// The interposed call a record stands for. The allocation ops are recorded
// after the real call returned a block; Free before the real free; a realloc
// of a block is two records, From before the real call and To after it.
enum Op : uint8_t {
  kMalloc = 1,
  kCalloc,
  kPosixMemalign,
  kAlignedAlloc,
  kMemalign,
  kValloc,
  kPvalloc,
  kReallocNull,       // realloc(NULL, n): an allocation
  kReallocarrayNull,  // reallocarray(NULL, n, m)
  kFree,
  kReallocFrom,       // addr: the block given; size unused
  kReallocTo,         // addr: the block returned (0: failed, or freed when size is 0); size: bytes asked
  kReallocarrayFrom,
  kReallocarrayTo,
  kSite,              // addr: caller; size: text bytes; caller: offset; seq bit 0: the text has a symbol
  kOps
};

inline constexpr bool is_allocation(uint8_t op) { return op >= kMalloc && op <= kReallocarrayNull; }

struct Record {
  uint64_t seq_op = 0;   // sequence number << 8 | Op (kSite: 0 << 8 | kSite)
  uint64_t ticks = 0;    // the record clock (see ClockKind) when the number was taken
  uint64_t addr = 0;     // the block (allocation ops: returned; Free, ReallocFrom: given)
  uint64_t size = 0;     // bytes asked for (calloc: n * size)
  uint64_t caller = 0;   // the immediate caller's return address (sites mode), else 0
  uint8_t op() const { return static_cast<uint8_t>(seq_op); }
  uint64_t seq() const { return seq_op >> 8; }
};
static_assert(sizeof(Record) == 40);

// Site text: "module path" NUL "symbol" (the symbol may be empty), at most
// this long, in ceil(size / sizeof(Record)) record slots after the kSite record.
inline constexpr uint32_t kMaxSiteText = 1024;
inline constexpr uint32_t site_slots(uint64_t text_bytes) {
  return static_cast<uint32_t>((text_bytes + sizeof(Record) - 1) / sizeof(Record));
}

struct ChunkHeader {
  uint32_t magic = kChunkMagic;
  uint32_t count = 0;         // record slots that follow
  uint64_t tid = 0;           // the thread that made them (Linux thread id)
  uint64_t ticks = 0;         // the record clock when the chunk was sent...
  uint64_t monotonic_ns = 0;  // ...and CLOCK_MONOTONIC then
};
static_assert(sizeof(ChunkHeader) == 32);

// A chunk is at most this many record slots (a thread's ring).
inline constexpr uint32_t kMaxChunkRecords = 1u << 16;

}  // namespace heaplay::record_wire
