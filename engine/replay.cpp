// replay.cpp: the replay loop.
#include "engine/replay.hpp"

#include "engine/objspec.hpp"

#include <fmt/format.h>

#include "engine/collector.hpp"
#include "engine/gc_layer.hpp"

#include "traces/error.hpp"

namespace heaplay {

namespace {

// The layer memory requests go to: the one below gc, when gc is on top.
Layer& memory_layer(Layer& top) { return dynamic_cast<GcLayer*>(&top) ? *top.below() : top; }

}  // namespace

Replayer::Replayer(Stack& stack, const Params& params, const StackOptions& options)
    : stack_(stack), top_(stack.top()), mem_(memory_layer(stack.top())), graph_(mem_, live_) {
  if (auto* gc_layer = dynamic_cast<GcLayer*>(&top_)) {
    gc_ = &gc_layer->collector();
    gc_->attach(graph_);
    graph_.set_collector(gc_);
    result_.has_gc = true;
  }
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

void Replayer::keep_block(const Event& e) {
  kept_.ensure(nkept_);
  kept_[nkept_++] = blocks_[e.slot.value];
  ++result_.skipped_gc_frees;
}

void Replayer::events(std::span<const Event> batch) {
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  uint64_t stale = 0;
  for (const Event& e : batch) {
    switch (e.kind) {
      case EventKind::Alloc: {
        blocks_.ensure(e.slot.value);
        blocks_[e.slot.value] = mem_.allocate(Request{e.size, e.str, e.domain});
        ++result_.allocs;
        ++live_blocks_;
        live_.add(e.size);
        break;
      }
      case EventKind::Free:
        ++result_.frees;
        if ((e.flags & kFlagGc) && !gc_) [[unlikely]] {
          keep_block(e);  // no collector here freed it: it stays live
          break;
        }
        mem_.release(blocks_[e.slot.value], Request{e.size, e.str, e.domain});
        --live_blocks_;
        live_.now -= e.size;
        break;
      case EventKind::Realloc: {
        Block& b = blocks_[e.slot.value];
        b = mem_.reallocate(b, e.old_size, Request{e.size, e.str, e.domain});
        ++result_.reallocs;
        live_.now -= e.old_size;
        live_.add(e.size);
        break;
      }
      case EventKind::Object:
        graph_.create(e.slot.value, e.size, e.str);
        ++result_.objects;
        break;
      case EventKind::Incref: stale += !graph_.incref(e.slot.value); break;
      case EventKind::Decref: stale += !graph_.decref(e.slot.value); break;
      case EventKind::Link: stale += !graph_.link(e.slot.value, e.dst.value); break;
      case EventKind::Unlink: stale += !graph_.unlink(e.slot.value, e.dst.value); break;
      case EventKind::Death:
        graph_.death(e.slot.value);
        continue;  // derived, not a record
      case EventKind::Time:
      case EventKind::Mark: break;
      case EventKind::Collect:
        ++result_.collections;
        if (gc_) gc_->collect(static_cast<int>(e.size));
        break;
    }
    ++n;
  }
  result_.events += n;
  result_.stale_object_events += stale;
  result_.replay_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#ifdef HEAPLAY_CHECKS
  for (const auto& layer : stack_.layers())
    if (!layer->is_valid()) throw Error(fmt::format("{} layer: invariant broken", layer->name()), kExitFailure);
  if (!graph_.is_valid()) throw Error("reference graph: invariant broken", kExitFailure);
#endif
}

void Replayer::end(const TraceInfo& info, const ReadSummary& summary) {
  (void)info;
  result_.truncated = summary.truncated;
  result_.anomalies = summary.anomalies.total();
  // Objects only cycles keep alive: all of them without a collector; with
  // one, the tracked garbage still waiting for a collection.
  unreclaimed_ = find_unreclaimed(graph_, gc_ != nullptr);
}

ReplayResult Replayer::finish() const {
  // Measure before this function allocates: raw glibc measures this process's
  // heap (raw_glibc.hpp). So the bottom layer reports first, too.
  const uint64_t peak_footprint = top_.peak_held_bytes(), final_footprint = top_.held_bytes();
  const auto& layers = stack_.layers();
  LayerReport bottom = layers.back()->report();
  ReplayResult r = result_;
  r.peak_live_bytes = live_.peak;
  r.final_live_bytes = live_.now;
  r.final_live_blocks = live_blocks_;
  r.final_live_objects = graph_.live_objects();
  r.object_deaths = graph_.deaths();
  r.unreclaimed_cyclic_objects = unreclaimed_.objects;
  r.unreclaimed_cyclic_bytes = unreclaimed_.bytes;
  if (gc_) r.gc = gc_->summary();
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
