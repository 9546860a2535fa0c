// raw_real_test.cpp: jemalloc, mimalloc and tcmalloc as raw layers
// (engine/raw_real.hpp, engine/malloc_library.hpp): requests served by the
// library and not by this process's malloc, usable sizes and the cache of
// them, held bytes from the library's own figures, the isolation of heaplay's
// own memory from the library, --max-memory, and a missing library's error.
//
// Each case runs in a forked child (run_child), so that no two libraries
// ever share a process, as in heaplay (one per worker). The child writes
// "key value" lines (or "error MESSAGE") to a pipe; the parent asserts.
// Bounds are generous where the library decides (its size classes, its page
// runs); what raw_real.hpp promises is asserted exactly.
#include "engine/raw_real.hpp"
#include "tests/malloc_count.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/raw_glibc.hpp"
#include "traces/error.hpp"

namespace heaplay {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = kKiB * kKiB;
constexpr RawKind kLibraries[] = {RawKind::Jemalloc, RawKind::Mimalloc, RawKind::Tcmalloc};

using Figures = std::map<std::string, std::string>;

// Runs body in a child process; returns its "key value" lines. A throw in the
// child comes back as the key "error" (its message) and "status" (its exit status).
Figures run_child(const std::function<void(Figures&)>& body) {
  int fds[2];
  if (pipe(fds) != 0) return {{"error", "pipe"}};
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Figures out;
    try {
      body(out);
    } catch (const Error& e) {
      out["error"] = e.what();
      out["status"] = std::to_string(e.exit_status());
    } catch (const std::exception& e) {
      out["error"] = e.what();
    }
    std::string text;
    for (const auto& [k, v] : out) text += k + " " + v + "\n";
    const char* p = text.data();
    size_t left = text.size();
    while (left > 0) {
      const ssize_t w = write(fds[1], p, left);
      if (w <= 0) break;
      p += w;
      left -= static_cast<size_t>(w);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t got;
  while ((got = read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(got));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  Figures out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out["error"] = "the child died";
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t sp = line.find(' ');
    out[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
  }
  return out;
}

uint64_t num(const Figures& f, const std::string& key) {
  auto it = f.find(key);
  if (it == f.end()) {
    ADD_FAILURE() << "no figure " << key << (f.count("error") ? " (error: " + f.at("error") + ")" : "");
    return 0;
  }
  return std::strtoull(it->second.c_str(), nullptr, 10);
}

uint64_t counter(const LayerReport& r, std::string_view name) {
  for (const auto& [key, value] : r.counters)
    if (key == name) return value;
  throw Error(std::string("no counter ") + std::string(name));
}

std::string name_of(RawKind k) { return std::string(raw_kind_name(k)); }

class RawRealTest : public ::testing::TestWithParam<RawKind> {};

TEST_P(RawRealTest, ServesRequestsFromTheLibraryNotThisProcessMalloc) {
  const Figures f = run_child([](Figures& out) {
    auto layer = make_raw_real(GetParam(), Touch::First, 0);
    auto& raw = dynamic_cast<RawReal&>(*layer);
    const MallocApi& api = raw.library().api();
    out["own_malloc"] = api.malloc == &::malloc ? "yes" : "no";
    out["description"] = raw.library().description();
    // Blocks of many sizes (and a few large ones), usable >= requested.
    std::vector<Block> blocks;
    std::vector<uint64_t> sizes;
    uint64_t requested = 0, short_blocks = 0;
    for (uint64_t i = 0; i < 3000; ++i) {
      const uint64_t size = i % 500 == 7 ? (i % 3 + 1) * 300 * kKiB : (i * 37) % 3000;
      const Block b = layer->allocate(Request{size, {}, Domain::Mem});
      short_blocks += api.usable_size(reinterpret_cast<void*>(b.addr)) < size;
      blocks.push_back(b);
      sizes.push_back(size);
      requested += size;
    }
    out["short_blocks"] = std::to_string(short_blocks);
    out["requested"] = std::to_string(requested);
    out["usable_live"] = std::to_string(raw.usable_live_bytes());
    out["allocated_meter"] = std::to_string(layer->meter().allocated);
    out["held_before_refresh"] = std::to_string(layer->held_bytes());
    layer->refresh();
    out["polled"] = std::to_string(raw.polled_held_bytes());
    out["held"] = std::to_string(layer->held_bytes());
    out["peak"] = std::to_string(layer->peak_held_bytes());
    // Grow every tenth block (it may move), then free everything.
    for (size_t i = 0; i < blocks.size(); i += 10) {
      blocks[i] = layer->reallocate(blocks[i], sizes[i], Request{sizes[i] + 5000, {}, Domain::Mem});
      sizes[i] += 5000;
    }
    out["valid_mid"] = layer->is_valid() ? "yes" : "no";
    for (size_t i = 0; i < blocks.size(); ++i) layer->release(blocks[i], Request{sizes[i], {}, Domain::Mem});
    layer->refresh();
    const LayerReport rep = layer->report();
    out["live_blocks"] = std::to_string(counter(rep, "live_blocks"));
    out["reallocs"] = std::to_string(counter(rep, "reallocs"));
    out["usable_after"] = std::to_string(raw.usable_live_bytes());
    out["allocated_after"] = std::to_string(layer->meter().allocated);
    out["refreshes"] = std::to_string(raw.refreshes());
    out["valid"] = layer->is_valid() ? "yes" : "no";
  });
  ASSERT_EQ(f.count("error"), 0u) << f.at("error");
  EXPECT_EQ(f.at("own_malloc"), "no");
  EXPECT_NE(f.at("description").find(name_of(GetParam())), std::string::npos) << f.at("description");
  EXPECT_EQ(num(f, "short_blocks"), 0u);
  // Usable bytes: at least the request, and the meter follows them exactly.
  EXPECT_GE(num(f, "usable_live"), num(f, "requested"));
  EXPECT_EQ(num(f, "allocated_meter"), num(f, "usable_live"));
  // Before any refresh, held is the usable live bytes; after one, the library's figure, which covers them.
  EXPECT_EQ(num(f, "held_before_refresh"), num(f, "usable_live"));
  EXPECT_GE(num(f, "polled"), num(f, "usable_live"));
  EXPECT_EQ(num(f, "held"), num(f, "polled"));
  EXPECT_GE(num(f, "peak"), num(f, "held"));
  EXPECT_EQ(f.at("valid_mid"), "yes");
  EXPECT_EQ(num(f, "live_blocks"), 0u);
  EXPECT_EQ(num(f, "reallocs"), 300u);
  EXPECT_EQ(num(f, "usable_after"), 0u);
  EXPECT_EQ(num(f, "allocated_after"), 0u);
  EXPECT_EQ(num(f, "refreshes"), 2u);
  EXPECT_EQ(f.at("valid"), "yes");
}

TEST_P(RawRealTest, FreshBlocksOfOneSizeHaveOneUsableSize) {
  // What the layer's usable-size cache relies on (raw_real.hpp), for every cached size.
  const Figures f = run_child([](Figures& out) {
    const MallocApi& api = load_malloc_library(GetParam()).api();
    uint64_t differ = 0;
    std::vector<void*> keep;
    for (uint64_t size = 0; size < RawReal::kCachedSizes; ++size) {
      void* a = api.malloc(size);
      void* b = api.malloc(size);
      differ += api.usable_size(a) != api.usable_size(b);
      keep.push_back(a);
      if (size % 3 == 0) api.free(b);  // and some reuse
      else keep.push_back(b);
      void* c = api.malloc(size);
      differ += api.usable_size(c) != api.usable_size(a);
      keep.push_back(c);
    }
    for (void* p : keep) api.free(p);
    out["differ"] = std::to_string(differ);
  });
  ASSERT_EQ(f.count("error"), 0u) << f.at("error");
  EXPECT_EQ(num(f, "differ"), 0u);
}

TEST_P(RawRealTest, HeaplaysOwnMemoryStaysOutOfTheLibrary) {
  // The library is loaded RTLD_LOCAL: this process's malloc and new stay
  // glibc's, so 64 MiB of heaplay's own allocations leave its figures as they were.
  const Figures f = run_child([](Figures& out) {
    MallocLibrary& lib = load_malloc_library(GetParam());
    void* warm = lib.api().malloc(100);  // the library's first-use set-up, before the readings
    const std::vector<AllocatorFigure> before = lib.figures();
    std::vector<std::vector<char>> mine;
    for (int i = 0; i < 64; ++i) mine.emplace_back(kMiB, 'x');
    void* p = std::malloc(3 * kMiB);
    std::memset(p, 1, 3 * kMiB);
    const std::vector<AllocatorFigure> after = lib.figures();
    std::free(p);
    lib.api().free(warm);
    uint64_t changed = 0;
    for (size_t i = 0; i < before.size(); ++i)
      if (before[i].bytes != after[i].bytes) out["changed_" + before[i].name] =
            std::to_string(before[i].bytes) + "->" + std::to_string(after[i].bytes), ++changed;
    out["changed"] = std::to_string(changed);
    out["figures"] = std::to_string(before.size());
  });
  ASSERT_EQ(f.count("error"), 0u) << f.at("error");
  EXPECT_GE(num(f, "figures"), 2u);
  EXPECT_EQ(num(f, "changed"), 0u) << [&] {
    std::string s;
    for (const auto& [k, v] : f) s += k + "=" + v + " ";
    return s;
  }();
}

TEST_P(RawRealTest, MaxMemoryStopsBeforeTheBlockIsTouched) {
  const Figures f = run_child([](Figures& out) {
    auto layer = make_raw_real(GetParam(), Touch::All, 0, kMiB);
    layer->allocate(Request{512 * kKiB, {}, Domain::Mem});
    out["first"] = "ok";
    layer->allocate(Request{600 * kKiB, {}, Domain::Mem});
    out["second"] = "ok";
  });
  EXPECT_EQ(f.at("first"), "ok");
  EXPECT_EQ(f.count("second"), 0u);
  ASSERT_EQ(f.count("error"), 1u);
  EXPECT_EQ(f.at("status"), "1");
  const std::string& e = f.at("error");
  EXPECT_EQ(e.find("--raw " + name_of(GetParam()) + ": the live blocks and mapped arenas came to "), 0u) << e;
  EXPECT_NE(e.find(" bytes, past --max-memory 1048576: "), std::string::npos) << e;
}

TEST_P(RawRealTest, AMissingLibraryNamesItsDebianPackage) {
  const Figures f = run_child([](Figures&) {
    setenv("HEAPLAY_TEST_RAW_LIBRARY", "/nonexistent/lib.so", 1);
    make_raw_real(GetParam(), Touch::None, 0);
  });
  ASSERT_EQ(f.count("error"), 1u);
  EXPECT_EQ(f.at("status"), "1");
  EXPECT_EQ(f.at("error"), "--raw " + name_of(GetParam()) +
                               ": /nonexistent/lib.so not found (/nonexistent/lib.so: cannot open shared object "
                               "file: No such file or directory); install the Debian package " +
                               std::string(malloc_library_package(GetParam())));
}

INSTANTIATE_TEST_SUITE_P(Libraries, RawRealTest, ::testing::ValuesIn(kLibraries),
                         [](const ::testing::TestParamInfo<RawKind>& i) { return name_of(i.param); });

TEST(RawReal, ALibraryThatIsNotTheRightOneSaysWhichSymbolIsMissing) {
  // libz is no allocator: loading it as tcmalloc fails on the first entry point.
  const Figures f = run_child([](Figures&) {
    setenv("HEAPLAY_TEST_RAW_LIBRARY", "libz.so.1", 1);
    load_malloc_library(RawKind::Tcmalloc);
  });
  ASSERT_EQ(f.count("error"), 1u);
  EXPECT_EQ(f.at("error"),
            "--raw tcmalloc: libz.so.1 has no symbol tc_malloc (is it the library Debian's libtcmalloc-minimal4 ships?)");
}

TEST(RawReal, TheTestBinaryStartsWithJemallocsStaticTls) {
  // test_main.cpp re-executes the binary with the tunable, as heaplay's main does.
  EXPECT_TRUE(has_static_tls_tunable());
  const char* t = std::getenv("GLIBC_TUNABLES");
  ASSERT_NE(t, nullptr);
  EXPECT_NE(std::string(t).find("glibc.rtld.optional_static_tls=16384"), std::string::npos) << t;
}

TEST(RawGlibcLimit, MaxMemoryStopsBeforeTheBlockIsTouched) {
  if (!testing::kGlibcMalloc) GTEST_SKIP() << "a sanitizer replaces glibc's malloc";
  const Figures f = run_child([](Figures& out) {
    RawGlibc layer(Touch::All, 0, 4 * kMiB);
    layer.allocate(Request{kMiB, {}, Domain::Mem});
    out["first"] = "ok";
    layer.allocate(Request{5 * kMiB, {}, Domain::Mem});
    out["second"] = "ok";
  });
  EXPECT_EQ(f.at("first"), "ok");
  EXPECT_EQ(f.count("second"), 0u);
  ASSERT_EQ(f.count("error"), 1u);
  EXPECT_EQ(f.at("error").find("--raw glibc: the heap and mapped arenas came to "), 0u) << f.at("error");
  EXPECT_NE(f.at("error").find("past --max-memory 4194304"), std::string::npos) << f.at("error");
}

}  // namespace
}  // namespace heaplay
