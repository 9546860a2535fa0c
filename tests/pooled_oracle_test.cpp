// pooled_oracle_test.cpp: the pooled layer against real CPython.
//
// Long random request sequences go both through heaplay's PooledLayer (over
// the test-only FixtureRaw) and through libpython's own PyObject_Malloc /
// Realloc / Free (tests/pyoracle/pymalloc_oracle.c); at several cut points
// the two _PyObject_DebugMallocStats texts, from "Small block threshold"
// through the first "Total", must be equal to the character.
//
// The sequences are built to reach every policy decision: several arenas,
// phases that free whole generations of blocks so that arenas empty and are
// given back (or kept), pools reused for their old size class and for
// another, frees into full pools, arenas tied on free pools, reallocs that
// stay, shrink, grow and move to and from raw, and 0-byte and
// larger-than-512 requests. The tie rules of usable_arenas, which random
// sequences over few 1 MiB arenas seldom make visible, also have written-out
// sequences of their own (TiesInUsableArenas).
//
// Oracles are the libpython builds CMake found (HEAPLAY_PYORACLES,
// "MINOR:PATH,..."): Debian's 3.11 on CI, and pyenv's 3.8-3.11 where present.
// A missing one skips its test with the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/pooled.hpp"
#include "engine/size_classes.hpp"
#include "reports/pymalloc_stats.hpp"
#include "tests/fixture_raw.hpp"

namespace heaplay {
namespace {

struct Oracle {
  std::string minor;  // "3.11"
  std::string path;
};

std::vector<Oracle> oracles(std::string_view minor) {
  std::vector<Oracle> found;
  std::string_view all = HEAPLAY_PYORACLES;
  while (!all.empty()) {
    const size_t comma = all.find(',');
    const std::string_view item = all.substr(0, comma);
    const size_t colon = item.find(':');
    if (item.substr(0, colon) == minor) found.push_back({std::string(minor), std::string(item.substr(colon + 1))});
    all = comma == std::string_view::npos ? std::string_view{} : all.substr(comma + 1);
  }
  return found;
}

// One request, in the oracle's text form: a ID SIZE | r ID SIZE | f ID | s.
struct Op {
  char kind;
  uint32_t id = 0;
  uint64_t size = 0;
};

// Random sequences in phases (see the banner). Blocks remember the
// generation that allocated them, so a phase can free a whole generation.
class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  // Request sizes: mostly pooled; a few 0-byte and larger-than-512 ones.
  enum class Sizes {
    Any,    // 1..512, every class alike
    Small,  // 1..200, weighted to the smallest classes
    Large,  // 201..512: classes Small never uses
  };

  // scale: blocks a generation adds (about 37 x scale requests in all).
  std::vector<Op> run(size_t scale) {
    // Generations on top of each other; the later ones grow without frees,
    // so they fill pools, and then arenas, of their own.
    grow(0, scale, Sizes::Any, /*mixed=*/true);
    grow(1, scale * 8, Sizes::Small, false);
    grow(2, scale, Sizes::Large, false);  // not into generation 1's pools
    stats();
    // Generation 1 dies whole, oldest first: its arenas empty one after the
    // other and are given back (newcomers would take the emptied pools).
    kill_generation(1, 0.0, /*oldest_first=*/true, 0, 3, Sizes::Large);
    stats();
    // Large newcomers take generation 0's emptied pools for other classes;
    // its survivors keep pools and arenas partly used.
    kill_generation(0, 0.02, false, 10, 3, Sizes::Large);
    stats();
    grow(4, scale * 2, Sizes::Small, true);  // Small again: emptied pools reused for their old class
    kill_generation(2, 0.0, false, 10, 4, Sizes::Small);
    kill_generation(3, 0.0, true, 0, 4, Sizes::Small);
    stats();
    churn(5, scale * 2);
    stats();
    while (!live_.empty()) free_at(pick());  // everything: arenas back, the last kept (3.9+)
    stats();
    fragment(7, scale * 4 / 3);
    fragment(11, scale * 2);
    grow(10, scale / 2, Sizes::Any, true);
    churn(10, scale * 2);
    stats();
    return std::move(ops_);
  }

 private:
  struct Live {
    uint32_t id;
    uint32_t gen;
    uint64_t size;
    uint64_t born;  // allocation order
  };

  uint64_t below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  uint64_t size(Sizes sizes) {
    const uint64_t r = below(100);
    if (r < 3) return 0;
    if (r < 9) return 513 + below(3000);
    switch (sizes) {
      case Sizes::Any: return 1 + below(512);
      case Sizes::Small: return r < 60 ? 1 + below(64) : 1 + below(200);
      case Sizes::Large: return 201 + below(312);
    }
    return 1;
  }

  size_t pick() { return below(live_.size()); }

  void emit(Op op) {
    ops_.push_back(op);
    if (++since_stats_ == 25000) stats();
  }
  void stats() {
    ops_.push_back(Op{'s'});
    since_stats_ = 0;
  }

  void alloc(uint32_t gen, uint64_t sz) {
    uint32_t id;
    if (free_ids_.empty()) {
      id = next_id_++;
    } else {
      id = free_ids_.back();
      free_ids_.pop_back();
    }
    if (id >= pos_.size()) pos_.resize(id + 1);
    pos_[id] = live_.size();
    live_.push_back({id, gen, sz, born_++});
    emit(Op{'a', id, sz});
  }
  void free_at(size_t i) {
    emit(Op{'f', live_[i].id});
    free_ids_.push_back(live_[i].id);
    live_[i] = live_.back();
    pos_[live_[i].id] = i;
    live_.pop_back();
  }
  void realloc_at(size_t i, Sizes sizes) {
    Live& b = live_[i];
    // Half the time near the old size: stays in place, or shrinks by a quarter and moves.
    const uint64_t sz = below(2) ? b.size * (70 + below(45)) / 100 : size(sizes);
    b.size = sz;
    emit(Op{'r', b.id, sz});
  }

  // Allocations until `count` more are live; mixed: with some frees and
  // reallocs of older blocks, whose holes the new generation then fills.
  void grow(uint32_t gen, size_t count, Sizes sizes, bool mixed) {
    const size_t target = live_.size() + count;
    while (live_.size() < target) {
      const uint64_t r = mixed ? below(100) : 99;
      if (r < 8 && !live_.empty()) free_at(pick());
      else if (r < 14 && !live_.empty()) realloc_at(pick(), sizes);
      else alloc(gen, size(sizes));
    }
  }

  // Frees every block of `gen` but a fraction `keep`, in random order or
  // oldest first, with an allocation of generation `newcomers` (sizes
  // `their`) after one free in `every` (0: none).
  void kill_generation(uint32_t gen, double keep, bool oldest_first, uint64_t every, uint32_t newcomers,
                       Sizes their) {
    std::vector<std::pair<uint64_t, uint32_t>> doomed;  // (born, id)
    for (const Live& b : live_)
      if (b.gen == gen && below(10000) >= keep * 10000) doomed.emplace_back(b.born, b.id);
    if (oldest_first) std::sort(doomed.begin(), doomed.end());
    else std::shuffle(doomed.begin(), doomed.end(), rng_);
    for (const auto& [born, id] : doomed) {
      if (every && below(every) == 0) alloc(newcomers, size(their));
      free_at(pos_[id]);
    }
  }

  // Arenas with one or two free pools each, tied in usable_arenas, and of
  // two lifetimes: the order among ties decides which arena the next pools
  // go to, and so whether an arena of the short-lived generation empties.
  // `count` blocks of 500 bytes (whole pools, in order) in stretches of
  // generation `gen` and `gen + 1`; a few runs of 31 consecutive ones freed
  // (a pool or more each); two pools of newcomers (`gen + 2`, long-lived);
  // then `gen` dies, then `gen + 1`.
  void fragment(uint32_t gen, size_t count) {
    uint32_t g = gen + 1;
    for (size_t k = 0, left = 0; k < count; ++k, --left) {
      if (left == 0) {
        g = g == gen ? gen + 1 : gen;
        left = 1000 + below(3000);
      }
      alloc(g, 500);
    }
    std::vector<std::pair<uint64_t, uint32_t>> order;  // (born, id)
    for (const Live& b : live_)
      if (b.gen == gen || b.gen == gen + 1) order.emplace_back(b.born, b.id);
    std::sort(order.begin(), order.end());
    constexpr size_t kRun = 31;
    std::vector<size_t> runs;
    for (size_t r = 0; r < order.size() / kRun; ++r)
      if (below(100) < 3) runs.push_back(r);
    std::shuffle(runs.begin(), runs.end(), rng_);
    for (size_t r : runs)
      for (size_t k = r * kRun; k < (r + 1) * kRun; ++k) free_at(pos_[order[k].second]);
    for (int k = 0; k < 80; ++k) alloc(gen + 2, k < 40 ? 32 : 48);
    stats();
    for (uint32_t dying : {gen, gen + 1}) {
      for (const auto& [born, id] : order)
        if (pos_[id] < live_.size() && live_[pos_[id]].id == id && live_[pos_[id]].gen == dying) free_at(pos_[id]);
      stats();
    }
  }

  // Balanced: as many frees as allocations, and reallocs.
  void churn(uint32_t gen, size_t n) {
    for (size_t k = 0; k < n; ++k) {
      const uint64_t r = below(100);
      const Sizes sizes = r & 1 ? Sizes::Small : Sizes::Any;
      if (r < 45 && !live_.empty()) free_at(pick());
      else if (r < 55 && !live_.empty()) realloc_at(pick(), sizes);
      else alloc(gen, size(sizes));
    }
  }

  std::mt19937_64 rng_;
  std::vector<Op> ops_;
  std::vector<Live> live_;
  std::vector<uint32_t> free_ids_;
  std::vector<size_t> pos_;  // by ID: its index in live_
  uint32_t next_id_ = 0;
  uint64_t born_ = 0;
  size_t since_stats_ = 0;
};

// From "Small block threshold" through the first "Total" line.
std::string pymalloc_section(const std::string& text) {
  const size_t start = text.find("Small block threshold");
  if (start == std::string::npos) return "(no pymalloc section)\n" + text;
  const size_t total = text.find("\nTotal", start);
  if (total == std::string::npos) return text.substr(start);
  return text.substr(start, text.find('\n', total + 1) + 1 - start);
}

// heaplay's side: the statistics at every 's'.
std::vector<PymallocStats> replay_heaplay(const PooledParams& params, const std::vector<Op>& ops) {
  testing::FixtureRaw raw;
  PooledLayer pooled(params, &raw, 0);
  struct Held {
    Block block;
    uint64_t size;
  };
  std::vector<Held> held;
  std::vector<PymallocStats> cuts;
  size_t n = 0;
  for (const Op& op : ops) {
    if (op.id >= held.size()) held.resize(op.id + 1);
    const Request r{op.size, StringId{}, Domain::Obj};
    switch (op.kind) {
      case 'a': held[op.id] = {pooled.allocate(r), op.size}; break;
      case 'r': held[op.id] = {pooled.reallocate(held[op.id].block, held[op.id].size, r), op.size}; break;
      case 'f': pooled.release(held[op.id].block, Request{held[op.id].size, StringId{}, Domain::Obj}); break;
      case 's':
        EXPECT_TRUE(pooled.is_valid()) << "at cut " << cuts.size() + 1;
        cuts.push_back(pooled.pymalloc_stats());
        break;
    }
    if (++n % 4096 == 0 && !pooled.is_valid()) {
      ADD_FAILURE() << "invariant broken after request " << n;
      return cuts;
    }
  }
  return cuts;
}

// CPython's side: the oracle's sections, one per 's'.
std::vector<std::string> replay_cpython(const std::string& oracle, const std::string& args,
                                        const std::vector<Op>& ops, const std::string& name) {
  // ctest runs tests in parallel processes: the pid keeps their inputs apart.
  const std::string input =
      ::testing::TempDir() + "pooled_oracle_" + name + "_" + std::to_string(getpid()) + ".txt";
  {
    std::ofstream out(input);
    for (const Op& op : ops) {
      if (op.kind == 's') out << "s\n";
      else if (op.kind == 'f') out << "f " << op.id << '\n';
      else out << op.kind << ' ' << op.id << ' ' << op.size << '\n';
    }
  }
  const std::string command = oracle + " " + args + " < " + input;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    ADD_FAILURE() << "cannot run " << command;
    return {};
  }
  std::string text;
  char buf[65536];
  for (size_t got; (got = fread(buf, 1, sizeof buf, pipe)) > 0;) text.append(buf, got);
  const int status = pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  std::remove(input.c_str());
  std::vector<std::string> cuts;
  for (size_t at = text.find("@stats "); at != std::string::npos;) {
    const size_t next = text.find("@stats ", at + 1);
    cuts.push_back(pymalloc_section(text.substr(at, next == std::string::npos ? next : next - at)));
    at = next;
  }
  return cuts;
}

std::string version_of(const std::string& oracle) {
  FILE* pipe = popen((oracle + " --version").c_str(), "r");
  char buf[64] = {};
  if (pipe) {
    if (!fgets(buf, sizeof buf, pipe)) buf[0] = 0;
    pclose(pipe);
  }
  std::string v(buf);
  if (!v.empty() && v.back() == '\n') v.pop_back();
  return v;
}

std::string no_oracle(std::string_view minor) {
  return "no libpython " + std::string(minor) + " was found when configuring" +
         (minor == "3.11" ? " (install python3.11-dev, as .ci/setup does, and reconfigure)"
                          : " (pyenv builds under HEAPLAY_PYENV_ROOT)");
}

// Replays ops both ways and expects the same text at every cut; returns
// heaplay's statistics.
std::vector<PymallocStats> expect_same_stats(const Oracle& o, const PooledParams& params, const std::vector<Op>& ops,
                                             const std::string& name) {
  const std::string args = params.arena_alignment == ArenaAlignment::Aligned ? "" : "--arena-offset 4096";
  const auto ours = replay_heaplay(params, ops);
  const auto theirs = replay_cpython(o.path, args, ops, name);
  EXPECT_EQ(ours.size(), theirs.size());
  for (size_t i = 0; i < ours.size() && i < theirs.size(); ++i) {
    EXPECT_EQ(render_pymalloc_stats(ours[i]), theirs[i]) << "stats cut " << i + 1;
    if (render_pymalloc_stats(ours[i]) != theirs[i]) break;
  }
  return ours;
}

PooledParams params_with(PythonVersion version, ArenaAlignment alignment) {
  PooledParams params = params_for(version).pooled;
  params.arena_alignment = alignment;
  return params;
}

// Every oracle of `minor`, `seeds` random sequences each.
void compare_with_cpython(std::string_view minor, PythonVersion version, ArenaAlignment alignment, int seeds,
                          size_t scale) {
  const auto found = oracles(minor);
  if (found.empty()) GTEST_SKIP() << no_oracle(minor);
  const PooledParams params = params_with(version, alignment);
  for (const Oracle& o : found) {
    const std::string full = version_of(o.path);
    for (int seed = 1; seed <= seeds; ++seed) {
      SCOPED_TRACE("CPython " + full + ", seed " + std::to_string(seed));
      const std::vector<Op> ops = Generator(seed * 7919 + scale).run(scale);
      const auto ours = expect_same_stats(o, params, ops, full + "_" + std::to_string(seed));
      // The sequence did reach the arena policy: arenas given back while
      // others stayed in use, not only at the end.
      bool reclaimed_midway = false;
      for (const auto& c : ours) reclaimed_midway |= c.arenas_reclaimed > 0 && c.arenas_current > 2;
      EXPECT_TRUE(reclaimed_midway);
    }
  }
}

// Ties in usable_arenas, written out: four arenas full of 500-byte blocks;
// arena 3 emptied (the free arena 3.9+ keep, at the end of the list); whole
// pools freed in `frees` (arena, pool) order; new pools for `newcomers` (one
// block each, other classes); then arena 0's big blocks freed. Whether arena
// 0 is then given back depends on where the newcomers went, which the order
// among arenas with equally many free pools decided.
std::vector<Op> ties_scenario(const PooledParams& params, const std::vector<std::pair<uint32_t, uint32_t>>& frees,
                              const std::vector<uint64_t>& newcomers) {
  const SizeClasses classes(params);
  const uint32_t per_pool = classes.blocks_per_pool(classes.class_of(500));
  const uint32_t per_arena = per_pool * static_cast<uint32_t>(params.arena_size / params.pool_size);
  std::vector<Op> ops;
  std::vector<bool> freed(4 * per_arena);
  for (uint32_t id = 0; id < 4 * per_arena; ++id) ops.push_back(Op{'a', id, 500});
  for (uint32_t id = 3 * per_arena; id < 4 * per_arena; ++id) ops.push_back(Op{'f', id});
  for (const auto& [arena, pool] : frees) {
    for (uint32_t k = 0; k < per_pool; ++k) {
      const uint32_t id = arena * per_arena + pool * per_pool + k;
      ops.push_back(Op{'f', id});
      freed[id] = true;
    }
  }
  ops.push_back(Op{'s'});
  uint32_t next = 4 * per_arena;
  for (uint64_t size : newcomers) ops.push_back(Op{'a', next++, size});
  ops.push_back(Op{'s'});
  for (uint32_t id = 0; id < per_arena; ++id)
    if (!freed[id]) ops.push_back(Op{'f', id});
  ops.push_back(Op{'s'});
  return ops;
}

// CPython's tie rules: an arena that regains its first free pool goes to the
// head of usable_arenas, ahead of arenas with as many; one that slides right
// goes to the front of the run it joins. Every version found.
TEST(PooledOracle, TiesInUsableArenas) {
  const std::pair<std::string_view, PythonVersion> versions[] = {{"3.8", PythonVersion::V3_8},
                                                                 {"3.9", PythonVersion::V3_9},
                                                                 {"3.10", PythonVersion::V3_10},
                                                                 {"3.11", PythonVersion::V3_11}};
  bool any = false;
  for (const auto& [minor, version] : versions) {
    const PooledParams params = params_with(version, ArenaAlignment::Aligned);
    for (const Oracle& o : oracles(minor)) {
      any = true;
      const std::string full = version_of(o.path);
      SCOPED_TRACE("CPython " + full);
      // [1] then [0 1]: the newcomer goes to arena 0, which is not given back.
      expect_same_stats(o, params, ties_scenario(params, {{1, 0}, {0, 0}}, {16}), full + "_head");
      // [1(2)], [2(1) 1(2)], [0(1) 2(1) 1(2)], then 0 slides: [2(1) 0(2) 1(2)];
      // the first newcomer fills arena 2, the second goes to arena 0.
      expect_same_stats(o, params, ties_scenario(params, {{1, 0}, {1, 1}, {2, 0}, {0, 0}, {0, 1}}, {16, 32}),
                        full + "_slide");
    }
  }
  if (!any) GTEST_SKIP() << no_oracle("3.11");
}

// Debian's 3.11, the reference: three sequences of about 440 000 requests
// (with the next test, 1.5 million: the Debug suite's budget for this).
TEST(PooledOracle, Python311) {
  compare_with_cpython("3.11", PythonVersion::V3_11, ArenaAlignment::Aligned, 3, 12000);
}

// Arenas one page past a pool boundary: CPython loses a pool per arena.
TEST(PooledOracle, Python311Unaligned) {
  compare_with_cpython("3.11", PythonVersion::V3_11, ArenaAlignment::Unaligned, 1, 6000);
}

// The other versions come from pyenv builds, where present (not on CI).
TEST(PooledOracle, Python310) {
  compare_with_cpython("3.10", PythonVersion::V3_10, ArenaAlignment::Aligned, 2, 12000);
}

// 4 KiB pools in 256 KiB arenas: some 50 arenas, and the arena table grows twice.
TEST(PooledOracle, Python39) { compare_with_cpython("3.9", PythonVersion::V3_9, ArenaAlignment::Aligned, 2, 12000); }

// 3.8 also gives back the last free arena.
TEST(PooledOracle, Python38) { compare_with_cpython("3.8", PythonVersion::V3_8, ArenaAlignment::Aligned, 2, 12000); }

}  // namespace
}  // namespace heaplay
