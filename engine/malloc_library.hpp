// malloc_library.hpp: a real allocator library (jemalloc, mimalloc,
// tcmalloc) loaded into this process at run time, as `--raw` uses it.
//
// Why dlopen, and RTLD_LOCAL (docs/raw-real.md has the options weighed):
// - heaplay builds without these libraries, and a missing one is a clear
//   error naming its Debian package, at the moment it is asked for;
// - a library loaded RTLD_LOCAL does not join the global symbol scope, so
//   this process's malloc stays glibc's: heaplay's own memory (the reader,
//   the replay's tables, the reports) never reaches the library, whose
//   statistics then cover the replay's requests and nothing else;
// - the replay calls the library's own entry points (jemalloc's malloc, free
//   and realloc, resolved in the library; mimalloc's mi_*, tcmalloc's tc_*),
//   the same code a program that preloads the library runs.
// One library per process: `heaplay compare` replays each raw kind in its
// own worker process, and `heaplay replay` loads the one it is given.
//
// jemalloc's thread-local storage is initial-exec and larger than the spare
// static TLS glibc keeps for libraries loaded later, so its dlopen needs the
// tunable glibc.rtld.optional_static_tls from the process's start:
// reexec_with_static_tls() re-executes heaplay with it (cli/main.cpp, and the
// test binary's main).
//
// Test-only: HEAPLAY_TEST_RAW_LIBRARY=PATH loads PATH instead of the
// library's usual file (tests/golden/replay_raw_missing_library points it at
// a file that does not exist). Nothing else reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/stack.hpp"

namespace heaplay {

// The allocator's entry points, resolved in the library (never this process's malloc).
struct MallocApi {
  void* (*malloc)(size_t) = nullptr;
  void (*free)(void*) = nullptr;
  void* (*realloc)(void*, size_t) = nullptr;
  size_t (*usable_size)(void*) = nullptr;  // the usable bytes of a live block (malloc_usable_size)
};

// One figure of the allocator's own statistics, in bytes.
struct AllocatorFigure {
  std::string name;  // e.g. "jemalloc_resident" (the report adds _baseline_bytes / _final_bytes)
  uint64_t bytes = 0;
};

class MallocLibrary {
 public:
  virtual ~MallocLibrary() = default;  // never dlclose()d: blocks may live until the process exits
  MallocLibrary(const MallocLibrary&) = delete;
  MallocLibrary& operator=(const MallocLibrary&) = delete;

  RawKind kind() const { return kind_; }
  const MallocApi& api() const { return api_; }
  // The file loaded and the library's own version, e.g. "libjemalloc.so.2 (jemalloc 5.3.0-0-g54eaed1d...)".
  const std::string& description() const { return description_; }

  // The bytes the allocator holds from the operating system by its own
  // account, read now (refreshing its statistics first where it needs to;
  // microseconds, so the layer reads it at refresh points, not per request).
  // Which figure, per library: docs/metrics.md.
  virtual uint64_t held() = 0;
  // The bytes it holds that no block uses (its free pages and caches), where
  // it keeps such a figure; nullopt where it does not (mimalloc).
  virtual std::optional<uint64_t> free_bytes() = 0;
  // Its statistics for the layer's report, read now.
  virtual std::vector<AllocatorFigure> figures() = 0;

 protected:
  MallocLibrary(RawKind kind, void* handle, std::string file);
  // The symbol in the library; throws Error (exit 1) naming it when it is missing.
  void* symbol(const char* name) const;
  template <class F>
  void resolve(F*& fn, const char* name) const {
    fn = reinterpret_cast<F*>(symbol(name));
  }
  void set_version(std::string_view version);

  RawKind kind_;
  void* handle_;
  std::string file_;
  MallocApi api_;
  std::string description_;
};

// The library of that kind (jemalloc, mimalloc, tcmalloc), loaded on the
// first call in this process; later calls return the same one. Throws Error
// (exit 1) naming the Debian package to install when it cannot be loaded.
MallocLibrary& load_malloc_library(RawKind kind);

// The library's file (its soname) and the Debian package that ships it.
std::string_view malloc_library_file(RawKind kind);
std::string_view malloc_library_package(RawKind kind);

// The static TLS jemalloc needs from the process's start (see above).
inline constexpr std::string_view kStaticTlsTunable = "glibc.rtld.optional_static_tls";
inline constexpr uint64_t kStaticTlsBytes = 16384;
// Whether this process was started with kStaticTlsTunable in GLIBC_TUNABLES.
bool has_static_tls_tunable();
// Unless the tunable is set, re-executes this program (/proc/self/exe) with
// the same arguments and the tunable added to GLIBC_TUNABLES. Returns when
// it is set already, or when the exec failed (jemalloc's dlopen then fails
// with an error that says what to set).
void reexec_with_static_tls(char** argv);

// Per library (malloc_jemalloc.cpp, malloc_mimalloc.cpp, malloc_tcmalloc.cpp):
// resolve the entry points and statistics in the loaded handle.
std::unique_ptr<MallocLibrary> open_jemalloc(void* handle, std::string file);
std::unique_ptr<MallocLibrary> open_mimalloc(void* handle, std::string file);
std::unique_ptr<MallocLibrary> open_tcmalloc(void* handle, std::string file);

}  // namespace heaplay
