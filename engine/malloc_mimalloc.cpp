// malloc_mimalloc.cpp: mimalloc 2 as a MallocLibrary (malloc_library.hpp).
//
// Debian's libmimalloc2.0 exports the mi_ API: mi_malloc, mi_free, mi_realloc
// and mi_usable_size are what its malloc, free and realloc are when it is
// preloaded. Statistics: mi_process_info(), whose commit figures are
// mimalloc's own running counters (the memory it has committed from the
// operating system, now and at its peak; about 0.5 us a call, as it also asks
// the kernel for the process's times). held: the committed bytes (its
// segments' pages not decommitted): what it holds from the operating system
// (docs/metrics.md). mimalloc keeps no figure of the bytes its blocks use, so
// free_bytes() has none (the layer takes committed less its live blocks).
#include "engine/malloc_library.hpp"

namespace heaplay {

namespace {

using ProcessInfo = void(size_t* elapsed_msecs, size_t* user_msecs, size_t* system_msecs, size_t* current_rss,
                         size_t* peak_rss, size_t* current_commit, size_t* peak_commit, size_t* page_faults);

class Mimalloc final : public MallocLibrary {
 public:
  Mimalloc(void* handle, std::string file) : MallocLibrary(RawKind::Mimalloc, handle, std::move(file)) {
    resolve(api_.malloc, "mi_malloc");
    resolve(api_.free, "mi_free");
    resolve(api_.realloc, "mi_realloc");
    resolve(api_.usable_size, "mi_usable_size");
    resolve(process_info_, "mi_process_info");
    int (*version)() = nullptr;
    resolve(version, "mi_version");
    const int v = version();  // major * 100 + minor * 10 + patch (209: 2.0.9)
    set_version(std::to_string(v / 100) + "." + std::to_string(v / 10 % 10) + "." + std::to_string(v % 10));
  }

  uint64_t held() override { return info().current_commit; }
  std::optional<uint64_t> free_bytes() override { return std::nullopt; }
  std::vector<AllocatorFigure> figures() override {
    const Info i = info();
    return {{"mimalloc_commit", i.current_commit}, {"mimalloc_peak_commit", i.peak_commit}};
  }

 private:
  struct Info {
    size_t elapsed = 0, user = 0, system = 0, current_rss = 0, peak_rss = 0, current_commit = 0, peak_commit = 0,
           page_faults = 0;
  };
  Info info() const {
    Info i;
    process_info_(&i.elapsed, &i.user, &i.system, &i.current_rss, &i.peak_rss, &i.current_commit, &i.peak_commit,
                  &i.page_faults);
    return i;
  }

  ProcessInfo* process_info_ = nullptr;
};

}  // namespace

std::unique_ptr<MallocLibrary> open_mimalloc(void* handle, std::string file) {
  return std::make_unique<Mimalloc>(handle, std::move(file));
}

}  // namespace heaplay
