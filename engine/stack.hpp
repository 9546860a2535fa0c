// stack.hpp: naming, checking and building allocator stacks.
//
// `--stack` takes a named stack, which is cumulative (raw; pooled = pooled+raw;
// objspec = objspec+pooled+raw; gc = gc+objspec+pooled+raw), or a composition
// of layer names joined by '+', top to bottom, e.g. gc+pooled; raw is always
// the bottom and is added when not named. Layers keep the order gc, objspec,
// pooled, raw; each appears at most once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/layer.hpp"
#include "engine/params.hpp"

namespace heaplay {

enum class LayerKind : uint8_t { Gc, Objspec, Pooled, Raw };
std::string_view layer_kind_name(LayerKind k);

struct StackSpec {
  std::vector<LayerKind> layers;  // top to bottom; always ends with Raw
  // "raw", "pooled", "objspec", "gc" when the stack is a named one, else the
  // composition spelled out ("gc+pooled+raw").
  std::string name() const;
  bool has(LayerKind k) const;
};
// Throws Error (exit 2) naming what is wrong.
StackSpec parse_stack(std::string_view text);

// Which raw allocator sits at the bottom: the simulation, this process's
// glibc malloc (raw_glibc.hpp), or a real allocator library loaded at run
// time (raw_real.hpp, malloc_library.hpp).
enum class RawKind : uint8_t { Sim, Glibc, Jemalloc, Mimalloc, Tcmalloc };
// "sim" | "glibc" | "jemalloc" | "mimalloc" | "tcmalloc"; throws Error (exit 2) naming them.
RawKind parse_raw_kind(std::string_view text);
std::string_view raw_kind_name(RawKind k);
// Everything but sim: real memory, a resident set, --touch and --max-memory.
inline bool is_real(RawKind k) { return k != RawKind::Sim; }

// How much of each block the real raw allocators write, so that RSS means something.
enum class Touch : uint8_t { None, First, All };
Touch parse_touch(std::string_view text);  // "none" | "first" | "all"
std::string_view touch_name(Touch t);

struct StackOptions {
  RawKind raw = RawKind::Sim;
  Touch touch = Touch::None;          // real raw layers only
  uint64_t max_memory = UINT64_MAX;  // real raw layers: --max-memory in bytes (os_memory.hpp)
};

// The layers of one stack, owned top to bottom.
class Stack {
 public:
  Layer& top() { return *layers_.front(); }
  const Layer& top() const { return *layers_.front(); }
  const std::vector<std::unique_ptr<Layer>>& layers() const { return layers_; }
  const StackSpec& spec() const { return spec_; }
  // The layer of that kind, or nullptr.
  const Layer* find(LayerKind k) const;
  // The figures every layer keeps current for the replay loop (layer.hpp).
  const Meter& meter() const { return *meter_; }

 private:
  friend Stack build_stack(const StackSpec&, const Params&, const StackOptions&);
  StackSpec spec_;
  std::vector<std::unique_ptr<Layer>> layers_;
  std::unique_ptr<Meter> meter_ = std::make_unique<Meter>();  // stays put when the Stack moves
};

// Throws Error (exit 2) for layers this version cannot build yet.
Stack build_stack(const StackSpec& spec, const Params& params, const StackOptions& options);

// Factories, one per layer file. depth: the layer's depth in the stack.
std::unique_ptr<Layer> make_raw_sim(const RawParams& params, uint8_t depth);
std::unique_ptr<Layer> make_raw_glibc(Touch touch, uint8_t depth, uint64_t max_memory = UINT64_MAX);
// jemalloc, mimalloc or tcmalloc, loaded with dlopen (throws Error naming the
// Debian package when the library is missing).
std::unique_ptr<Layer> make_raw_real(RawKind kind, Touch touch, uint8_t depth, uint64_t max_memory = UINT64_MAX);
std::unique_ptr<Layer> make_pooled(const PooledParams& params, Layer* below, uint8_t depth);
std::unique_ptr<Layer> make_objspec(const ObjspecParams& params, Layer* below, uint8_t depth);
std::unique_ptr<Layer> make_gc(const GcParams& params, Layer* below, uint8_t depth);

}  // namespace heaplay
