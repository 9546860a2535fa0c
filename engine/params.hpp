// params.hpp: every tunable of every layer, with CPython's values per version.
//
// `--python X.Y` picks a whole set (params_for); `--set KEY=VALUE` then
// overrides one value (Params::set). Keys are "layer.name"; the list, with
// units and defaults, is param_docs() and docs/replay.md. Unknown keys and
// bad values are usage errors (Error, exit 2) naming what is accepted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heaplay {

// CPython versions whose allocator parameters heaplay knows.
enum class PythonVersion : uint8_t { V3_8, V3_9, V3_10, V3_11, V3_12, V3_13 };
inline constexpr PythonVersion kDefaultPython = PythonVersion::V3_11;

std::string_view python_name(PythonVersion v);  // "3.11"
// "3.11" or a full version such as "3.11.2" (the trace's python.version);
// throws Error naming the known versions otherwise.
PythonVersion parse_python(std::string_view text);
// As parse_python, but false instead of an error.
bool try_parse_python(std::string_view text, PythonVersion& out);

// How arenas sit against pool boundaries (pymalloc_stats' "arena alignment").
enum class ArenaAlignment : uint8_t {
  Aligned,    // every arena starts on a pool boundary and has all its pools
  Unaligned,  // one pool per arena is lost to alignment (page-aligned mmap, pools > page)
  Trace,      // as the trace records it, per arena (metadata pymalloc.arena_excess)
};
std::string_view arena_alignment_name(ArenaAlignment a);

// The simulated general-purpose malloc (raw sim): dlmalloc/glibc-like.
struct RawParams {
  uint64_t alignment = 16;              // bytes; chunk sizes are multiples of it
  uint64_t header = 8;                  // bytes of chunk overhead per in-use block (glibc: SIZE_SZ)
  uint64_t min_chunk = 32;              // bytes; the smallest chunk
  uint64_t mmap_threshold = 128 << 10;  // bytes; chunks at or above it get their own mapping (if no free space fits)
  uint64_t trim_threshold = 128 << 10;  // bytes; a top chunk at least this big is trimmed to top_pad
  uint64_t top_pad = 128 << 10;         // bytes kept (and added when growing) at the top
  uint64_t page = 4096;                 // bytes; mappings and the heap grow in pages
  // glibc's dynamic threshold: freeing a mapped block at least mmap_threshold
  // (and under 32 MiB) raises mmap_threshold to its size and trim_threshold
  // to twice that. glibc does this unless M_MMAP_THRESHOLD, M_TRIM_THRESHOLD,
  // M_TOP_PAD or M_MMAP_MAX is set; off here so the thresholds stay as given.
  bool mmap_threshold_dynamic = false;
};

// pymalloc (pooled), per Objects/obmalloc.c.
struct PooledParams {
  uint64_t alignment = 16;         // bytes; size classes are multiples of it
  uint64_t small_threshold = 512;  // bytes; larger (and 0-byte) requests go to raw
  uint64_t pool_size = 16 << 10;   // bytes (4 KiB in 3.8/3.9)
  uint64_t arena_size = 1 << 20;   // bytes (256 KiB in 3.8/3.9)
  uint64_t pool_header = 48;       // bytes: sizeof(struct pool_header) rounded to the alignment
  bool keep_last_arena = true;     // an empty arena is kept while it is the last usable one (3.9+)
  ArenaAlignment arena_alignment = ArenaAlignment::Unaligned;
  std::vector<uint32_t> arena_excess;  // Trace: bytes past a pool boundary, per arena allocation
};

// One object-specific free list (objspec): freed objects of `type` whose
// size is at most max_bytes wait for reuse, at most `limit` of them per
// distinct size (CPython keeps one tuple list per length: each length is a
// size here).
struct FreeListSpec {
  std::string type;        // the trace's TYPE tag ("float", "tuple", ...)
  uint32_t limit = 0;      // objects kept per (type, size)
  uint64_t max_bytes = 0;  // bytes; 0: any size
  bool operator==(const FreeListSpec&) const = default;
};

// Object-specific free lists, per the CPython version's Objects/*object.c.
struct ObjspecParams {
  std::vector<FreeListSpec> lists;  // for o objects, by type
  // The N most frequent site tags of a blocks (a malloc trace's call sites)
  // get a free list each, of site_limit blocks per (site, size).
  uint32_t sites = 0;
  uint32_t site_limit = 80;
  // The tags `sites` chose, found by a first pass over the trace before the
  // replay (not a --set key; empty until then).
  std::vector<std::string> site_tags;
};

// CPython's generational cyclic collector (Modules/gcmodule.c).
struct GcParams {
  uint64_t thresholds[3] = {700, 10, 10};  // collections trigger when a generation's count exceeds these
  // Types the collector does not track (their references are external to it);
  // every other type is a container and tracked.
  std::vector<std::string> untracked_types = {"int", "float", "str", "bytes", "bytearray", "complex", "bool", "range"};
};

struct Params {
  PythonVersion python = kDefaultPython;
  RawParams raw;
  PooledParams pooled;
  ObjspecParams objspec;
  GcParams gc;

  // Applies "KEY=VALUE"; throws Error (exit 2) for an unknown key or a bad value.
  void set(std::string_view assignment);
  // Every key of param_docs() with its value as --set would spell it, in that order.
  std::vector<std::pair<std::string, std::string>> items() const;
  // Checks the combination (sizes are powers of two, classes fit in pools, ...).
  void validate() const;
};

Params params_for(PythonVersion v);

class Metadata;
// The parameters for replaying one trace: the version from python_flag
// ("3.11"; empty: the trace's python.version metadata when heaplay knows it,
// else 3.11), then each "KEY=VALUE" of sets in order. With arena alignment
// "trace" and no explicit offsets, the offsets come from the trace's
// pymalloc.arena_excess metadata. note receives a line for the log when the
// trace's version was not usable.
Params params_for_trace(const Metadata& metadata, std::string_view python_flag,
                        const std::vector<std::string>& sets, std::string* note = nullptr);

struct ParamDoc {
  std::string_view key;
  std::string_view unit;         // "bytes", "0|1", "aligned|unaligned|trace", ...
  std::string_view description;
};
const std::vector<ParamDoc>& param_docs();

}  // namespace heaplay
