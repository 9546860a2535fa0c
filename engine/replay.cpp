// replay.cpp: the replay loop.
#include "engine/replay.hpp"

#include "engine/objspec.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

Replayer::Replayer(Stack& stack, const Params& params, const StackOptions& options)
    : stack_(stack), top_(stack.top()) {
  result_.stack = stack.spec().name();
  result_.python = std::string(python_name(params.python));
  result_.raw = std::string(raw_kind_name(options.raw));
  if (options.raw == RawKind::Glibc) result_.touch = std::string(touch_name(options.touch));
  // Only the parameters of layers in this stack, and raw sim's only when it is the raw layer.
  for (auto& [key, value] : params.items()) {
    bool keep = key.starts_with("raw.") ? options.raw == RawKind::Sim
                : key.starts_with("pooled.") ? stack.spec().has(LayerKind::Pooled)
                : key.starts_with("objspec.") ? stack.spec().has(LayerKind::Objspec)
                : key.starts_with("gc.") && stack.spec().has(LayerKind::Gc);
    if (keep) result_.params.emplace_back(key, value);
  }
}

void Replayer::begin(const TraceInfo& info) {
  result_.trace = info.path;
  // Layers that key on type and site tags (objspec) resolve them in this table.
  if (info.strings) top_.use_strings(*info.strings);
}

void Replayer::needs_object_layers(const Event& e, uint64_t index) const {
  throw Error(fmt::format("{}: record {} (counting from 0): '{}' records need the object layers (objspec, gc), which this version "
                          "cannot replay yet; stack {} replays a, f and r records only",
                          result_.trace, index, kind_name(e.kind), result_.stack),
              kExitBadInput);
}

void Replayer::events(std::span<const Event> batch) {
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  for (const Event& e : batch) {
    switch (e.kind) {
      case EventKind::Alloc: {
        blocks_.ensure(e.slot.value);
        blocks_[e.slot.value] = top_.allocate(Request{e.size, e.str, e.domain});
        ++result_.allocs;
        ++live_blocks_;
        live_bytes_ += e.size;
        if (live_bytes_ > result_.peak_live_bytes) result_.peak_live_bytes = live_bytes_;
        break;
      }
      case EventKind::Free:
        top_.release(blocks_[e.slot.value], Request{e.size, e.str, e.domain});
        ++result_.frees;
        --live_blocks_;
        live_bytes_ -= e.size;
        break;
      case EventKind::Realloc: {
        Block& b = blocks_[e.slot.value];
        b = top_.reallocate(b, e.old_size, Request{e.size, e.str, e.domain});
        ++result_.reallocs;
        live_bytes_ = live_bytes_ - e.old_size + e.size;
        if (live_bytes_ > result_.peak_live_bytes) result_.peak_live_bytes = live_bytes_;
        break;
      }
      case EventKind::Time:
      case EventKind::Mark: break;
      case EventKind::Collect:
        // Without the gc layer there is no collector to run; the request is counted.
        ++result_.collections;
        break;
      case EventKind::Object:
      case EventKind::Incref:
      case EventKind::Decref:
      case EventKind::Link:
      case EventKind::Unlink:
      case EventKind::Death: needs_object_layers(e, result_.events + n);
    }
    ++n;
  }
  result_.events += n;
  result_.replay_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#ifdef HEAPLAY_CHECKS
  for (const auto& layer : stack_.layers())
    if (!layer->is_valid()) throw Error(fmt::format("{} layer: invariant broken", layer->name()), kExitFailure);
#endif
}

void Replayer::end(const TraceInfo& info, const ReadSummary& summary) {
  (void)info;
  result_.truncated = summary.truncated;
  result_.anomalies = summary.anomalies.total();
}

ReplayResult Replayer::finish() const {
  // Measure before this function allocates: raw glibc measures this process's
  // heap (raw_glibc.hpp). So the bottom layer reports first, too.
  const uint64_t peak_footprint = top_.peak_held_bytes(), final_footprint = top_.held_bytes();
  const auto& layers = stack_.layers();
  LayerReport bottom = layers.back()->report();
  ReplayResult r = result_;
  r.final_live_bytes = live_bytes_;
  r.final_live_blocks = live_blocks_;
  r.final_live_objects = 0;
  r.peak_footprint_bytes = peak_footprint;
  r.final_footprint_bytes = final_footprint;
  r.events_per_second = r.replay_seconds > 0 ? static_cast<double>(r.events) / r.replay_seconds : 0;
  if (const auto* objspec = dynamic_cast<const ObjspecLayer*>(stack_.find(LayerKind::Objspec))) {
    r.has_objspec = true;
    r.freelist_hits = objspec->hits();
    r.freelist_misses = objspec->misses();
    r.free_lists = objspec->free_lists();
  }
  for (size_t i = 0; i + 1 < layers.size(); ++i) r.layers.push_back(layers[i]->report());
  r.layers.push_back(std::move(bottom));
  return r;
}

}  // namespace heaplay
