// malloc_jemalloc.cpp: jemalloc 5 as a MallocLibrary (malloc_library.hpp).
//
// Debian's libjemalloc2 exports the standard names (malloc, free, realloc,
// malloc_usable_size) and mallctl. Resolved in the library's handle, they are
// jemalloc's own, not this process's glibc malloc.
//
// Statistics come from mallctl after an "epoch" write, which makes jemalloc
// merge its per-arena counters (about 7 us here, so read at refresh points
// only). The MIBs are looked up once (mallctlnametomib) and read by MIB.
// held: stats.resident, the bytes in pages jemalloc has touched or keeps
// dirty (active pages, dirty unused pages and its metadata): what it holds in
// memory from the operating system, the counterpart of glibc's heap extent
// (docs/metrics.md). free: resident - allocated - metadata.
#include <fmt/format.h>

#include <cstring>

#include "engine/malloc_library.hpp"
#include "traces/error.hpp"

namespace heaplay {

namespace {

using Mallctl = int(const char*, void*, size_t*, void*, size_t);
using NameToMib = int(const char*, size_t*, size_t*);
using ByMib = int(const size_t*, size_t, void*, size_t*, void*, size_t);

class Jemalloc final : public MallocLibrary {
 public:
  Jemalloc(void* handle, std::string file) : MallocLibrary(RawKind::Jemalloc, handle, std::move(file)) {
    resolve(api_.malloc, "malloc");
    resolve(api_.free, "free");
    resolve(api_.realloc, "realloc");
    resolve(api_.usable_size, "malloc_usable_size");
    resolve(mallctl_, "mallctl");
    resolve(name_to_mib_, "mallctlnametomib");
    resolve(by_mib_, "mallctlbymib");
    const char* version = nullptr;
    size_t len = sizeof version;
    if (mallctl_("version", &version, &len, nullptr, 0) != 0 || !version) fail("version");
    set_version(version);
    for (size_t i = 0; i < kStats; ++i) {
      Mib& m = mibs_[i];
      m.len = std::size(m.mib);
      if (name_to_mib_(kNames[i], m.mib, &m.len) != 0) fail(kNames[i]);
    }
    epoch_.len = std::size(epoch_.mib);
    if (name_to_mib_("epoch", epoch_.mib, &epoch_.len) != 0) fail("epoch");
  }

  uint64_t held() override {
    refresh();
    return read(kResident);
  }

  std::optional<uint64_t> free_bytes() override {
    refresh();
    const uint64_t used = read(kAllocated) + read(kMetadata), resident = read(kResident);
    return resident > used ? resident - used : 0;
  }

  std::vector<AllocatorFigure> figures() override {
    refresh();
    std::vector<AllocatorFigure> out;
    for (size_t i = 0; i < kStats; ++i) {
      std::string name = std::string("jemalloc_") + (kNames[i] + std::strlen("stats."));
      out.push_back({std::move(name), read(i)});
    }
    return out;
  }

 private:
  struct Mib {
    size_t mib[4] = {};
    size_t len = 0;
  };
  enum : size_t { kAllocated, kActive, kMetadata, kResident, kMapped, kRetained, kStats };
  static constexpr const char* kNames[kStats] = {"stats.allocated", "stats.active", "stats.metadata",
                                                 "stats.resident",  "stats.mapped", "stats.retained"};

  [[noreturn]] void fail(const char* what) const {
    throw Error(fmt::format("--raw jemalloc: mallctl(\"{}\") failed: {} needs jemalloc 5 built with statistics",
                            what, file_),
                kExitFailure);
  }
  void refresh() {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    if (by_mib_(epoch_.mib, epoch_.len, &epoch, &len, &epoch, sizeof epoch) != 0) fail("epoch");
  }
  uint64_t read(size_t i) {
    size_t v = 0, len = sizeof v;
    if (by_mib_(mibs_[i].mib, mibs_[i].len, &v, &len, nullptr, 0) != 0) fail(kNames[i]);
    return v;
  }

  Mallctl* mallctl_ = nullptr;
  NameToMib* name_to_mib_ = nullptr;
  ByMib* by_mib_ = nullptr;
  Mib mibs_[kStats];
  Mib epoch_;
};

}  // namespace

std::unique_ptr<MallocLibrary> open_jemalloc(void* handle, std::string file) {
  return std::make_unique<Jemalloc>(handle, std::move(file));
}

}  // namespace heaplay
