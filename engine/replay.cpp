// replay.cpp: the replay loop.
#include "engine/replay.hpp"

#include "engine/objspec.hpp"

#include <fmt/format.h>

#include "engine/collector.hpp"
#include "engine/pooled.hpp"
#include "engine/raw_glibc.hpp"
#include "engine/raw_real.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <type_traits>
#include "engine/gc_layer.hpp"

#include "traces/error.hpp"

namespace heaplay {

namespace {

// The layer memory requests go to: the one below gc, when gc is on top.
Layer& memory_layer(Layer& top) { return dynamic_cast<GcLayer*>(&top) ? *top.below() : top; }

// User and system CPU time of the whole process so far.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

using Clock = std::chrono::steady_clock;

uint64_t clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// The cost of an empty timed region (two clock reads), the median of many.
double empty_region_ns() {
  std::array<uint64_t, 255> d{};
  for (uint64_t& x : d) {
    const uint64_t t0 = clock_ns();
    x = clock_ns() - t0;
  }
  std::nth_element(d.begin(), d.begin() + d.size() / 2, d.end());
  return static_cast<double>(d[d.size() / 2]);
}

}  // namespace

Replayer::Replayer(Stack& stack, const Params& params, const StackOptions& options, const MetricsOptions& metrics)
    : stack_(stack),
      top_(stack.top()),
      mem_(memory_layer(stack.top())),
      graph_(mem_, live_),
      meter_(stack.meter()),
      has_rss_(is_real(options.raw)),
      sampler_(metrics.samples, metrics.expected_records),
      progress_(metrics.progress),
      time_every_(std::max<uint32_t>(1, metrics.time_every)),
      alloc_countdown_(time_every_),
      free_countdown_(time_every_),
      timer_overhead_ns_(empty_region_ns()) {
  pooled_ = dynamic_cast<const PooledLayer*>(stack.find(LayerKind::Pooled));
  glibc_ = dynamic_cast<RawGlibc*>(&mem_);
  if (glibc_) glibc_depth_ = glibc_->depth();
  if (has_rss_) {
    refresh_on_growth_ = top_.held_is_polled();
    // A layer that keeps held exact per request (raw glibc) refreshes only to
    // hold the resident set against --max-memory, a reading of /proc (~5 us):
    // 16 times less often.
    refresh_every_ = std::max<uint64_t>(1, uint64_t{metrics.refresh_every} * (refresh_on_growth_ ? 1 : 16));
    next_refresh_ = refresh_every_;
  }
  if (auto* gc_layer = dynamic_cast<GcLayer*>(&top_)) {
    gc_ = &gc_layer->collector();
    gc_->attach(graph_);
    graph_.set_collector(gc_);
    result_.has_gc = true;
  }
  result_.stack = stack.spec().name();
  result_.python = std::string(python_name(params.python));
  result_.raw = std::string(raw_kind_name(options.raw));
  if (is_real(options.raw)) {
    result_.touch = std::string(touch_name(options.touch));
    result_.raw_library = describe_raw(options.raw);
  }
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
  cpu_start_ = process_cpu_seconds();
  result_.trace = info.path;
  // Layers that key on type and site tags (objspec) resolve them in this table.
  if (info.strings) top_.use_strings(*info.strings);
}

void Replayer::throw_block_not_an_address() {
  throw Error("replay: raw glibc returned a block with a handle, flags or another depth: invariant broken", kExitFailure);
}

void Replayer::keep_block(const Block& b) {
  kept_.ensure(nkept_);
  kept_[nkept_++] = b;
  ++result_.skipped_gc_frees;
}

void Replayer::take_sample() { sampler_.add(sample()); }

Block Replayer::timed_alloc(const Event& e) {
  const uint64_t t0 = clock_ns();
  const Block b = mem_.allocate(Request{e.size, e.str, e.domain});
  alloc_ns_ += clock_ns() - t0;
  ++alloc_timed_;
  return b;
}

void Replayer::timed_free(const Event& e, const Block& b) {
  const uint64_t t0 = clock_ns();
  mem_.release(b, Request{e.size, e.str, e.domain});
  free_ns_ += clock_ns() - t0;
  ++free_timed_;
}

uint64_t Replayer::new_live_peak(uint64_t live, uint64_t held) {
  // A layer whose held is polled: read it anew once live has grown by 1/64
  // (and 64 KiB) since the last reading, so that held at the live peaks
  // (J&W #2) and the held peak near them are within that of the truth.
  if (refresh_on_growth_ && live >= refresh_live_ + std::max<uint64_t>(refresh_live_ / 64, uint64_t{64} << 10)) {
    refresh();
    held = meter_.held;
  }
  jw_.held_at_peak_live = held;
  jw_.peak_live_event = records_;
  return held;
}

void Replayer::refresh() {
  top_.refresh();
  refresh_live_ = live_.now;
}

void Replayer::stop() {
  bool refreshed = false;
  if (records_ == next_refresh_) {
    refresh();
    refreshed = true;
    next_refresh_ += refresh_every_;
  }
  if (records_ == sampler_.next()) {
    if (refresh_on_growth_ && !refreshed) refresh();  // the sample's held is the allocator's own figure
    take_sample();
  }
}

void Replayer::new_held_peak(uint64_t live, uint64_t held) {
  (void)held;
  jw_.live_at_peak_held = live;
  jw_.peak_held_event = records_;
  if (pooled_ && (pinned_walk_event_ == 0 || held >= pinned_walk_held_ + pinned_walk_held_ / 32)) {
    pinned_at_peak_held_ = pooled_->pinned_arenas();
    pinned_walk_held_ = held;
    pinned_walk_event_ = records_;
  }
}

Sample Replayer::sample() const {
  Sample s;
  s.event = records_;
  s.time_ns = time_ns_;
  s.live = live_.now;
  s.allocated = meter_.allocated;
  s.held = meter_.held;
  if (has_rss_) s.rss = top_.rss_bytes();
  s.arenas = meter_.arenas;
  if (gc_) {
    const GcSummary& g = gc_->summary();
    s.collections = g.collections[0] + g.collections[1] + g.collections[2];
  } else {
    s.collections = result_.collections;
  }
  return s;
}

void Replayer::events(std::span<const Event> batch) {
  // Raw glibc as the memory layer: its requests inline, without virtual calls.
  if (glibc_) run(batch, *glibc_);
  else run(batch, mem_);
}

// Mem: Layer, or the final class of the memory layer (its calls then direct).
template <class Mem>
void Replayer::run(std::span<const Event> batch, Mem& mem) {
  constexpr bool kAddr = std::is_same_v<Mem, RawGlibc>;  // blocks in addrs_
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t records0 = records_;
  uint64_t stale = 0;
  // After every record: the running sums, peaks and the timeline. Kept in
  // locals (registers across the layers' calls) and stored once per chunk;
  // the sums are 64-bit within a chunk (values below 2^52 bytes cannot pass
  // 2^64 in kChunk records), 128-bit across.
  constexpr size_t kChunk = 4096;
  uint64_t records = records_, next_stop = next_stop_at();
  uint32_t alloc_countdown = alloc_countdown_, free_countdown = free_countdown_;
  uint64_t live_peak = live_sum_.peak, allocated_peak = allocated_sum_.peak, held_peak = held_sum_.peak;
  const Event* at = batch.data();  // the event being replayed, for an error's location
  const Event* const batch_end = batch.data() + batch.size();
  try {
    for (size_t from = 0; from < batch.size(); from += kChunk) {
      uint64_t live_sum = 0, allocated_sum = 0, held_sum = 0;
      const Event* const chunk_end = at + std::min(kChunk, batch.size() - from);
      for (; at != chunk_end; ++at) {
        const Event& e = *at;
        if constexpr (kAddr) {
          // A free's two dependent cache misses, the slot's address and then
          // glibc's chunk header just before it, fetched ahead: the slot
          // kFar records on, the header kNear records on (its address read
          // from the line fetched before). Whatever the kind: a slot that is
          // not a live block's gives a harmless prefetch of a stale or null
          // address, and no branch to mispredict. Slots past the table's end
          // are clamped into it.
          constexpr ptrdiff_t kNear = 8, kFar = 16;
          if (batch_end - at > kFar && addrs_.capacity() != 0) [[likely]] {
            const size_t last = addrs_.capacity() - 1;
            __builtin_prefetch(&addrs_[std::min<size_t>(at[kFar].slot.value, last)]);
            const Addr a = addrs_[std::min<size_t>(at[kNear].slot.value, last)];
            __builtin_prefetch(reinterpret_cast<const char*>(static_cast<uintptr_t>(a)) - sizeof(size_t));
          }
        }
        // Frees and allocations by two conditional branches, the other kinds
        // by the switch: the switch's jump table, one indirect jump a record
        // for every kind, mispredicted more often (raw glibc's replay took
        // 1.19-1.21x the bare loop's time that way, 1.07-1.11x this way).
        if (e.kind == EventKind::Free) {
          ++result_.frees;
          if ((e.flags & kFlagGc) && !gc_) [[unlikely]] {
            keep_block(block_at<kAddr>(e.slot.value));  // no collector here freed it: it stays live
          } else {
            if (--free_countdown == 0) [[unlikely]] {
              free_countdown = time_every_;
              timed_free(e, block_at<kAddr>(e.slot.value));
            } else {
              mem.release(block_at<kAddr>(e.slot.value), Request{e.size, e.str, e.domain});
            }
            live_.now -= e.size;
          }
        } else if (e.kind == EventKind::Alloc) {
          if constexpr (kAddr) addrs_.ensure(e.slot.value);
          else blocks_.ensure(e.slot.value);
          if (--alloc_countdown == 0) [[unlikely]] {
            alloc_countdown = time_every_;
            set_block<kAddr>(e.slot.value, timed_alloc(e));
          } else {
            set_block<kAddr>(e.slot.value, mem.allocate(Request{e.size, e.str, e.domain}));
          }
          ++result_.allocs;
          live_.now += e.size;  // its peak: live_sum_'s, at the record's end (finish())
        } else {
          switch (e.kind) {
            case EventKind::Alloc:
            case EventKind::Free: break;  // above
            case EventKind::Realloc: {
              const Request r{e.size, e.str, e.domain};
              set_block<kAddr>(e.slot.value, mem.reallocate(block_at<kAddr>(e.slot.value), e.old_size, r));
              ++result_.reallocs;
              live_.now = live_.now - e.old_size + e.size;
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
            case EventKind::Time: time_ns_ = e.size; break;
            case EventKind::Mark:
            case EventKind::Thread: break;
            case EventKind::Collect:
              ++result_.collections;
              if (gc_) gc_->collect(static_cast<int>(e.size));
              break;
          }
        }
        ++records;
        if (records == next_stop) [[unlikely]] {
          // Refresh points and timeline samples (before the figures below are read).
          records_ = records;
          stop();
          next_stop = next_stop_at();
        }
        const uint64_t live = live_.now, allocated = meter_.allocated;
        uint64_t held = meter_.held;
        if (live > live_peak) [[unlikely]] {
          live_peak = live;
          records_ = records;
          held = new_live_peak(live, held);
        }
        live_sum += live;
        allocated_sum += allocated;
        held_sum += held;
        if (allocated > allocated_peak) [[unlikely]]
          allocated_peak = allocated;
        if (held > held_peak) [[unlikely]] {
          held_peak = held;
          records_ = records;
          new_held_peak(live, held);
        }
      }
      live_sum_.sum += live_sum;
      allocated_sum_.sum += allocated_sum;
      held_sum_.sum += held_sum;
    }
  } catch (const Error& e) {
    // A layer refused (the simulated machine cannot give what the trace asks
    // for) or broke: name the trace and the record, counted from 1 as the
    // reader counts them (a death belongs to the record that caused it).
    const uint64_t record = records + (at->kind != EventKind::Death);
    throw Error(fmt::format("{}: record {}: {}", result_.trace, record, e.what()), e.exit_status());
  }
  records_ = records;
  alloc_countdown_ = alloc_countdown;
  free_countdown_ = free_countdown;
  live_sum_.peak = live_peak;
  allocated_sum_.peak = allocated_peak;
  held_sum_.peak = held_peak;
  result_.events += records_ - records0;
  if (progress_) progress_->store(records_, std::memory_order_relaxed);
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
  cpu_seconds_ = process_cpu_seconds() - cpu_start_;
  if (has_rss_) refresh();  // the final state: the allocator's own figures
  // Objects only cycles keep alive: all of them without a collector; with
  // one, the tracked garbage still waiting for a collection.
  unreclaimed_ = find_unreclaimed(graph_, gc_ != nullptr);
}

ReplayResult Replayer::finish() const {
  // Measure before this function allocates: raw glibc measures this process's
  // heap (raw_glibc.hpp). So the bottom layer reports first, too.
  const uint64_t peak_footprint = top_.peak_held_bytes(), final_footprint = top_.held_bytes();
  const uint64_t raw_free = top_.raw_free_bytes();
  const Sample last = sample();
  const auto& layers = stack_.layers();
  LayerReport bottom = layers.back()->report();
  ReplayResult r = result_;
  // Block records update live_.now alone; the peak after each record is
  // live_sum_'s. live_.peak has the graph's, which can pass it within a
  // record (an object's allocation, then the collection it triggers).
  r.peak_live_bytes = std::max(live_.peak, live_sum_.peak);
  r.final_live_bytes = live_.now;
  r.final_live_blocks = result_.allocs - result_.frees + result_.skipped_gc_frees;  // kept ones stay live
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
  finish_metrics(r, last, raw_free);
  return r;
}

namespace {
// (num / den - 1) * 100, 0 when den is 0.
double overhead(double num, double den) { return den > 0 ? (num / den - 1) * 100 : 0; }
}  // namespace

void Replayer::finish_metrics(ReplayResult& r, const Sample& last, uint64_t raw_free) const {
  Metrics& m = r.metrics;
  const uint64_t n = records_;
  Footprint& f = m.footprint;
  f.live = live_sum_.finish(last.live, n);
  f.allocated = allocated_sum_.finish(last.allocated, n);
  f.held = held_sum_.finish(last.held, n);
  m.timeline = sampler_.finish(last);
  if (has_rss_) {
    // Sampled: at the timeline's rows only (reading /proc per record is far too slow).
    f.has_rss = true;
    double sum = 0;
    for (const Sample& s : m.timeline) {
      f.rss.peak = std::max(f.rss.peak, *s.rss);
      sum += static_cast<double>(*s.rss);
    }
    f.rss.final = *last.rss;
    f.rss.mean = sum / static_cast<double>(m.timeline.size());
  }

  JwMeasures& jw = m.jw;
  jw = jw_;
  jw.m1 = overhead(f.held.mean, f.live.mean);
  jw.m2 = overhead(static_cast<double>(jw.held_at_peak_live), static_cast<double>(f.live.peak));
  jw.m3 = overhead(static_cast<double>(f.held.peak), static_cast<double>(jw.live_at_peak_held));
  jw.m4 = overhead(static_cast<double>(f.held.peak), static_cast<double>(f.live.peak));

  Fragmentation& fr = m.fragmentation;
  fr.held_bytes = last.held;
  fr.live_bytes = last.live;
  fr.freelist_bytes = meter_.parked;
  const uint64_t in_use = last.live + meter_.parked;
  fr.internal_bytes = last.allocated > in_use ? last.allocated - in_use : 0;
  if (const auto* pooled = dynamic_cast<const PooledLayer*>(stack_.find(LayerKind::Pooled))) {
    m.has_pooled = true;
    const PymallocStats ps = pooled->pymalloc_stats();
    fr.pooled_free_block_bytes = ps.available_bytes;
    fr.pooled_empty_pool_bytes = ps.unused_pool_bytes();
    fr.pooled_header_bytes = ps.pool_header_bytes;
    fr.pooled_quantization_bytes = ps.quantization_bytes;
    fr.pooled_alignment_bytes = ps.arena_alignment_bytes;
    fr.pooled_bytes = fr.pooled_free_block_bytes + fr.pooled_empty_pool_bytes + fr.pooled_header_bytes +
                      fr.pooled_quantization_bytes + fr.pooled_alignment_bytes;
    const auto final_pinned = pooled->pinned_arenas();
    for (size_t i = 0; i < final_pinned.size(); ++i)
      m.pinned.push_back(PinnedArenas{PooledLayer::kPinnedK[i], final_pinned[i], pinned_at_peak_held_[i]});
    m.pinned_walk_event = pinned_walk_event_;
    m.size_classes = pooled->size_class_report();
  }
  fr.raw_bytes = raw_free;
  const uint64_t accounted = last.allocated + fr.pooled_bytes + fr.raw_bytes;
  fr.other_bytes = last.held > accounted ? last.held - accounted : 0;

  m.cpu_seconds = cpu_seconds_;
  m.ns_per_event = n ? r.replay_seconds * 1e9 / static_cast<double>(n) : 0;
  // Sampled per-call times, less the empty region's cost (never below 0).
  auto per_call = [&](uint64_t ns, uint64_t calls) {
    return calls ? std::max(0.0, static_cast<double>(ns) / static_cast<double>(calls) - timer_overhead_ns_) : 0.0;
  };
  m.ns_per_alloc = per_call(alloc_ns_, alloc_timed_);
  m.ns_per_free = per_call(free_ns_, free_timed_);
  m.alloc_samples = alloc_timed_;
  m.free_samples = free_timed_;
  m.timer_overhead_ns = timer_overhead_ns_;
  m.gc_share = r.has_gc && r.replay_seconds > 0 ? 100 * r.gc.seconds / r.replay_seconds : 0;
}

}  // namespace heaplay
