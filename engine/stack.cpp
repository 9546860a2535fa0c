// stack.cpp: parsing --stack and composing layers.
#include "engine/stack.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

namespace {

bool try_kind(std::string_view w, LayerKind& k) {
  if (w == "gc") k = LayerKind::Gc;
  else if (w == "objspec") k = LayerKind::Objspec;
  else if (w == "pooled") k = LayerKind::Pooled;
  else if (w == "raw") k = LayerKind::Raw;
  else return false;
  return true;
}

}  // namespace

std::string_view layer_kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::Gc: return "gc";
    case LayerKind::Objspec: return "objspec";
    case LayerKind::Pooled: return "pooled";
    case LayerKind::Raw: return "raw";
  }
  return "?";
}

bool StackSpec::has(LayerKind k) const {
  for (LayerKind l : layers)
    if (l == k) return true;
  return false;
}

std::string StackSpec::name() const {
  // A cumulative stack is every layer from its top one down.
  if (!layers.empty() && layers.size() == 4 - static_cast<size_t>(layers.front())) {
    bool cumulative = true;
    for (size_t i = 0; i < layers.size(); ++i)
      cumulative = cumulative && static_cast<size_t>(layers[i]) == static_cast<size_t>(layers.front()) + i;
    if (cumulative) return std::string(layer_kind_name(layers.front()));
  }
  std::string s;
  for (LayerKind l : layers) s += (s.empty() ? "" : "+") + std::string(layer_kind_name(l));
  return s;
}

StackSpec parse_stack(std::string_view text) {
  StackSpec spec;
  auto bad = [&](std::string_view why) -> Error {
    return Error(fmt::format("--stack {}: {} (named stacks: raw, pooled, objspec, gc; or layers joined by '+', "
                             "top to bottom, e.g. gc+pooled)",
                             text, why),
                 kExitBadInput);
  };
  if (text.find('+') == std::string_view::npos) {
    LayerKind top;
    if (!try_kind(text, top)) throw bad("unknown stack");
    for (int k = static_cast<int>(top); k <= static_cast<int>(LayerKind::Raw); ++k)
      spec.layers.push_back(static_cast<LayerKind>(k));
    return spec;
  }
  size_t start = 0;
  while (true) {
    size_t plus = text.find('+', start);
    std::string_view word = text.substr(start, plus == std::string_view::npos ? text.npos : plus - start);
    LayerKind k;
    if (!try_kind(word, k)) throw bad(fmt::format("unknown layer '{}'", word));
    if (!spec.layers.empty() && static_cast<int>(k) <= static_cast<int>(spec.layers.back()))
      throw bad(spec.has(k) ? fmt::format("'{}' appears twice", word)
                            : fmt::format("'{}' must come above '{}'", word, layer_kind_name(spec.layers.back())));
    spec.layers.push_back(k);
    if (plus == std::string_view::npos) break;
    start = plus + 1;
  }
  if (spec.layers.back() != LayerKind::Raw) spec.layers.push_back(LayerKind::Raw);
  return spec;
}

namespace {
constexpr RawKind kRawKinds[] = {RawKind::Sim, RawKind::Glibc, RawKind::Jemalloc, RawKind::Mimalloc,
                                 RawKind::Tcmalloc};
}  // namespace

RawKind parse_raw_kind(std::string_view text) {
  for (RawKind k : kRawKinds)
    if (text == raw_kind_name(k)) return k;
  throw Error(fmt::format("--raw {}: expected sim, glibc, jemalloc, mimalloc or tcmalloc", text), kExitBadInput);
}

std::string_view raw_kind_name(RawKind k) {
  switch (k) {
    case RawKind::Sim: return "sim";
    case RawKind::Glibc: return "glibc";
    case RawKind::Jemalloc: return "jemalloc";
    case RawKind::Mimalloc: return "mimalloc";
    case RawKind::Tcmalloc: return "tcmalloc";
  }
  return "?";
}

Touch parse_touch(std::string_view text) {
  if (text == "none") return Touch::None;
  if (text == "first") return Touch::First;
  if (text == "all") return Touch::All;
  throw Error(fmt::format("--touch {}: expected none, first or all", text), kExitBadInput);
}

std::string_view touch_name(Touch t) {
  switch (t) {
    case Touch::None: return "none";
    case Touch::First: return "first";
    case Touch::All: return "all";
  }
  return "?";
}

const Layer* Stack::find(LayerKind k) const {
  for (size_t i = 0; i < spec_.layers.size(); ++i)
    if (spec_.layers[i] == k) return layers_[i].get();
  return nullptr;
}

Stack build_stack(const StackSpec& spec, const Params& params, const StackOptions& options) {
  params.validate();
  Stack stack;
  stack.spec_ = spec;
  // Build bottom up, so each layer gets the one below it.
  const size_t n = spec.layers.size();
  std::vector<std::unique_ptr<Layer>> built(n);
  for (size_t i = n; i-- > 0;) {
    const auto depth = static_cast<uint8_t>(i);
    Layer* below = i + 1 < n ? built[i + 1].get() : nullptr;
    switch (spec.layers[i]) {
      case LayerKind::Raw:
        built[i] = options.raw == RawKind::Sim     ? make_raw_sim(params.raw, depth)
                   : options.raw == RawKind::Glibc ? make_raw_glibc(options.touch, depth, options.max_memory)
                                                   : make_raw_real(options.raw, options.touch, depth, options.max_memory);
        break;
      case LayerKind::Pooled: built[i] = make_pooled(params.pooled, below, depth); break;
      case LayerKind::Objspec: built[i] = make_objspec(params.objspec, below, depth); break;
      case LayerKind::Gc: built[i] = make_gc(params.gc, below, depth); break;
    }
  }
  stack.layers_ = std::move(built);
  for (auto& layer : stack.layers_) layer->set_meter(stack.meter_.get());
  return stack;
}

}  // namespace heaplay
