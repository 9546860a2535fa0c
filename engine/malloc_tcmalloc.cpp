// malloc_tcmalloc.cpp: gperftools' tcmalloc as a MallocLibrary (malloc_library.hpp).
//
// Debian's libtcmalloc-minimal4 exports the tc_ API (tc_malloc, tc_free,
// tc_realloc, tc_malloc_size: what its malloc, free and realloc are when it is
// preloaded) and MallocExtension's C interface. Statistics: numeric
// properties. generic.heap_size is every byte its page heap has taken from
// the operating system; tcmalloc.pageheap_unmapped_bytes the part it has
// given back (madvise) and holds as address space only. held: heap_size less
// unmapped, the bytes it holds in memory (docs/metrics.md); reading
// heap_size walks its size classes (about 3 us). free: the free bytes of the
// page heap and of the central, transfer and thread caches.
#include <fmt/format.h>

#include "engine/malloc_library.hpp"
#include "traces/error.hpp"

namespace heaplay {

namespace {

using GetProperty = int(const char* property, size_t* value);

class Tcmalloc final : public MallocLibrary {
 public:
  Tcmalloc(void* handle, std::string file) : MallocLibrary(RawKind::Tcmalloc, handle, std::move(file)) {
    resolve(api_.malloc, "tc_malloc");
    resolve(api_.free, "tc_free");
    resolve(api_.realloc, "tc_realloc");
    resolve(api_.usable_size, "tc_malloc_size");
    resolve(get_, "MallocExtension_GetNumericProperty");
    const char* (*version)(int*, int*, const char**) = nullptr;
    resolve(version, "tc_version");
    int major = 0, minor = 0;
    const char* patch = nullptr;
    const char* text = version(&major, &minor, &patch);
    set_version(text ? text : fmt::format("{}.{}", major, minor));
  }

  uint64_t held() override {
    const uint64_t heap = get("generic.heap_size"), unmapped = get("tcmalloc.pageheap_unmapped_bytes");
    return heap > unmapped ? heap - unmapped : 0;
  }
  std::optional<uint64_t> free_bytes() override {
    return get("tcmalloc.pageheap_free_bytes") + get("tcmalloc.central_cache_free_bytes") +
           get("tcmalloc.transfer_cache_free_bytes") + get("tcmalloc.thread_cache_free_bytes");
  }
  std::vector<AllocatorFigure> figures() override {
    return {{"tcmalloc_current_allocated", get("generic.current_allocated_bytes")},
            {"tcmalloc_heap_size", get("generic.heap_size")},
            {"tcmalloc_pageheap_free", get("tcmalloc.pageheap_free_bytes")},
            {"tcmalloc_pageheap_unmapped", get("tcmalloc.pageheap_unmapped_bytes")}};
  }

 private:
  uint64_t get(const char* property) const {
    size_t v = 0;
    if (!get_(property, &v))
      throw Error(fmt::format("--raw tcmalloc: {} has no property {}", file_, property), kExitFailure);
    return v;
  }

  GetProperty* get_ = nullptr;
};

}  // namespace

std::unique_ptr<MallocLibrary> open_tcmalloc(void* handle, std::string file) {
  return std::make_unique<Tcmalloc>(handle, std::move(file));
}

}  // namespace heaplay
