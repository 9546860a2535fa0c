// replay_wire.cpp: ReplayResult to bytes and back (replay_wire.hpp).
#include "reports/replay_wire.hpp"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <optional>

#include "traces/error.hpp"
#include "traces/native_format.hpp"

namespace heaplay {

namespace {

constexpr char kMagic[4] = {'H', 'L', 'R', 'W'};

class Out {
 public:
  explicit Out(std::string& s) : s_(s) {}
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) s_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) s_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }
  void flag(bool v) { s_.push_back(v ? 1 : 0); }
  void str(std::string_view v) {
    u64(v.size());
    s_.append(v);
  }
  void opt(const std::optional<uint64_t>& v) {
    flag(v.has_value());
    if (v) u64(*v);
  }

 private:
  std::string& s_;
};

[[noreturn]] void fail(const std::string& what) {
  throw Error("bad replay result from the worker: " + what, kExitFailure);
}

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  uint64_t u64() {
    need(8, "an integer");
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(s_[pos_ + i])} << (8 * i);
    pos_ += 8;
    return v;
  }
  uint32_t u32() {
    need(4, "an integer");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(s_[pos_ + i])} << (8 * i);
    pos_ += 4;
    return v;
  }
  double f64() { return std::bit_cast<double>(u64()); }
  bool flag() {
    need(1, "a flag");
    uint8_t b = static_cast<uint8_t>(s_[pos_++]);
    if (b > 1) fail(fmt::format("flag byte {} at offset {}", b, pos_ - 1));
    return b == 1;
  }
  std::string str() {
    uint64_t n = count(1, "string");
    std::string v(s_.substr(pos_, n));
    pos_ += n;
    return v;
  }
  std::optional<uint64_t> opt() {
    if (!flag()) return std::nullopt;
    return u64();
  }
  // A count of elements at least min_bytes each, checked against the bytes left.
  uint64_t count(size_t min_bytes, const char* what) {
    uint64_t n = u64();
    if (n > left() / min_bytes)
      fail(fmt::format("{} count {} at offset {} passes the message's end", what, n, pos_ - 8));
    return n;
  }
  size_t left() const { return s_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  void need(size_t n, const char* what) {
    if (left() < n) fail(fmt::format("truncated: {} at offset {}", what, pos_));
  }
  std::string_view s_;
  size_t pos_ = 0;
};

void put(Out& o, const Level& l) {
  o.u64(l.peak);
  o.u64(l.final);
  o.f64(l.mean);
}
Level get_level(In& in) {
  Level l;
  l.peak = in.u64();
  l.final = in.u64();
  l.mean = in.f64();
  return l;
}

void put_metrics(Out& o, const Metrics& m) {
  const Footprint& fp = m.footprint;
  put(o, fp.live);
  put(o, fp.allocated);
  put(o, fp.held);
  o.flag(fp.has_rss);
  put(o, fp.rss);
  const Fragmentation& fr = m.fragmentation;
  for (uint64_t v : {fr.held_bytes, fr.live_bytes, fr.internal_bytes, fr.freelist_bytes, fr.pooled_bytes,
                     fr.pooled_free_block_bytes, fr.pooled_empty_pool_bytes, fr.pooled_header_bytes,
                     fr.pooled_quantization_bytes, fr.pooled_alignment_bytes, fr.raw_bytes, fr.other_bytes})
    o.u64(v);
  const JwMeasures& jw = m.jw;
  for (double v : {jw.m1, jw.m2, jw.m3, jw.m4}) o.f64(v);
  for (uint64_t v : {jw.held_at_peak_live, jw.live_at_peak_held, jw.peak_live_event, jw.peak_held_event}) o.u64(v);
  o.flag(m.has_pooled);
  o.u64(m.pinned.size());
  for (const PinnedArenas& p : m.pinned) {
    o.u32(p.k);
    o.u64(p.final);
    o.u64(p.at_peak_held);
  }
  o.u64(m.pinned_walk_event);
  o.f64(m.cpu_seconds);
  o.f64(m.ns_per_event);
  o.f64(m.ns_per_alloc);
  o.f64(m.ns_per_free);
  o.u64(m.alloc_samples);
  o.u64(m.free_samples);
  o.f64(m.timer_overhead_ns);
  o.f64(m.gc_share);
  o.u64(m.timeline.size());
  for (const Sample& s : m.timeline) {
    o.u64(s.event);
    o.opt(s.time_ns);
    o.u64(s.live);
    o.u64(s.allocated);
    o.u64(s.held);
    o.opt(s.rss);
    o.u64(s.arenas);
    o.u64(s.collections);
  }
  o.u64(m.size_classes.size());
  for (const SizeClassReport& c : m.size_classes) {
    o.u32(c.index);
    o.u64(c.size);
    o.u32(c.blocks_per_pool);
    for (uint64_t v : {c.requests, c.peak_blocks, c.peak_pools, c.final_blocks, c.final_pools}) o.u64(v);
  }
}

Metrics get_metrics(In& in) {
  Metrics m;
  Footprint& fp = m.footprint;
  fp.live = get_level(in);
  fp.allocated = get_level(in);
  fp.held = get_level(in);
  fp.has_rss = in.flag();
  fp.rss = get_level(in);
  Fragmentation& fr = m.fragmentation;
  for (uint64_t* v : {&fr.held_bytes, &fr.live_bytes, &fr.internal_bytes, &fr.freelist_bytes, &fr.pooled_bytes,
                      &fr.pooled_free_block_bytes, &fr.pooled_empty_pool_bytes, &fr.pooled_header_bytes,
                      &fr.pooled_quantization_bytes, &fr.pooled_alignment_bytes, &fr.raw_bytes, &fr.other_bytes})
    *v = in.u64();
  JwMeasures& jw = m.jw;
  for (double* v : {&jw.m1, &jw.m2, &jw.m3, &jw.m4}) *v = in.f64();
  for (uint64_t* v : {&jw.held_at_peak_live, &jw.live_at_peak_held, &jw.peak_live_event, &jw.peak_held_event})
    *v = in.u64();
  m.has_pooled = in.flag();
  m.pinned.resize(in.count(20, "pinned arenas"));
  for (PinnedArenas& p : m.pinned) {
    p.k = in.u32();
    p.final = in.u64();
    p.at_peak_held = in.u64();
  }
  m.pinned_walk_event = in.u64();
  m.cpu_seconds = in.f64();
  m.ns_per_event = in.f64();
  m.ns_per_alloc = in.f64();
  m.ns_per_free = in.f64();
  m.alloc_samples = in.u64();
  m.free_samples = in.u64();
  m.timer_overhead_ns = in.f64();
  m.gc_share = in.f64();
  m.timeline.resize(in.count(50, "timeline"));
  for (Sample& s : m.timeline) {
    s.event = in.u64();
    s.time_ns = in.opt();
    s.live = in.u64();
    s.allocated = in.u64();
    s.held = in.u64();
    s.rss = in.opt();
    s.arenas = in.u64();
    s.collections = in.u64();
  }
  m.size_classes.resize(in.count(56, "size classes"));
  for (SizeClassReport& c : m.size_classes) {
    c.index = in.u32();
    c.size = in.u64();
    c.blocks_per_pool = in.u32();
    for (uint64_t* v : {&c.requests, &c.peak_blocks, &c.peak_pools, &c.final_blocks, &c.final_pools}) *v = in.u64();
  }
  return m;
}

}  // namespace

std::string frame_replay_wire(std::string_view body) {
  std::string out;
  out.append(kMagic, sizeof kMagic);
  Out o(out);
  o.u32(kReplayWireVersion);
  o.u64(body.size());
  out.append(body);
  o.u32(native::crc32_of(body.data(), body.size()));
  return out;
}

std::string encode_replay_result(const ReplayResult& r) {
  std::string body;
  Out o(body);
  for (const std::string* s : {&r.trace, &r.stack, &r.python, &r.raw, &r.touch, &r.raw_library}) o.str(*s);
  o.u64(r.params.size());
  for (const auto& [k, v] : r.params) {
    o.str(k);
    o.str(v);
  }
  for (uint64_t v : {r.events, r.allocs, r.frees, r.reallocs, r.collections, r.peak_live_bytes, r.final_live_bytes,
                     r.final_live_blocks, r.final_live_objects, r.objects, r.object_deaths,
                     r.unreclaimed_cyclic_objects, r.unreclaimed_cyclic_bytes, r.skipped_gc_frees,
                     r.stale_object_events})
    o.u64(v);
  o.flag(r.has_gc);
  const GcSummary& g = r.gc;
  for (uint64_t v : {g.collections[0], g.collections[1], g.collections[2], g.examined_objects, g.collected_objects,
                     g.collected_bytes, g.cascade_freed_objects})
    o.u64(v);
  o.f64(g.seconds);
  o.f64(g.max_pause_seconds);
  o.flag(r.has_objspec);
  o.u64(r.freelist_hits);
  o.u64(r.freelist_misses);
  o.u64(r.free_lists.size());
  for (const FreeListReport& l : r.free_lists) {
    o.str(l.name);
    o.flag(l.site);
    o.u32(l.limit);
    for (uint64_t v : {l.max_bytes, l.hits, l.misses, l.releases_below, l.cleared, l.held_objects, l.held_bytes,
                       l.peak_held_bytes})
      o.u64(v);
  }
  o.u64(r.peak_footprint_bytes);
  o.u64(r.final_footprint_bytes);
  o.f64(r.replay_seconds);
  o.f64(r.events_per_second);
  o.flag(r.truncated);
  o.u64(r.anomalies);
  o.u64(r.layers.size());
  for (const LayerReport& l : r.layers) {
    o.str(l.layer);
    o.u64(l.counters.size());
    for (const auto& [name, v] : l.counters) {
      o.str(name);
      o.u64(v);
    }
  }
  put_metrics(o, r.metrics);
  return frame_replay_wire(body);
}

ReplayResult decode_replay_result(std::string_view message) {
  if (message.size() < kReplayWireHeaderBytes + kReplayWireTrailerBytes)
    fail(fmt::format("truncated: {} bytes, less than a header and a checksum", message.size()));
  if (std::memcmp(message.data(), kMagic, sizeof kMagic) != 0) fail("not a replay result (bad magic)");
  In head(message.substr(4, 12));
  uint32_t version = head.u32();
  if (version != kReplayWireVersion)
    fail(fmt::format("version {}, this heaplay reads version {}", version, kReplayWireVersion));
  uint64_t length = head.u64();
  uint64_t have = message.size() - kReplayWireHeaderBytes - kReplayWireTrailerBytes;
  if (length != have) fail(fmt::format("the body should be {} bytes, the message has {}", length, have));
  std::string_view body = message.substr(kReplayWireHeaderBytes, length);
  In tail(message.substr(kReplayWireHeaderBytes + length));
  if (tail.u32() != native::crc32_of(body.data(), body.size())) fail("checksum mismatch");

  In in(body);
  ReplayResult r;
  for (std::string* s : {&r.trace, &r.stack, &r.python, &r.raw, &r.touch, &r.raw_library}) *s = in.str();
  r.params.resize(in.count(16, "parameters"));
  for (auto& [k, v] : r.params) {
    k = in.str();
    v = in.str();
  }
  for (uint64_t* v : {&r.events, &r.allocs, &r.frees, &r.reallocs, &r.collections, &r.peak_live_bytes,
                      &r.final_live_bytes, &r.final_live_blocks, &r.final_live_objects, &r.objects, &r.object_deaths,
                      &r.unreclaimed_cyclic_objects, &r.unreclaimed_cyclic_bytes, &r.skipped_gc_frees,
                      &r.stale_object_events})
    *v = in.u64();
  r.has_gc = in.flag();
  GcSummary& g = r.gc;
  for (uint64_t* v : {&g.collections[0], &g.collections[1], &g.collections[2], &g.examined_objects,
                      &g.collected_objects, &g.collected_bytes, &g.cascade_freed_objects})
    *v = in.u64();
  g.seconds = in.f64();
  g.max_pause_seconds = in.f64();
  r.has_objspec = in.flag();
  r.freelist_hits = in.u64();
  r.freelist_misses = in.u64();
  r.free_lists.resize(in.count(8 + 1 + 4 + 64, "free lists"));
  for (FreeListReport& l : r.free_lists) {
    l.name = in.str();
    l.site = in.flag();
    l.limit = in.u32();
    for (uint64_t* v : {&l.max_bytes, &l.hits, &l.misses, &l.releases_below, &l.cleared, &l.held_objects,
                        &l.held_bytes, &l.peak_held_bytes})
      *v = in.u64();
  }
  r.peak_footprint_bytes = in.u64();
  r.final_footprint_bytes = in.u64();
  r.replay_seconds = in.f64();
  r.events_per_second = in.f64();
  r.truncated = in.flag();
  r.anomalies = in.u64();
  r.layers.resize(in.count(16, "layers"));
  for (LayerReport& l : r.layers) {
    l.layer = in.str();
    l.counters.resize(in.count(16, "layer counters"));
    for (auto& [name, v] : l.counters) {
      name = in.str();
      v = in.u64();
    }
  }
  r.metrics = get_metrics(in);
  if (in.left() != 0) fail(fmt::format("{} bytes left over after the result", in.left()));
  return r;
}

}  // namespace heaplay
