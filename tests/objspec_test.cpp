// objspec_test.cpp: the objspec layer (CPython's object free lists) on small,
// hand-computed cases: hits and misses, LIFO reuse, limits per (type, size),
// max_bytes, clear_caches, keeps() against release, the cached flag, site
// lists through the Replayer, per-version defaults, objspec.lists parsing and
// the site-counting pass.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/objspec.hpp"
#include "engine/pooled.hpp"
#include "engine/replay.hpp"
#include "engine/site_counts.hpp"
#include "engine/stack.hpp"
#include "tests/fixture_raw.hpp"
#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::FixtureRaw;

uint64_t counter(const LayerReport& r, std::string_view name) {
  for (const auto& [k, v] : r.counters)
    if (k == name) return v;
  ADD_FAILURE() << "no counter " << r.layer << "." << name;
  return 0;
}

// A copy: callers pass free_lists(), a temporary, and keep the result (a
// reference into it dangled: ASan found it).
FreeListReport list_named(const std::vector<FreeListReport>& lists, std::string_view name) {
  for (const FreeListReport& l : lists)
    if (l.name == name) return l;
  ADD_FAILURE() << "no list " << name;
  return {};
}

// An objspec layer (depth 0) over the fixture raw layer (depth 1), with the
// trace's strings in a table of its own.
struct Fixture {
  explicit Fixture(const ObjspecParams& p) : raw(1), layer(p, &raw, 0) {
    float_ = strings.intern("float");
    tuple = strings.intern("tuple");
    dict = strings.intern("dict");
    site = strings.intern("site_a");
    layer.use_strings(strings);
  }
  Request obj(uint64_t size, StringId type) const { return Request{size, type, Domain::Obj, true}; }
  Request block(uint64_t size, StringId type) const { return Request{size, type, Domain::None, false}; }

  StringTable strings;
  StringId float_, tuple, dict, site;
  FixtureRaw raw;
  ObjspecLayer layer;
};

ObjspecParams lists_of(std::vector<FreeListSpec> lists) {
  ObjspecParams p;
  p.lists = std::move(lists);
  return p;
}

TEST(Objspec, HitMissAndLifoReuse) {
  Fixture f(lists_of({{"float", 100, 0}}));
  const Block a = f.layer.allocate(f.obj(24, f.float_));  // miss: the list is empty
  const Block b = f.layer.allocate(f.obj(24, f.float_));  // miss
  EXPECT_EQ(a.flags, 0);
  EXPECT_EQ(a.depth, 1);  // the lower layer's block, unchanged
  EXPECT_EQ(f.raw.allocs, 2u);
  f.layer.release(a, f.obj(24, f.float_));
  f.layer.release(b, f.obj(24, f.float_));
  EXPECT_EQ(f.raw.frees, 0u);  // both wait in the list
  const Block c = f.layer.allocate(f.obj(24, f.float_));
  const Block d = f.layer.allocate(f.obj(24, f.float_));
  EXPECT_EQ(c.addr, b.addr);  // last in, first out
  EXPECT_EQ(d.addr, a.addr);
  EXPECT_EQ(c.flags, kBlockCached);
  EXPECT_EQ(c.depth, 1);
  EXPECT_EQ(f.raw.allocs, 2u);
  // Another size of the same type has a list of its own, empty: a miss.
  const Block e = f.layer.allocate(f.obj(32, f.float_));
  EXPECT_EQ(e.flags, 0);
  // A type without a list is not counted.
  f.layer.allocate(f.obj(64, f.dict));
  const LayerReport r = f.layer.report();
  EXPECT_EQ(counter(r, "hits"), 2u);
  EXPECT_EQ(counter(r, "misses"), 3u);
  EXPECT_EQ(counter(r, "held_objects"), 0u);
  EXPECT_EQ(counter(r, "peak_held_bytes"), 48u);
  EXPECT_EQ(f.layer.hits(), 2u);
  EXPECT_TRUE(f.layer.is_valid());
}

TEST(Objspec, LimitPerTypeAndSize) {
  Fixture f(lists_of({{"float", 100, 0}}));
  std::vector<Block> blocks;
  for (int i = 0; i < 101; ++i) blocks.push_back(f.layer.allocate(f.obj(24, f.float_)));
  std::vector<Block> other;
  for (int i = 0; i < 3; ++i) other.push_back(f.layer.allocate(f.obj(40, f.float_)));
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(f.layer.keeps(f.obj(24, f.float_)));
    f.layer.release(blocks[i], f.obj(24, f.float_));
  }
  EXPECT_EQ(f.raw.frees, 0u);
  EXPECT_FALSE(f.layer.keeps(f.obj(24, f.float_)));  // the 101st free goes below
  f.layer.release(blocks[100], f.obj(24, f.float_));
  EXPECT_EQ(f.raw.frees, 1u);
  // Another size is another list, with room.
  EXPECT_TRUE(f.layer.keeps(f.obj(40, f.float_)));
  for (const Block& b : other) f.layer.release(b, f.obj(40, f.float_));
  const LayerReport r = f.layer.report();
  EXPECT_EQ(counter(r, "releases_below"), 1u);
  EXPECT_EQ(counter(r, "held_objects"), 103u);
  EXPECT_EQ(counter(r, "held_bytes"), 100u * 24 + 3 * 40);
  const auto lists = f.layer.free_lists();
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].name, "float");
  EXPECT_FALSE(lists[0].site);
  EXPECT_EQ(lists[0].limit, 100u);
  EXPECT_EQ(lists[0].misses, 104u);
  EXPECT_EQ(lists[0].releases_below, 1u);
  EXPECT_EQ(lists[0].held_objects, 103u);
  EXPECT_TRUE(f.layer.is_valid());
}

TEST(Objspec, TupleSizesUpToMaxBytes) {
  // 3.11: lengths 1..20 are kept: 16 + 24 + 8 * 20 = 200 bytes; length 21 (208) is not.
  Params p = params_for(PythonVersion::V3_11);
  Fixture f(p.objspec);
  const Block t200 = f.layer.allocate(f.obj(200, f.tuple));
  const Block t208 = f.layer.allocate(f.obj(208, f.tuple));
  EXPECT_TRUE(f.layer.keeps(f.obj(200, f.tuple)));
  EXPECT_FALSE(f.layer.keeps(f.obj(208, f.tuple)));
  f.layer.release(t200, f.obj(200, f.tuple));
  f.layer.release(t208, f.obj(208, f.tuple));
  EXPECT_EQ(f.raw.frees, 1u);
  EXPECT_EQ(f.layer.allocate(f.obj(200, f.tuple)).flags, kBlockCached);
  EXPECT_EQ(f.layer.allocate(f.obj(208, f.tuple)).flags, 0);
  // Over max_bytes is neither a miss nor a release below: the list is not consulted.
  const FreeListReport& t = list_named(f.layer.free_lists(), "tuple");
  EXPECT_EQ(t.hits, 1u);
  EXPECT_EQ(t.misses, 1u);
  EXPECT_EQ(t.releases_below, 0u);
  EXPECT_EQ(t.max_bytes, 200u);
  EXPECT_EQ(t.limit, 2000u);
  // 3.8 keeps lengths 1..19 only (192 bytes).
  Fixture g(params_for(PythonVersion::V3_8).objspec);
  EXPECT_TRUE(g.layer.keeps(g.obj(192, g.tuple)));
  EXPECT_FALSE(g.layer.keeps(g.obj(200, g.tuple)));
}

TEST(Objspec, ZeroLimitNeverKeeps) {
  Fixture f(lists_of({{"float", 0, 0}}));
  const Block a = f.layer.allocate(f.obj(24, f.float_));
  EXPECT_FALSE(f.layer.keeps(f.obj(24, f.float_)));
  f.layer.release(a, f.obj(24, f.float_));
  EXPECT_EQ(f.raw.frees, 1u);
  EXPECT_EQ(counter(f.layer.report(), "releases_below"), 1u);
}

TEST(Objspec, KeepsAgreesWithRelease) {
  // A small limit, two sizes, one over max_bytes, one type without a list,
  // and blocks: keeps() must predict each release's fate exactly.
  Fixture f(lists_of({{"tuple", 2, 48}}));
  const Request reqs[] = {f.obj(48, f.tuple), f.obj(40, f.tuple), f.obj(56, f.tuple), f.obj(64, f.dict),
                          f.block(48, f.tuple)};
  for (int round = 0; round < 3; ++round) {
    std::vector<std::pair<Block, Request>> live;
    for (int k = 0; k < 4; ++k)
      for (const Request& r : reqs) live.emplace_back(f.layer.allocate(r), r);
    for (const auto& [b, r] : live) {
      const bool kept = f.layer.keeps(r);
      const uint64_t before = f.raw.frees;
      f.layer.release(b, r);
      EXPECT_EQ(kept, f.raw.frees == before) << r.size;
    }
    EXPECT_TRUE(f.layer.is_valid());
  }
  // Per round, tuples of 48 and 40 bytes: 2 kept each, 2 below; rounds 2 and 3 hit twice per size.
  const FreeListReport& t = list_named(f.layer.free_lists(), "tuple");
  EXPECT_EQ(t.hits, 8u);
  EXPECT_EQ(t.misses, 16u);
  EXPECT_EQ(t.releases_below, 12u);
  EXPECT_EQ(t.held_objects, 4u);
  EXPECT_EQ(t.held_bytes, 2u * 48 + 2 * 40);
}

TEST(Objspec, CachedFlagExactlyOnHits) {
  Fixture f(lists_of({{"float", 1, 0}}));
  const Block a = f.layer.allocate(f.obj(24, f.float_));
  EXPECT_EQ(a.flags, 0);
  f.layer.release(a, f.obj(24, f.float_));
  Block hit = f.layer.allocate(f.obj(24, f.float_));
  EXPECT_EQ(hit.flags, kBlockCached);
  // A cached block released again goes back to the list without the flag.
  f.layer.release(hit, f.obj(24, f.float_));
  hit = f.layer.allocate(f.obj(24, f.float_));
  EXPECT_EQ(hit.flags, kBlockCached);
  EXPECT_EQ(f.layer.allocate(f.obj(24, f.float_)).flags, 0);  // the list is empty now
  // A realloc goes below and answers with the lower layer's block.
  EXPECT_EQ(f.layer.reallocate(hit, 24, f.obj(48, f.float_)).flags, 0);
  EXPECT_EQ(f.raw.reallocs, 1u);
  EXPECT_TRUE(f.layer.is_valid());
}

TEST(Objspec, ClearCachesReleasesEverythingBelow) {
  // objspec over pooled over the fixture: after clear_caches pooled has no block in use.
  ObjspecParams op = lists_of({{"float", 100, 0}, {"tuple", 2000, 200}});
  PooledParams pp = params_for(PythonVersion::V3_11).pooled;
  pp.arena_alignment = ArenaAlignment::Aligned;
  pp.keep_last_arena = false;  // so the emptied arena goes back, as 3.8 does
  FixtureRaw raw(2);
  PooledLayer pooled(pp, &raw, 1);
  ObjspecLayer layer(op, &pooled, 0);
  StringTable strings;
  const StringId fl = strings.intern("float"), tu = strings.intern("tuple");
  layer.use_strings(strings);
  std::vector<std::pair<Block, Request>> live;
  for (int i = 0; i < 50; ++i) live.emplace_back(layer.allocate({24, fl, Domain::Obj, true}), Request{24, fl, Domain::Obj, true});
  for (int i = 0; i < 30; ++i) live.emplace_back(layer.allocate({56, tu, Domain::Obj, true}), Request{56, tu, Domain::Obj, true});
  for (const auto& [b, r] : live) layer.release(b, r);
  EXPECT_EQ(counter(pooled.report(), "blocks_in_use"), 80u);  // all wait in objspec's lists
  EXPECT_EQ(counter(layer.report(), "held_bytes"), 50u * 24 + 30 * 56);
  layer.clear_caches();
  const LayerReport pr = pooled.report();
  EXPECT_EQ(counter(pr, "blocks_in_use"), 0u);
  EXPECT_EQ(counter(pr, "arenas_reclaimed"), 1u);  // the only arena emptied and went back
  const LayerReport r = layer.report();
  EXPECT_EQ(counter(r, "cleared"), 80u);
  EXPECT_EQ(counter(r, "held_objects"), 0u);
  EXPECT_EQ(counter(r, "held_bytes"), 0u);
  EXPECT_EQ(counter(r, "peak_held_bytes"), 50u * 24 + 30 * 56);
  EXPECT_EQ(list_named(layer.free_lists(), "tuple").cleared, 30u);
  EXPECT_TRUE(layer.is_valid());
  EXPECT_TRUE(pooled.is_valid());
  // The lists fill again afterwards.
  const Block b = layer.allocate({24, fl, Domain::Obj, true});
  EXPECT_EQ(b.flags, 0);
  layer.release(b, {24, fl, Domain::Obj, true});
  EXPECT_EQ(layer.allocate({24, fl, Domain::Obj, true}).addr, b.addr);
}

TEST(Objspec, SiteListsServeBlocksOnly) {
  ObjspecParams p = lists_of({{"site_a", 5, 0}});  // a type list named like the site
  p.site_tags = {"site_a"};
  p.site_limit = 1;
  Fixture f(p);
  // a blocks use the site list (limit 1 per size), o objects the type list.
  const Block b1 = f.layer.allocate(f.block(100, f.site));
  const Block b2 = f.layer.allocate(f.block(100, f.site));
  f.layer.release(b1, f.block(100, f.site));
  EXPECT_FALSE(f.layer.keeps(f.block(100, f.site)));
  EXPECT_TRUE(f.layer.keeps(f.obj(100, f.site)));
  f.layer.release(b2, f.block(100, f.site));
  EXPECT_EQ(f.raw.frees, 1u);
  EXPECT_EQ(f.layer.allocate(f.obj(100, f.site)).flags, 0);  // the type list is empty
  EXPECT_EQ(f.layer.allocate(f.block(100, f.site)).addr, b1.addr);
  // A block of an unlisted site, and one of no site, pass through.
  const StringId other = f.strings.intern("site_b");  // a string the table learns later
  const Block o = f.layer.allocate(f.block(100, other));
  f.layer.release(o, f.block(100, other));
  f.layer.release(f.layer.allocate(f.block(8, StringId{})), f.block(8, StringId{}));
  EXPECT_EQ(f.raw.frees, 3u);
  const auto lists = f.layer.free_lists();
  ASSERT_EQ(lists.size(), 2u);
  EXPECT_FALSE(lists[0].site);
  EXPECT_TRUE(lists[1].site);
  EXPECT_EQ(lists[1].name, "site_a");
  EXPECT_EQ(lists[1].limit, 1u);
  EXPECT_EQ(lists[1].hits, 1u);
  EXPECT_EQ(lists[1].misses, 2u);
  EXPECT_EQ(lists[1].releases_below, 1u);
  EXPECT_EQ(lists[0].misses, 1u);
}

TEST(ObjspecParams, PerVersionDefaults) {
  auto names = [](PythonVersion v) {
    std::string s;
    for (const FreeListSpec& l : params_for(v).objspec.lists) s += (s.empty() ? "" : ",") + l.type;
    return s;
  };
  const std::string common = "float,tuple,list,dict,dict_keys,async_generator_wrapped_value,async_generator_asend,"
                             "_contextvars.Context";
  EXPECT_EQ(names(PythonVersion::V3_8), common + ",frame,method,builtin_function_or_method");
  EXPECT_EQ(names(PythonVersion::V3_9), common + ",frame");
  EXPECT_EQ(names(PythonVersion::V3_10), common + ",frame");
  EXPECT_EQ(names(PythonVersion::V3_11), common);
  EXPECT_EQ(names(PythonVersion::V3_12), common);
  EXPECT_EQ(names(PythonVersion::V3_13), common);
  auto spec = [](PythonVersion v, std::string_view type) {
    for (const FreeListSpec& l : params_for(v).objspec.lists)
      if (l.type == type) return l;
    ADD_FAILURE() << type;
    return FreeListSpec{};
  };
  EXPECT_EQ(spec(PythonVersion::V3_8, "tuple"), (FreeListSpec{"tuple", 2000, 192}));
  EXPECT_EQ(spec(PythonVersion::V3_11, "tuple"), (FreeListSpec{"tuple", 2000, 200}));
  EXPECT_EQ(spec(PythonVersion::V3_13, "tuple"), (FreeListSpec{"tuple", 2000, 200}));
  EXPECT_EQ(spec(PythonVersion::V3_10, "dict_keys"), (FreeListSpec{"dict_keys", 80, 168}));
  EXPECT_EQ(spec(PythonVersion::V3_11, "dict_keys"), (FreeListSpec{"dict_keys", 80, 120}));
  EXPECT_EQ(spec(PythonVersion::V3_13, "float"), (FreeListSpec{"float", 100, 0}));
  EXPECT_EQ(spec(PythonVersion::V3_12, "_contextvars.Context"), (FreeListSpec{"_contextvars.Context", 255, 0}));
  EXPECT_EQ(spec(PythonVersion::V3_8, "frame"), (FreeListSpec{"frame", 200, 0}));
  EXPECT_EQ(spec(PythonVersion::V3_8, "method"), (FreeListSpec{"method", 256, 0}));
  EXPECT_EQ(params_for(PythonVersion::V3_11).objspec.site_limit, 80u);
  EXPECT_EQ(params_for(PythonVersion::V3_11).objspec.sites, 0u);
}

TEST(ObjspecParams, ListsParseAndRoundTrip) {
  Params p = params_for(kDefaultPython);
  p.set("objspec.lists=float:7,tuple:3:1K,x.y:0");
  ASSERT_EQ(p.objspec.lists.size(), 3u);
  EXPECT_EQ(p.objspec.lists[1], (FreeListSpec{"tuple", 3, 1024}));
  EXPECT_EQ(p.objspec.lists[2], (FreeListSpec{"x.y", 0, 0}));
  std::string text;
  for (const auto& [k, v] : p.items())
    if (k == "objspec.lists") text = v;
  EXPECT_EQ(text, "float:7,tuple:3:1024,x.y:0");
  Params q = params_for(PythonVersion::V3_8);
  q.set("objspec.lists=" + text);
  EXPECT_EQ(q.objspec.lists, p.objspec.lists);
  // Every version's defaults read back as themselves.
  for (PythonVersion v : {PythonVersion::V3_8, PythonVersion::V3_11, PythonVersion::V3_13}) {
    Params d = params_for(v);
    for (const auto& [k, val] : d.items())
      if (k == "objspec.lists") {
        Params e = params_for(kDefaultPython);
        e.set(k + "=" + val);
        EXPECT_EQ(e.objspec.lists, d.objspec.lists) << val;
      }
  }
  p.set("objspec.lists=-");
  EXPECT_TRUE(p.objspec.lists.empty());
  p.set("objspec.sites=3");
  p.set("objspec.site_limit=9");
  EXPECT_EQ(p.objspec.sites, 3u);
  EXPECT_EQ(p.objspec.site_limit, 9u);
  try {
    p.set("objspec.lists=float:7,float:8");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("each type once"), std::string::npos);
  }
}

// The Replayer over objspec with site lists chosen by the counting pass.
constexpr const char* kSiteTrace =
    "a 1 100 siteA\n"
    "a 2 100 siteA\n"
    "a 3 64 siteB\n"
    "f 1\n"
    "f 2\n"
    "a 4 100 siteA\n"  // hit: block 2's
    "a 5 100 siteA\n"  // hit: block 1's
    "a 6 100 siteA\n"  // miss
    "f 3\n"
    "a 7 64 siteB\n"
    "a 8 48 siteC\n"
    "a 9 48 siteC\n"
    "f 6\n"
    "a 10 8\n"
    "a 11 8\n"
    "a 12 8\n";

TEST(SiteCounts, TopSitesByCountThenName) {
  const std::string path = testing::temp_path("objspec_sites.trace");
  testing::write_file(path, kSiteTrace);
  // siteA 5, siteB 2, siteC 2; untagged blocks do not count.
  EXPECT_EQ(top_sites(path, {}, 1), (std::vector<std::string>{"siteA"}));
  EXPECT_EQ(top_sites(path, {}, 2), (std::vector<std::string>{"siteA", "siteB"}));
  EXPECT_EQ(top_sites(path, {}, 10), (std::vector<std::string>{"siteA", "siteB", "siteC"}));
  SiteCounter c;
  open_trace(path)->read(c);
  EXPECT_EQ(c.count("siteA"), 5u);
  EXPECT_EQ(c.count("siteC"), 2u);
  EXPECT_EQ(c.count(""), 0u);
}

TEST(SiteCounts, MallocTraceReplayGetsHits) {
  const std::string path = testing::temp_path("objspec_replay.trace");
  testing::write_file(path, kSiteTrace);
  Params params = params_for(kDefaultPython);
  params.set("objspec.sites=1");
  params.objspec.site_tags = top_sites(path, {}, params.objspec.sites);
  StackOptions options;
  Stack stack = build_stack(parse_stack("objspec"), params, options);
  Replayer replayer(stack, params, options);
  open_trace(path)->read(replayer);
  const ReplayResult r = replayer.finish();
  EXPECT_TRUE(r.has_objspec);
  EXPECT_EQ(r.freelist_hits, 2u);
  EXPECT_EQ(r.freelist_misses, 3u);  // blocks 1, 2 and 6; siteB and siteC have no list
  const FreeListReport& a = list_named(r.free_lists, "siteA");
  EXPECT_TRUE(a.site);
  EXPECT_EQ(a.limit, 80u);
  EXPECT_EQ(a.hits, 2u);
  EXPECT_EQ(a.held_objects, 1u);  // block 6, freed at the end
  EXPECT_EQ(a.held_bytes, 100u);
  EXPECT_EQ(a.peak_held_bytes, 200u);
  ASSERT_FALSE(r.layers.empty());
  EXPECT_EQ(r.layers[0].layer, "objspec");
  EXPECT_EQ(counter(r.layers[0], "hits"), 2u);
  EXPECT_EQ(r.final_live_bytes, 100u + 100 + 64 + 48 + 48 + 24);
  // Without site lists the same trace has no hits.
  Params plain = params_for(kDefaultPython);
  Stack s2 = build_stack(parse_stack("objspec"), plain, options);
  Replayer r2(s2, plain, options);
  open_trace(path)->read(r2);
  EXPECT_EQ(r2.finish().freelist_hits, 0u);
}

}  // namespace
}  // namespace heaplay
