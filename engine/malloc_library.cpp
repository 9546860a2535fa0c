// malloc_library.cpp: loading real allocator libraries (malloc_library.hpp).
#include "engine/malloc_library.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

namespace {

struct LibraryInfo {
  RawKind kind;
  std::string_view file;     // the soname Debian's runtime package ships
  std::string_view package;  // that package
};
constexpr LibraryInfo kLibraries[] = {
    {RawKind::Jemalloc, "libjemalloc.so.2", "libjemalloc2"},
    {RawKind::Mimalloc, "libmimalloc.so.2", "libmimalloc2.0"},
    {RawKind::Tcmalloc, "libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"},
};

const LibraryInfo& info(RawKind kind) {
  for (const LibraryInfo& l : kLibraries)
    if (l.kind == kind) return l;
  throw Error(fmt::format("--raw {}: not a library allocator", raw_kind_name(kind)), kExitFailure);
}

std::unique_ptr<MallocLibrary> open_library(RawKind kind) {
  const LibraryInfo& lib = info(kind);
  const char* test_path = std::getenv("HEAPLAY_TEST_RAW_LIBRARY");  // test-only (malloc_library.hpp)
  std::string file = test_path && *test_path ? std::string(test_path) : std::string(lib.file);
  if (kind == RawKind::Tcmalloc) {
    // tcmalloc writes "tcmalloc: large alloc ..." to stderr for each block
    // past 1 GiB unless told otherwise (read once, when it is loaded); a
    // value the user set is kept.
    setenv("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", "4611686018427387904", 0);
  }
  dlerror();
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = dlerror();
    std::string why = e ? e : "unknown dlopen error";
    const std::string_view name = raw_kind_name(kind);
    if (why.find("static TLS") != std::string::npos)
      throw Error(fmt::format("--raw {}: cannot load {}: {}; start heaplay with GLIBC_TUNABLES={}={} (it sets that "
                              "itself unless GLIBC_TUNABLES already names the tunable)",
                              name, file, why, kStaticTlsTunable, kStaticTlsBytes),
                  kExitFailure);
    if (why.find("cannot open shared object file") != std::string::npos)
      throw Error(fmt::format("--raw {}: {} not found ({}); install the Debian package {}", name, file, why,
                              lib.package),
                  kExitFailure);
    throw Error(fmt::format("--raw {}: cannot load {}: {}; install the Debian package {}", name, file, why,
                            lib.package),
                kExitFailure);
  }
  // Preloaded (LD_PRELOAD), the library would be this process's malloc too,
  // and its statistics would count heaplay's own memory.
  void* own = dlsym(handle, "malloc");
  if (own && own == dlsym(RTLD_DEFAULT, "malloc"))
    throw Error(fmt::format("--raw {}: {} is this process's malloc already (LD_PRELOAD?), so its figures would "
                            "include heaplay's own memory; run heaplay without preloading it",
                            raw_kind_name(kind), file),
                kExitFailure);
  switch (kind) {
    case RawKind::Jemalloc: return open_jemalloc(handle, file);
    case RawKind::Mimalloc: return open_mimalloc(handle, file);
    case RawKind::Tcmalloc: return open_tcmalloc(handle, file);
    default: break;
  }
  throw Error(fmt::format("--raw {}: not a library allocator", raw_kind_name(kind)), kExitFailure);
}

}  // namespace

MallocLibrary::MallocLibrary(RawKind kind, void* handle, std::string file)
    : kind_(kind), handle_(handle), file_(std::move(file)), description_(file_) {}

void* MallocLibrary::symbol(const char* name) const {
  dlerror();
  void* p = dlsym(handle_, name);
  if (!p)
    throw Error(fmt::format("--raw {}: {} has no symbol {} (is it the library Debian's {} ships?)",
                            raw_kind_name(kind_), file_, name, info(kind_).package),
                kExitFailure);
  return p;
}

void MallocLibrary::set_version(std::string_view version) {
  description_ = fmt::format("{} ({} {})", file_, raw_kind_name(kind_), version);
}

MallocLibrary& load_malloc_library(RawKind kind) {
  // One per kind for the life of the process: blocks it served may be live
  // until the process exits, so it is never unloaded.
  static std::unique_ptr<MallocLibrary> loaded[5];
  auto& slot = loaded[static_cast<size_t>(kind)];
  if (!slot) slot = open_library(kind);
  return *slot;
}

std::string_view malloc_library_file(RawKind kind) { return info(kind).file; }
std::string_view malloc_library_package(RawKind kind) { return info(kind).package; }

bool has_static_tls_tunable() {
  const char* t = std::getenv("GLIBC_TUNABLES");
  return t && std::strstr(t, std::string(kStaticTlsTunable).c_str()) != nullptr;
}

void reexec_with_static_tls(char** argv) {
  if (has_static_tls_tunable()) return;
  const char* old = std::getenv("GLIBC_TUNABLES");
  const std::string before = old ? old : "";
  const std::string value =
      fmt::format("{}{}{}={}", before, before.empty() ? "" : ":", kStaticTlsTunable, kStaticTlsBytes);
  setenv("GLIBC_TUNABLES", value.c_str(), 1);
  std::fflush(stdout);
  std::fflush(stderr);
  execv("/proc/self/exe", argv);
  // The exec failed: carry on as started (jemalloc's dlopen will say what to set).
  if (old) setenv("GLIBC_TUNABLES", before.c_str(), 1);
  else unsetenv("GLIBC_TUNABLES");
}

}  // namespace heaplay
