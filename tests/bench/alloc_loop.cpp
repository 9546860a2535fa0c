// alloc_loop.cpp: the baseline heaplay's replay is measured against: a
// compiled loop that makes a trace's malloc/free/realloc calls, and nothing
// else, from an array decoded beforehand.
//
//   alloc_loop decode TRACE OPS    decode TRACE (any format heaplay reads)
//                                  into OPS: one 16-byte record a request
//   alloc_loop run OPS [--touch none|first] [--pymalloc]
//                                  mmap OPS and make its calls; prints the
//                                  loop's own time (ns) and requests
//
// `run` calls glibc's malloc, free and realloc, or, built as
// alloc_loop_pymalloc (HEAPLAY_LOOP_PYMALLOC), CPython's PyObject_Malloc,
// PyObject_Free and PyObject_Realloc for requests of domains -, mem and obj
// and PyMem_Raw* for raw ones, as the interpreter's allocator sees them.
// Objects count as blocks: an `o` allocates, its death frees. `--touch first`
// writes the first 8 bytes of every new block, as `heaplay replay --touch
// first` does. Whole-process comparisons (tests/bench/perf.sh) time this
// program start to end, reading OPS from the page cache included, beside
// `heaplay replay` on the trace itself (docs/performance.md).
//
// Memory: OPS is mapped, not read; one pointer per slot the trace uses.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "traces/error.hpp"
#include "traces/trace_io.hpp"

#ifdef HEAPLAY_LOOP_PYMALLOC
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#endif

namespace {

enum : uint8_t { kAlloc, kFree, kRealloc };

struct Op {
  uint64_t size;  // kAlloc, kRealloc: bytes
  uint32_t slot;
  uint8_t op;
  uint8_t raw;  // domain raw (PyMem_Raw* under pymalloc)
  uint16_t pad;
};
static_assert(sizeof(Op) == 16);

struct Header {
  char magic[8];
  uint64_t ops;
  uint64_t slots;  // highest slot + 1
};
constexpr char kMagic[8] = {'h', 'p', 'l', 'o', 'o', 'p', '0', '1'};

// Appends every request of the trace to OPS (buffered; the header last).
class Decoder final : public heaplay::EventConsumer {
 public:
  explicit Decoder(FILE* out) : out_(out) {}
  void begin(const heaplay::TraceInfo&) override {}
  void events(std::span<const heaplay::Event> batch) override {
    using heaplay::EventKind;
    for (const heaplay::Event& e : batch) {
      Op o{};
      switch (e.kind) {
        case EventKind::Alloc:
        case EventKind::Object: o.op = kAlloc; break;
        case EventKind::Free:
        case EventKind::Death: o.op = kFree; break;
        case EventKind::Realloc: o.op = kRealloc; break;
        default: continue;
      }
      o.slot = e.slot.value;
      o.size = e.size;
      o.raw = e.domain == heaplay::Domain::Raw;
      slots_ = std::max<uint64_t>(slots_, uint64_t{o.slot} + 1);
      buf_.push_back(o);
      if (buf_.size() == 65536) flush();
    }
  }
  void end(const heaplay::TraceInfo&, const heaplay::ReadSummary&) override { flush(); }
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), sizeof(Op), buf_.size(), out_) != buf_.size())
      throw heaplay::Error("alloc_loop: write failed", 1);
    ops_ += buf_.size();
    buf_.clear();
  }
  uint64_t ops() const { return ops_; }
  uint64_t slots() const { return slots_; }

 private:
  FILE* out_;
  std::vector<Op> buf_;
  uint64_t ops_ = 0, slots_ = 0;
};

int decode(const char* trace, const char* path) {
  FILE* out = std::fopen(path, "wb");
  if (!out) throw heaplay::Error(std::string("alloc_loop: cannot write ") + path, 1);
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  std::fwrite(&h, sizeof h, 1, out);  // rewritten once the counts are known
  Decoder d(out);
  heaplay::open_trace(trace)->read(d);
  h.ops = d.ops();
  h.slots = d.slots();
  std::fseek(out, 0, SEEK_SET);
  std::fwrite(&h, sizeof h, 1, out);
  if (std::fclose(out) != 0) throw heaplay::Error("alloc_loop: write failed", 1);
  std::printf("%llu requests, %llu slots\n", static_cast<unsigned long long>(h.ops),
              static_cast<unsigned long long>(h.slots));
  return 0;
}

#ifdef HEAPLAY_LOOP_PYMALLOC
inline void* do_malloc(uint64_t n, bool raw) { return raw ? PyMem_RawMalloc(n) : PyObject_Malloc(n); }
inline void do_free(void* p, bool raw) { raw ? PyMem_RawFree(p) : PyObject_Free(p); }
inline void* do_realloc(void* p, uint64_t n, bool raw) { return raw ? PyMem_RawRealloc(p, n) : PyObject_Realloc(p, n); }
#else
inline void* do_malloc(uint64_t n, bool) { return std::malloc(n); }
inline void do_free(void* p, bool) { std::free(p); }
inline void* do_realloc(void* p, uint64_t n, bool) { return std::realloc(p, n); }
#endif

int run(const char* path, bool touch) {
  int fd = ::open(path, O_RDONLY);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < sizeof(Header))
    throw heaplay::Error(std::string("alloc_loop: cannot read ") + path, 1);
  void* map = ::mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) throw heaplay::Error("alloc_loop: mmap failed", 1);
  const auto* h = static_cast<const Header*>(map);
  if (std::memcmp(h->magic, kMagic, sizeof kMagic) != 0 ||
      sizeof(Header) + h->ops * sizeof(Op) != static_cast<uint64_t>(st.st_size))
    throw heaplay::Error(std::string("alloc_loop: not an ops file: ") + path, 1);
  const Op* ops = reinterpret_cast<const Op*>(h + 1);
  std::vector<void*> ptr(h->slots, nullptr);

  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0, n = h->ops; i < n; ++i) {
    const Op& o = ops[i];
    switch (o.op) {
      case kAlloc: {
        void* p = do_malloc(o.size, o.raw);
        if (touch && p && o.size) std::memset(p, 0x5a, o.size < 8 ? o.size : 8);
        ptr[o.slot] = p;
        break;
      }
      case kFree: do_free(ptr[o.slot], o.raw); break;
      case kRealloc: ptr[o.slot] = do_realloc(ptr[o.slot], o.size, o.raw); break;
    }
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu requests in %lld ns: %.2f ns a request\n", static_cast<unsigned long long>(h->ops),
              static_cast<long long>(ns), h->ops ? static_cast<double>(ns) / static_cast<double>(h->ops) : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 4 && std::strcmp(argv[1], "decode") == 0) return decode(argv[2], argv[3]);
    if (argc >= 3 && std::strcmp(argv[1], "run") == 0) {
      bool touch = false;
      for (int i = 3; i < argc; ++i) {
        if (std::strcmp(argv[i], "--touch") == 0 && i + 1 < argc) touch = std::strcmp(argv[++i], "first") == 0;
        else throw heaplay::Error(std::string("alloc_loop: unknown option ") + argv[i], 2);
      }
      return run(argv[2], touch);
    }
    std::fprintf(stderr, "usage: alloc_loop decode TRACE OPS | alloc_loop run OPS [--touch none|first]\n");
    return 2;
  } catch (const heaplay::Error& e) {
    std::fprintf(stderr, "alloc_loop: error: %s\n", e.what());
    return e.exit_status();
  }
}
