// params.cpp: CPython's allocator parameters per version, and --set.
//
// Facts from Objects/obmalloc.c of each version: 3.8 and 3.9 use 4 KiB pools
// in 256 KiB arenas; 3.10 (with the arena radix tree) moved to 16 KiB pools in
// 1 MiB arenas. The pool header is 48 bytes on 64-bit builds in every version.
#include "engine/params.hpp"

#include <bit>
#include <charconv>
#include <fmt/format.h>

#include "traces/consumer.hpp"
#include "traces/error.hpp"

namespace heaplay {

namespace {

struct VersionName {
  PythonVersion v;
  std::string_view name;
};
constexpr VersionName kVersions[] = {
    {PythonVersion::V3_8, "3.8"},   {PythonVersion::V3_9, "3.9"},   {PythonVersion::V3_10, "3.10"},
    {PythonVersion::V3_11, "3.11"}, {PythonVersion::V3_12, "3.12"}, {PythonVersion::V3_13, "3.13"},
};

std::string known_versions() {
  std::string s;
  for (const auto& k : kVersions) s += (s.empty() ? "" : ", ") + std::string(k.name);
  return s;
}

[[noreturn]] void bad_value(std::string_view key, std::string_view value, std::string_view expected) {
  throw Error(fmt::format("--set {}={}: expected {}", key, value, expected), kExitBadInput);
}

uint64_t parse_bytes(std::string_view key, std::string_view value) {
  // A plain number, or one with a K/M/G suffix (KiB, MiB, GiB).
  uint64_t n = 0, scale = 1;
  std::string_view digits = value;
  if (!digits.empty()) {
    char last = digits.back();
    if (last == 'K' || last == 'k') scale = 1 << 10;
    if (last == 'M' || last == 'm') scale = 1 << 20;
    if (last == 'G' || last == 'g') scale = 1 << 30;
    if (scale != 1) digits.remove_suffix(1);
  }
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() || n > UINT64_MAX / scale)
    bad_value(key, value, "a number of bytes (optionally with K, M or G)");
  return n * scale;
}

bool parse_flag(std::string_view key, std::string_view value) {
  if (value == "1" || value == "true" || value == "yes") return true;
  if (value == "0" || value == "false" || value == "no") return false;
  bad_value(key, value, "0 or 1");
}

// Comma-separated items; "" and "-" are the empty list.
std::vector<std::string_view> split_commas(std::string_view value) {
  std::vector<std::string_view> out;
  if (value.empty() || value == "-") return out;
  size_t start = 0;
  while (true) {
    size_t comma = value.find(',', start);
    out.push_back(value.substr(start, comma == std::string_view::npos ? value.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

uint64_t parse_count(std::string_view key, std::string_view value, std::string_view item, uint64_t max) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
  if (item.empty() || ec != std::errc() || p != item.data() + item.size() || n > max)
    bad_value(key, value, fmt::format("whole numbers up to {}", max));
  return n;
}

// TYPE:LIMIT[:MAXBYTES],...
std::vector<FreeListSpec> parse_lists(std::string_view key, std::string_view value) {
  std::vector<FreeListSpec> out;
  for (std::string_view item : split_commas(value)) {
    size_t c1 = item.find(':');
    if (c1 == 0 || c1 == std::string_view::npos)
      bad_value(key, value, "TYPE:LIMIT[:MAXBYTES] items separated by commas (or - for none)");
    size_t c2 = item.find(':', c1 + 1);
    FreeListSpec spec;
    spec.type = std::string(item.substr(0, c1));
    std::string_view limit = item.substr(c1 + 1, c2 == std::string_view::npos ? item.npos : c2 - c1 - 1);
    spec.limit = static_cast<uint32_t>(parse_count(key, value, limit, UINT32_MAX));
    if (c2 != std::string_view::npos) spec.max_bytes = parse_bytes(key, item.substr(c2 + 1));
    for (const FreeListSpec& other : out)
      if (other.type == spec.type) bad_value(key, value, fmt::format("each type once ('{}' appears twice)", spec.type));
    out.push_back(std::move(spec));
  }
  return out;
}

std::string lists_text(const std::vector<FreeListSpec>& lists) {
  if (lists.empty()) return "-";
  std::string s;
  for (const FreeListSpec& l : lists) {
    s += fmt::format("{}{}:{}", s.empty() ? "" : ",", l.type, l.limit);
    if (l.max_bytes) s += fmt::format(":{}", l.max_bytes);
  }
  return s;
}

std::string words_text(const std::vector<std::string>& words) {
  if (words.empty()) return "-";
  std::string s;
  for (const std::string& w : words) s += (s.empty() ? "" : ",") + w;
  return s;
}

std::vector<uint32_t> parse_excess_list(std::string_view key, std::string_view value) {
  std::vector<uint32_t> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    std::string_view item = value.substr(start, comma == std::string_view::npos ? value.npos : comma - start);
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size())
      bad_value(key, value, "a comma-separated list of byte offsets");
    out.push_back(n);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// CPython's object free lists per version. Sizes are the bytes CPython
// requests for the object on a 64-bit build, GC header (16 bytes since 3.8)
// included for GC types; the types with lists here are built-ins, which have
// no managed-dict pre-header (3.11+ adds one only to classes with
// Py_TPFLAGS_MANAGED_DICT / _WEAKREF). docs/objspec.md has the table.
std::vector<FreeListSpec> default_free_lists(PythonVersion v) {
  using V = PythonVersion;
  const bool v38 = v == V::V3_8, before_311 = v == V::V3_8 || v == V::V3_9 || v == V::V3_10;
  std::vector<FreeListSpec> lists;
  // floatobject.c, free_list / PyFloat_MAXFREELIST (pycore_floatobject.h from 3.10,
  // pycore_freelist.h in 3.13): 100 float objects, all 24 bytes.
  lists.push_back({"float", 100, 0});
  // tupleobject.c, free_list[] / numfree[] with PyTuple_MAXFREELIST 2000 per length.
  // Tuple of length n: 16 (GC) + 24 (var header) + 8n bytes.
  //  3.8-3.10: lists indexed by length for lengths below PyTuple_MAXSAVESIZE (20):
  //            lengths 1..19, at most 16 + 24 + 8 * 19 = 192 bytes.
  //  3.11-3.13: maybe_freelist_push keeps lengths 1..20 (index = length - 1 <
  //            PyTuple_NFREELISTS = 20): 200 bytes. (3.11's maybe_freelist_pop only
  //            reuses lengths below 20; 3.13's reuses 1..20; see docs/objspec.md.)
  lists.push_back({"tuple", 2000, before_311 ? 192u : 200u});
  // listobject.c, free_list / PyList_MAXFREELIST: 80 list objects (56 bytes; the
  // item array is a separate request).
  lists.push_back({"list", 80, 0});
  // dictobject.c, free_list / PyDict_MAXFREELIST: 80 dict objects (64 bytes).
  lists.push_back({"dict", 80, 0});
  // dictobject.c, keys_free_list (new_keys_object / free_keys_object): 80 keys
  // objects, but only of the minimum size; the trace tags keys objects
  // "dict_keys" (they have no Python type). max_bytes selects that size:
  //  3.8-3.10: dk_size == PyDict_MINSIZE (8): 40 (header) + 8 (indices) + 5 * 24
  //            (entries) = 168 bytes; the next size is 296.
  //  3.11+:   log2 size PyDict_LOG_MINSIZE (3) and unicode keys only: 32 + 8 + 5 * 16
  //            = 120 bytes; a minimum general (non-unicode) keys object is 160 and
  //            the next unicode size 208, so 120 picks exactly the cached kind.
  lists.push_back({"dict_keys", 80, before_311 ? 168u : 120u});
  // genobject.c, ag_value_freelist / ag_asend_freelist, _PyAsyncGen_MAXFREELIST 80 each.
  lists.push_back({"async_generator_wrapped_value", 80, 0});
  lists.push_back({"async_generator_asend", 80, 0});
  // Python/context.c, ctx_freelist / PyContext_MAXFREELIST 255; tp_name "_contextvars.Context".
  lists.push_back({"_contextvars.Context", 255, 0});
  if (before_311) {
    // frameobject.c, free_list / PyFrame_MAXFREELIST 200 (interp->frame from 3.10);
    // 3.11 made frame objects lazy and dropped the list. CPython's limit is over all
    // sizes and a reused frame is resized; here it is per size (docs/objspec.md).
    lists.push_back({"frame", 200, 0});
  }
  if (v38) {
    // classobject.c PyMethod_MAXFREELIST and methodobject.c PyCFunction_MAXFREELIST,
    // 256 each; both removed in 3.9 (bpo-37340).
    lists.push_back({"method", 256, 0});
    lists.push_back({"builtin_function_or_method", 256, 0});
  }
  // Not listed: sliceobject.c's one-slice cache (slice_cache; 3.13 _Py_slice_freelist):
  // a full collection does not clear it (3.13 _PySlice_ClearFreeList only at
  // finalization), while clear_caches() empties every list; add slice:1 with --set.
  return lists;
}

}  // namespace

std::string_view python_name(PythonVersion v) {
  for (const auto& k : kVersions)
    if (k.v == v) return k.name;
  return "?";
}

bool try_parse_python(std::string_view text, PythonVersion& out) {
  // "3.11" or "3.11.2" or "3.11.2+" (anything after the minor version's dot).
  for (const auto& k : kVersions) {
    if (text == k.name || (text.starts_with(k.name) && text.size() > k.name.size() && text[k.name.size()] == '.')) {
      out = k.v;
      return true;
    }
  }
  return false;
}

PythonVersion parse_python(std::string_view text) {
  PythonVersion v;
  if (!try_parse_python(text, v))
    throw Error(fmt::format("unknown Python version '{}' (known: {})", text, known_versions()), kExitBadInput);
  return v;
}

std::string_view arena_alignment_name(ArenaAlignment a) {
  switch (a) {
    case ArenaAlignment::Aligned: return "aligned";
    case ArenaAlignment::Unaligned: return "unaligned";
    case ArenaAlignment::Trace: return "trace";
  }
  return "?";
}

Params params_for(PythonVersion v) {
  Params p;
  p.python = v;
  if (v == PythonVersion::V3_8 || v == PythonVersion::V3_9) {
    p.pooled.pool_size = 4 << 10;
    p.pooled.arena_size = 256 << 10;
    // Arenas are mmap'ed, so page-aligned, and a 4 KiB pool is a page: no pool is lost.
    p.pooled.arena_alignment = ArenaAlignment::Aligned;
  }
  // bpo-37257 (keep the last wholly free arena, against thrashing) is in 3.9 and later;
  // tests/pooled_oracle_test.cpp confirms it against libpython 3.8.18 and 3.9.18.
  p.pooled.keep_last_arena = v != PythonVersion::V3_8;
  p.objspec.lists = default_free_lists(v);
  // Modules/gcmodule.c: (700, 10, 10) through 3.12; 3.13 raised the first threshold to 2000.
  if (v == PythonVersion::V3_13) p.gc.thresholds[0] = 2000;
  return p;
}

Params params_for_trace(const Metadata& metadata, std::string_view python_flag,
                        const std::vector<std::string>& sets, std::string* note) {
  PythonVersion v = kDefaultPython;
  if (!python_flag.empty()) {
    v = parse_python(python_flag);
  } else if (const std::string* recorded = metadata.get("python.version")) {
    if (!try_parse_python(*recorded, v)) {
      v = kDefaultPython;
      if (note)
        *note = fmt::format("the trace was recorded by Python {}, whose allocator heaplay does not know; "
                            "replaying with {} (use --python to choose)",
                            *recorded, python_name(v));
    }
  }
  Params p = params_for(v);
  for (const std::string& s : sets) p.set(s);
  if (p.pooled.arena_alignment == ArenaAlignment::Trace && p.pooled.arena_excess.empty()) {
    const std::string* recorded = metadata.get("pymalloc.arena_excess");
    if (!recorded || recorded->empty())
      throw Error("pooled.arena_alignment=trace: the trace records no arena alignment (metadata "
                  "pymalloc.arena_excess); use aligned, unaligned or a list of offsets",
                  kExitBadInput);
    p.set("pooled.arena_alignment=" + *recorded);
  }
  return p;
}

const std::vector<ParamDoc>& param_docs() {
  static const std::vector<ParamDoc> docs = {
      {"raw.alignment", "bytes", "chunk sizes and addresses are multiples of this (16)"},
      {"raw.header", "bytes", "overhead of an in-use chunk (glibc: 8, the size field)"},
      {"raw.min_chunk", "bytes", "smallest chunk, header included (32)"},
      {"raw.mmap_threshold", "bytes",
       "a chunk (request plus header, rounded) of at least this many bytes that no free chunk or the top can hold "
       "gets a mapping of its own (128K)"},
      {"raw.trim_threshold", "bytes",
       "after a free of 64K or more, a top chunk of at least this size is given back to the OS down to "
       "raw.top_pad, in whole pages (128K)"},
      {"raw.top_pad", "bytes", "extra bytes taken when the heap grows, and kept when it is trimmed (128K)"},
      {"raw.page", "bytes", "page size: mappings and heap growth are rounded to it (4096)"},
      {"raw.mmap_threshold_dynamic", "0|1",
       "glibc's sliding threshold: freeing a mapped block raises raw.mmap_threshold to its size (below 32M) and "
       "raw.trim_threshold to twice that (0; glibc's own default is 1)"},
      {"pooled.alignment", "bytes", "size-class granularity (16)"},
      {"pooled.small_threshold", "bytes", "largest request served from pools (512); larger ones go to raw"},
      {"pooled.pool_size", "bytes", "pool size (16K from 3.10, 4K before)"},
      {"pooled.arena_size", "bytes", "arena size (1M from 3.10, 256K before)"},
      {"pooled.pool_header", "bytes", "pool header, rounded to the alignment (48)"},
      {"pooled.keep_last_arena", "0|1", "keep a wholly free arena while it is the last usable one (1 from 3.9)"},
      {"pooled.arena_alignment", "aligned|unaligned|trace|LIST",
       "arenas start on a pool boundary (aligned; the default with 4K pools), lose one pool to alignment "
       "(unaligned; the default with 16K pools, as page-aligned mmaps do), "
       "follow the trace's pymalloc.arena_excess metadata (trace), or a comma list of byte offsets "
       "past a pool boundary, one per arena allocation, the last repeating"},
      {"objspec.lists", "TYPE:LIMIT[:MAXBYTES],...",
       "free lists for o objects: a freed object of TYPE and at most MAXBYTES bytes (0 or absent: any) waits for "
       "reuse, up to LIMIT per distinct size (CPython's lists per --python, docs/objspec.md; - for none)"},
      {"objspec.sites", "count",
       "give the N most frequent site tags of a blocks (a malloc trace's call sites) a free list each (0)"},
      {"objspec.site_limit", "count", "blocks kept per (site, size) by objspec.sites lists (80)"},
      {"gc.thresholds", "A,B,C", "collection thresholds of generations 0, 1, 2 (700,10,10; 2000,10,10 in 3.13)"},
      {"gc.untracked_types", "TYPE,...",
       "types the collector does not track (int,float,str,bytes,bytearray,complex,bool,range; - for none)"},
  };
  return docs;
}

void Params::set(std::string_view assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0)
    throw Error(fmt::format("--set {}: expected KEY=VALUE", assignment), kExitBadInput);
  std::string_view key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  if (key == "raw.alignment") raw.alignment = parse_bytes(key, value);
  else if (key == "raw.header") raw.header = parse_bytes(key, value);
  else if (key == "raw.min_chunk") raw.min_chunk = parse_bytes(key, value);
  else if (key == "raw.mmap_threshold") raw.mmap_threshold = parse_bytes(key, value);
  else if (key == "raw.trim_threshold") raw.trim_threshold = parse_bytes(key, value);
  else if (key == "raw.top_pad") raw.top_pad = parse_bytes(key, value);
  else if (key == "raw.page") raw.page = parse_bytes(key, value);
  else if (key == "raw.mmap_threshold_dynamic") raw.mmap_threshold_dynamic = parse_flag(key, value);
  else if (key == "pooled.alignment") pooled.alignment = parse_bytes(key, value);
  else if (key == "pooled.small_threshold") pooled.small_threshold = parse_bytes(key, value);
  else if (key == "pooled.pool_size") pooled.pool_size = parse_bytes(key, value);
  else if (key == "pooled.arena_size") pooled.arena_size = parse_bytes(key, value);
  else if (key == "pooled.pool_header") pooled.pool_header = parse_bytes(key, value);
  else if (key == "pooled.keep_last_arena") pooled.keep_last_arena = parse_flag(key, value);
  else if (key == "pooled.arena_alignment") {
    pooled.arena_excess.clear();
    if (value == "aligned") pooled.arena_alignment = ArenaAlignment::Aligned;
    else if (value == "unaligned") pooled.arena_alignment = ArenaAlignment::Unaligned;
    else if (value == "trace") pooled.arena_alignment = ArenaAlignment::Trace;
    else if (!value.empty() && value[0] >= '0' && value[0] <= '9') {
      pooled.arena_alignment = ArenaAlignment::Trace;
      pooled.arena_excess = parse_excess_list(key, value);
    } else {
      bad_value(key, value, "aligned, unaligned, trace or a list of byte offsets");
    }
  } else if (key == "objspec.lists") {
    objspec.lists = parse_lists(key, value);
  } else if (key == "objspec.sites") {
    objspec.sites = static_cast<uint32_t>(parse_count(key, value, value, 1u << 20));
  } else if (key == "objspec.site_limit") {
    objspec.site_limit = static_cast<uint32_t>(parse_count(key, value, value, UINT32_MAX));
  } else if (key == "gc.thresholds") {
    auto items = split_commas(value);
    if (items.size() != 3) bad_value(key, value, "three thresholds A,B,C");
    for (int g = 0; g < 3; ++g) gc.thresholds[g] = parse_count(key, value, items[g], UINT32_MAX);
  } else if (key == "gc.untracked_types") {
    gc.untracked_types.clear();
    for (std::string_view w : split_commas(value)) {
      if (w.empty()) bad_value(key, value, "type names separated by commas (or - for none)");
      gc.untracked_types.emplace_back(w);
    }
  } else {
    std::string keys;
    for (const auto& d : param_docs()) keys += (keys.empty() ? "" : ", ") + std::string(d.key);
    throw Error(fmt::format("--set: unknown key '{}' (known: {})", key, keys), kExitBadInput);
  }
}

std::vector<std::pair<std::string, std::string>> Params::items() const {
  auto n = [](uint64_t v) { return std::to_string(v); };
  std::string alignment(arena_alignment_name(pooled.arena_alignment));
  if (!pooled.arena_excess.empty()) {
    alignment.clear();
    for (uint32_t e : pooled.arena_excess) alignment += (alignment.empty() ? "" : ",") + std::to_string(e);
  }
  return {{"raw.alignment", n(raw.alignment)},
          {"raw.header", n(raw.header)},
          {"raw.min_chunk", n(raw.min_chunk)},
          {"raw.mmap_threshold", n(raw.mmap_threshold)},
          {"raw.trim_threshold", n(raw.trim_threshold)},
          {"raw.top_pad", n(raw.top_pad)},
          {"raw.page", n(raw.page)},
          {"raw.mmap_threshold_dynamic", raw.mmap_threshold_dynamic ? "1" : "0"},
          {"pooled.alignment", n(pooled.alignment)},
          {"pooled.small_threshold", n(pooled.small_threshold)},
          {"pooled.pool_size", n(pooled.pool_size)},
          {"pooled.arena_size", n(pooled.arena_size)},
          {"pooled.pool_header", n(pooled.pool_header)},
          {"pooled.keep_last_arena", pooled.keep_last_arena ? "1" : "0"},
          {"pooled.arena_alignment", alignment},
          {"objspec.lists", lists_text(objspec.lists)},
          {"objspec.sites", n(objspec.sites)},
          {"objspec.site_limit", n(objspec.site_limit)},
          {"gc.thresholds", fmt::format("{},{},{}", gc.thresholds[0], gc.thresholds[1], gc.thresholds[2])},
          {"gc.untracked_types", words_text(gc.untracked_types)}};
}

void Params::validate() const {
  auto pow2 = [](std::string_view key, uint64_t v) {
    if (v == 0 || !std::has_single_bit(v))
      throw Error(fmt::format("{} = {}: must be a power of two", key, v), kExitBadInput);
  };
  pow2("raw.alignment", raw.alignment);
  pow2("raw.page", raw.page);
  if (raw.alignment < 8 || raw.alignment > raw.page)
    throw Error("raw.alignment must be at least 8 and at most raw.page", kExitBadInput);
  if (raw.min_chunk < raw.header + 8 || raw.min_chunk % raw.alignment != 0)
    throw Error("raw.min_chunk must be a multiple of raw.alignment and hold the header plus 8 bytes",
                kExitBadInput);
  if (raw.mmap_threshold == 0) throw Error("raw.mmap_threshold must be positive", kExitBadInput);
  if (raw.page > (uint64_t{1} << 30)) throw Error("raw.page must be at most 1G", kExitBadInput);
  pow2("pooled.alignment", pooled.alignment);
  pow2("pooled.pool_size", pooled.pool_size);
  pow2("pooled.arena_size", pooled.arena_size);
  if (pooled.small_threshold == 0 || pooled.small_threshold % pooled.alignment != 0)
    throw Error("pooled.small_threshold must be a positive multiple of pooled.alignment", kExitBadInput);
  if (pooled.small_threshold / pooled.alignment > 256)
    throw Error("pooled.small_threshold / pooled.alignment must be at most 256 size classes", kExitBadInput);
  if (pooled.pool_header % pooled.alignment != 0 || pooled.pool_header + 2 * pooled.small_threshold > pooled.pool_size)
    throw Error("pooled.pool_header must be a multiple of pooled.alignment, and a pool must hold two of the "
                "largest blocks after it",
                kExitBadInput);
  if (pooled.arena_size < 2 * pooled.pool_size || pooled.arena_size / pooled.pool_size > 65536)
    throw Error("pooled.arena_size must hold 2 to 65536 pools", kExitBadInput);
  for (uint32_t e : pooled.arena_excess)
    if (e >= pooled.pool_size)
      throw Error(fmt::format("pooled.arena_alignment: offset {} is not below the pool size {}", e, pooled.pool_size),
                  kExitBadInput);
}

}  // namespace heaplay
