// stats_test.cpp: StatsConsumer figures on hand-built streams, with expected
// values worked out by hand in the comments (record indices are 0-based).
//
// Streams go through a Lifetimes into an EventBatch, exactly as readers feed
// consumers: slots are assigned, frees get their size/type/domain, and object
// deaths are derived.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>

#include "reports/stats.hpp"
#include "traces/error.hpp"
#include "traces/lifetimes.hpp"

namespace heaplay {
namespace {

// Builds a valid stream event by event and feeds it to a StatsConsumer (and,
// optionally, to a second consumer as well).
class Stream : public EventConsumer {
 public:
  explicit Stream(size_t batch = 3, EventConsumer* also = nullptr) : batch_(*this, batch), also_(also) {
    info.path = "t.trace";
    info.strings = &strings;
    stats.begin(info);
    if (also_) also_->begin(info);
  }
  void events(std::span<const Event> b) override {
    stats.events(b);
    if (also_) also_->events(b);
  }

  SlotId a(uint64_t size, std::string_view type = "", Domain d = Domain::None) {
    Event e = with(EventKind::Alloc, SlotId{}, size);
    e.str = strings.intern(type);
    e.domain = d;
    return apply(e);
  }
  SlotId o(uint64_t size, std::string_view type = "obj") {
    Event e = with(EventKind::Object, SlotId{}, size);
    e.str = strings.intern(type);
    return apply(e);
  }
  void f(SlotId s, bool gc = false) { apply(with(EventKind::Free, s, 0, gc ? kFlagGc : 0)); }
  void r(SlotId s, uint64_t size) { apply(with(EventKind::Realloc, s, size)); }
  void inc(SlotId s) { apply(with(EventKind::Incref, s)); }
  void dec(SlotId s) { apply(with(EventKind::Decref, s)); }
  void link(SlotId s, SlotId d) { apply(with(EventKind::Link, s, 0, 0, d)); }
  void unlink(SlotId s, SlotId d) { apply(with(EventKind::Unlink, s, 0, 0, d)); }
  void g(uint64_t gen) { apply(with(EventKind::Collect, SlotId{}, gen)); }
  void t(uint64_t ns) { apply(with(EventKind::Time, SlotId{}, ns)); }
  void thread(uint64_t tid) { apply(with(EventKind::Thread, SlotId{}, tid)); }
  void m(std::string_view label) {
    Event e = with(EventKind::Mark, SlotId{});
    e.str = strings.intern(label);
    apply(e);
  }

  TraceStats finish() {
    batch_.flush();
    stats.end(info, summary);
    if (also_) also_->end(info, summary);
    return stats.finish();
  }

  StringTable strings;
  TraceInfo info;
  ReadSummary summary;
  StatsConsumer stats;

 private:
  static Event with(EventKind k, SlotId s, uint64_t size = 0, uint8_t flags = 0, SlotId dst = {}) {
    Event e;
    e.kind = k, e.slot = s, e.size = size, e.flags = flags, e.dst = dst;
    return e;
  }
  SlotId apply(Event e) {
    Anomaly an = lifetimes_.apply(e, batch_);
    if (an != Anomaly::None) throw std::logic_error("test stream is invalid: " + std::string(anomaly_name(an)));
    ++summary.events;
    summary.deaths += lifetimes_.died().size();
    return e.slot;
  }

  Lifetimes lifetimes_;
  EventBatch batch_;
  EventConsumer* also_;
};

using Buckets = std::vector<std::tuple<uint64_t, uint64_t, uint64_t, uint64_t>>;  // min, max, count, bytes
Buckets buckets(const std::vector<HistogramBucket>& h) {
  Buckets out;
  for (const auto& b : h) out.emplace_back(b.min, b.max, b.count, b.bytes);
  return out;
}

const TypeStats* find_type(const TraceStats& s, std::string_view name) {
  for (const auto& t : s.types)
    if (t.type == name) return &t;
  return nullptr;
}

TEST(Stats, EmptyTrace) {
  Stream st;
  TraceStats s = st.finish();
  EXPECT_EQ(s.trace, "t.trace");
  EXPECT_EQ(s.format, "text");
  EXPECT_EQ(s.events, 0u);
  EXPECT_EQ(s.peak_live_bytes, 0u);
  EXPECT_FALSE(s.first_time_ns.has_value());
  EXPECT_TRUE(s.size_histogram.empty());
  EXPECT_TRUE(s.lifetime_histogram.empty());
  EXPECT_TRUE(s.types.empty());
  ASSERT_EQ(s.domains.size(), 4u);
  EXPECT_EQ(s.domains[0].domain, "-");
  EXPECT_EQ(s.domains[1].domain, "raw");
  EXPECT_EQ(s.domains[2].domain, "mem");
  EXPECT_EQ(s.domains[3].domain, "obj");
  // Every kind but None, in enum order, even when zero.
  ASSERT_EQ(s.anomaly_counts.size(), size_t{kAnomalyKinds - 1});
  EXPECT_EQ(s.anomaly_counts.front().first, "unknown_id");
  for (int k = 1; k < kAnomalyKinds; ++k) {
    EXPECT_EQ(s.anomaly_counts[k - 1].first, anomaly_name(static_cast<Anomaly>(k)));
    EXPECT_EQ(s.anomaly_counts[k - 1].second, 0u);
  }
}

TEST(Stats, PeaksFinalsAndRealloc) {
  Stream st;
  SlotId A = st.a(100);  // 0  live 100
  SlotId B = st.a(50);   // 1  live 150
  st.f(A);               // 2  live 50
  SlotId C = st.a(10);   // 3  live 60 (reuses A's slot)
  st.r(C, 200);          // 4  live 250  <- peak
  st.f(B);               // 5  live 200
  st.t(5);               // 6
  st.t(9);               // 7
  TraceStats s = st.finish();
  EXPECT_EQ(C, A);
  EXPECT_EQ(s.events, 8u);
  EXPECT_EQ(s.allocs, 4u);  // 3 a + 1 r
  EXPECT_EQ(s.frees, 3u);   // 2 f + 1 r
  EXPECT_EQ(s.reallocs, 1u);
  EXPECT_EQ(s.peak_live_bytes, 250u);
  EXPECT_EQ(s.peak_live_blocks, 2u);
  EXPECT_EQ(s.peak_live_objects, 0u);
  EXPECT_EQ(s.final_live_bytes, 200u);
  EXPECT_EQ(s.final_live_blocks, 1u);
  EXPECT_EQ(s.allocated_bytes_total, 360u);  // 100 + 50 + 10 + 200
  EXPECT_EQ(s.temporary, 1u);                // the r right after C's a
  EXPECT_EQ(s.first_time_ns, 5u);
  EXPECT_EQ(s.last_time_ns, 9u);
  EXPECT_EQ(buckets(s.size_histogram),
            (Buckets{{8, 15, 1, 10}, {32, 63, 1, 50}, {64, 127, 1, 100}, {128, 255, 1, 200}}));
  // f A at 2 (born 0): 2; f B at 5 (born 1): 4.
  EXPECT_EQ(buckets(s.lifetime_histogram), (Buckets{{2, 3, 1, 100}, {4, 7, 1, 50}}));
  EXPECT_EQ(s.never_freed, 1u);
}

TEST(Stats, ReallocShrinkDoesNotRaisePeak) {
  Stream st;
  SlotId A = st.a(1000);
  st.r(A, 10);
  SlotId B = st.a(500);
  st.r(B, 600);
  TraceStats s = st.finish();
  EXPECT_EQ(s.peak_live_bytes, 1000u);  // 1000, 10, 510, 610
  EXPECT_EQ(s.final_live_bytes, 610u);
  EXPECT_EQ(s.allocated_bytes_total, 2110u);
  EXPECT_EQ(s.temporary, 2u);  // both r follow their block's own allocation
}

// Runs a tiny script of space-separated steps on a fresh stream and returns
// `temporary`. aN/oN allocate block/object N (8 bytes), fN frees it, rN
// reallocates it (to 16), +N/-N change its count, lNM links N to M, and t, m,
// g are a time stamp, a marker and a collection.
uint64_t temporary(std::string_view script) {
  Stream st;
  std::map<char, SlotId> id;
  for (size_t i = 0; i < script.size(); ++i) {
    char op = script[i];
    char n = i + 1 < script.size() ? script[i + 1] : ' ';
    switch (op) {
      case 'a': id[n] = st.a(8); break;
      case 'o': id[n] = st.o(8); break;
      case 'f': st.f(id.at(n)); break;
      case 'r': st.r(id.at(n), 16); break;
      case '+': st.inc(id.at(n)); break;
      case '-': st.dec(id.at(n)); break;
      case 'l': st.link(id.at(n), id.at(script[i + 2])); break;
      case 't': st.t(1); break;
      case 'm': st.m("x"); break;
      case 'g': st.g(0); break;
      default: continue;  // operands and spaces
    }
  }
  return st.finish().temporary;
}

TEST(Stats, Temporary) {
  EXPECT_EQ(temporary("a1 f1"), 1u);
  EXPECT_EQ(temporary("a1 a2 f2 f1"), 1u);  // f2 only: f1 follows f2
  EXPECT_EQ(temporary("a1 a2 f1 f2"), 0u);
  EXPECT_EQ(temporary("a1 r1 f1"), 2u);     // r1 follows a1; f1 follows r1
  EXPECT_EQ(temporary("a1 r1 r1"), 2u);
  EXPECT_EQ(temporary("a1 a2 r1 f1"), 1u);  // r1 follows a2: no; f1 follows r1: yes
  EXPECT_EQ(temporary("a1 a2 f1 r2 f2"), 1u);
  EXPECT_EQ(temporary("a1 a2 r2 f1 f2"), 1u);  // r2 only
  EXPECT_EQ(temporary("a1 t m g f1"), 1u);     // t, m, g are skipped
  EXPECT_EQ(temporary("a1 f1 a2 f2"), 2u);     // the slot is recycled; still temporary
  EXPECT_EQ(temporary("o1 +1 -1 -1"), 1u);     // the death; refcount traffic is skipped
  // Cascade: o2 dies (after o2's allocation: temporary), then o1 (not).
  EXPECT_EQ(temporary("o1 o2 l21 -1 -2"), 1u);
  EXPECT_EQ(temporary("o1 o2 l12 -2 -1"), 0u);  // o1 dies first, but o2 was allocated last
}

TEST(Stats, HistogramEdgeBuckets) {
  EXPECT_EQ(log2_bucket(0), 0);
  EXPECT_EQ(log2_bucket(1), 1);
  EXPECT_EQ(log2_bucket(2), 2);
  EXPECT_EQ(log2_bucket(3), 2);
  EXPECT_EQ(log2_bucket(4), 3);
  EXPECT_EQ(log2_bucket((uint64_t{1} << 63) - 1), 63);
  EXPECT_EQ(log2_bucket(uint64_t{1} << 63), 64);
  EXPECT_EQ(log2_bucket(UINT64_MAX), 64);
  EXPECT_EQ(log2_bucket_max(63), (uint64_t{1} << 63) - 1);
  EXPECT_EQ(log2_bucket_min(64), uint64_t{1} << 63);
  EXPECT_EQ(log2_bucket_max(64), UINT64_MAX);

  constexpr uint64_t kHalf = uint64_t{1} << 63;
  Stream st;
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{4}, kHalf}) st.a(size);
  TraceStats s = st.finish();
  EXPECT_EQ(buckets(s.size_histogram),
            (Buckets{{0, 0, 1, 0}, {1, 1, 1, 1}, {2, 3, 2, 5}, {4, 7, 1, 4}, {kHalf, UINT64_MAX, 1, kHalf}}));
  EXPECT_EQ(s.allocated_bytes_total, kHalf + 10);
  EXPECT_EQ(s.peak_live_bytes, kHalf + 10);
  EXPECT_EQ(s.never_freed, 6u);

  Stream big;
  SlotId x = big.a(UINT64_MAX, "huge");
  big.a(0);
  big.f(x);
  TraceStats b = big.finish();
  EXPECT_EQ(buckets(b.size_histogram), (Buckets{{0, 0, 1, 0}, {kHalf, UINT64_MAX, 1, UINT64_MAX}}));
  EXPECT_EQ(b.peak_live_bytes, UINT64_MAX);
  EXPECT_EQ(b.final_live_bytes, 0u);
  EXPECT_EQ(buckets(b.lifetime_histogram), (Buckets{{2, 3, 1, UINT64_MAX}}));
  ASSERT_NE(find_type(b, "huge"), nullptr);
  EXPECT_EQ(find_type(b, "huge")->peak_live_bytes, UINT64_MAX);
}

// The message names the trace and the record (tests/golden/err_malformed_inputs
// found it naming neither).
TEST(Stats, ByteTotalOverflowThrows) {
  auto error = [](const std::function<void(Stream&)>& events) -> std::string {
    try {
      Stream st;
      events(st);
      st.finish();
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_status(), kExitBadInput);
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error([](Stream& st) {
              st.a(UINT64_MAX);
              st.a(1);  // total would be 2^64
            }),
            "t.trace: record 2: the total of bytes allocated would pass 2^64 (stats cannot count it)");
  EXPECT_EQ(error([](Stream& st) {
              SlotId x = st.a(1);
              st.a(2);
              st.r(x, UINT64_MAX);
            }),
            "t.trace: record 3: the total of bytes allocated would pass 2^64 (stats cannot count it)");
}

TEST(Stats, InconsistentStreamThrows) {
  StatsConsumer c;
  Event e;
  e.kind = EventKind::Free;
  e.size = 8;
  EXPECT_THROW(c.events(std::span<const Event>(&e, 1)), Error);
}

TEST(Stats, LifetimesInRecords) {
  Stream st;
  SlotId x = st.a(8);  // 0
  st.t(1);             // 1
  st.r(x, 24);         // 2: identity kept, no lifetime ends
  st.m("x");           // 3
  st.f(x);             // 4: lifetime 4, 24 bytes
  SlotId y = st.a(1);  // 5
  st.f(y);             // 6: lifetime 1
  TraceStats s = st.finish();
  EXPECT_EQ(buckets(s.lifetime_histogram), (Buckets{{1, 1, 1, 1}, {4, 7, 1, 24}}));
  EXPECT_EQ(s.never_freed, 0u);
}

TEST(Stats, ObjectCascade) {
  Stream st;
  SlotId A = st.o(10, "list");  // 0
  SlotId B = st.o(20, "int");   // 1
  SlotId C = st.o(30, "int");   // 2
  st.link(A, B);                // 3
  st.link(A, C);                // 4
  st.dec(B);                    // 5: B held by A only
  st.dec(C);                    // 6
  st.a(5);                      // 7: a plain block, no type
  st.dec(A);                    // 8: A dies, then B and C
  TraceStats s = st.finish();
  EXPECT_EQ(s.events, 9u);
  EXPECT_EQ(s.objects, 3u);
  EXPECT_EQ(s.deaths, 3u);
  EXPECT_EQ(s.allocs, 4u);
  EXPECT_EQ(s.frees, 3u);
  EXPECT_EQ(s.links, 2u);
  EXPECT_EQ(s.decref, 3u);
  EXPECT_EQ(s.incref, 0u);
  EXPECT_EQ(s.peak_live_objects, 3u);
  EXPECT_EQ(s.peak_live_blocks, 4u);
  EXPECT_EQ(s.peak_live_bytes, 65u);
  EXPECT_EQ(s.final_live_objects, 0u);
  EXPECT_EQ(s.final_live_blocks, 1u);
  EXPECT_EQ(s.final_live_bytes, 5u);
  EXPECT_EQ(s.temporary, 0u);  // the first death follows a, of another block
  // Deaths at record 8: A lived 8, B 7, C 6.
  EXPECT_EQ(buckets(s.lifetime_histogram), (Buckets{{4, 7, 2, 50}, {8, 15, 1, 10}}));

  ASSERT_EQ(s.types.size(), 3u);  // int (2 allocs), then - and list by name
  EXPECT_EQ(s.types[0].type, "int");
  EXPECT_EQ(s.types[1].type, "-");
  EXPECT_EQ(s.types[2].type, "list");
  const TypeStats& i = s.types[0];
  EXPECT_EQ(std::tie(i.allocs, i.bytes, i.frees, i.final_live, i.final_live_bytes, i.peak_live_bytes),
            std::make_tuple(2u, 50u, 2u, 0u, 0u, 50u));
  const TypeStats& none = s.types[1];
  EXPECT_EQ(std::tie(none.allocs, none.bytes, none.frees, none.final_live, none.final_live_bytes),
            std::make_tuple(1u, 5u, 0u, 1u, 5u));
  const DomainStats& obj = s.domains[3];
  EXPECT_EQ(std::tie(obj.allocs, obj.bytes, obj.frees, obj.final_live, obj.final_live_bytes, obj.peak_live_bytes),
            std::make_tuple(3u, 60u, 3u, 0u, 0u, 60u));
  EXPECT_EQ(s.domains[0].allocs, 1u);
  EXPECT_EQ(s.domains[0].final_live_bytes, 5u);
}

TEST(Stats, UnlinkDeathAndCounters) {
  Stream st;
  SlotId A = st.o(8);  // 0
  SlotId B = st.o(8);  // 1
  st.link(A, B);       // 2
  st.dec(B);           // 3
  st.inc(A);           // 4
  st.unlink(A, B);     // 5: B dies here, lifetime 4
  st.g(2);             // 6
  SlotId x = st.a(3);  // 7
  st.f(x, true);       // 8: a gc free
  st.m("end");         // 9
  TraceStats s = st.finish();
  EXPECT_EQ(s.events, 10u);
  EXPECT_EQ(s.deaths, 1u);
  EXPECT_EQ(s.unlinks, 1u);
  EXPECT_EQ(s.incref, 1u);
  EXPECT_EQ(s.collections, 1u);
  EXPECT_EQ(s.markers, 1u);
  EXPECT_EQ(s.gc_frees, 1u);
  EXPECT_EQ(s.frees, 2u);
  EXPECT_EQ(s.temporary, 2u);  // B's death follows o B (refcount traffic skipped); f x follows a x
  EXPECT_EQ(s.final_live_objects, 1u);
  EXPECT_EQ(buckets(s.lifetime_histogram), (Buckets{{1, 1, 1, 3}, {4, 7, 1, 8}}));
}

// threads: distinct ids of T records, however often each recurs; a T is a
// record (events) but neither allocates nor frees.
TEST(Stats, Threads) {
  Stream st;
  EXPECT_EQ(st.finish().threads, 0u);
  Stream s2;
  s2.thread(100);
  SlotId x = s2.a(8);
  s2.thread(7);
  s2.f(x);
  s2.thread(100);
  s2.thread(1ull << 40);
  TraceStats s = s2.finish();
  EXPECT_EQ(s.threads, 3u);
  EXPECT_EQ(s.events, 6u);
  EXPECT_EQ(s.allocs, 1u);
  EXPECT_EQ(s.frees, 1u);
  EXPECT_EQ(s.temporary, 1u);
}

TEST(Stats, TypesAndDomains) {
  Stream st;
  SlotId x = st.a(100, "buf", Domain::Raw);
  st.r(x, 300);
  SlotId y = st.a(8, "buf", Domain::Mem);
  st.f(x);
  st.a(1, "zeta", Domain::Mem);
  st.a(1, "alpha", Domain::Mem);
  TraceStats s = st.finish();
  ASSERT_EQ(s.types.size(), 3u);
  EXPECT_EQ(s.types[0].type, "buf");
  EXPECT_EQ(s.types[1].type, "alpha");  // ties broken by name
  EXPECT_EQ(s.types[2].type, "zeta");
  const TypeStats& b = s.types[0];
  // a 100, r -> 300 (alloc + free), a 8, f: live 100, 300, 308, 8.
  EXPECT_EQ(std::tie(b.allocs, b.bytes, b.frees, b.final_live, b.final_live_bytes, b.peak_live_bytes),
            std::make_tuple(3u, 408u, 2u, 1u, 8u, 308u));
  const DomainStats& raw = s.domains[1];
  EXPECT_EQ(std::tie(raw.allocs, raw.bytes, raw.frees, raw.final_live, raw.final_live_bytes, raw.peak_live_bytes),
            std::make_tuple(2u, 400u, 2u, 0u, 0u, 300u));
  const DomainStats& mem = s.domains[2];
  EXPECT_EQ(std::tie(mem.allocs, mem.bytes, mem.frees, mem.final_live, mem.final_live_bytes, mem.peak_live_bytes),
            std::make_tuple(3u, 10u, 0u, 3u, 10u, 10u));
  (void)y;
}

TEST(Stats, SummaryPassThrough) {
  Stream st;
  st.info.metadata.set("source", "python");
  st.info.metadata.set("python.version", "3.11");
  st.info.metadata.set("source", "cpython");  // replaces, keeps position
  st.summary.truncated = true;
  st.summary.anomalies.add(Anomaly::DoubleFree);
  st.summary.anomalies.add(Anomaly::DoubleFree);
  st.summary.anomalies.add(Anomaly::TimeBackwards);
  st.info.format = TraceFormat::Native;
  st.stats.begin(st.info);  // again, to pick up the format
  TraceStats s = st.finish();
  EXPECT_EQ(s.format, "native");
  EXPECT_TRUE(s.truncated);
  EXPECT_EQ(s.anomalies, 3u);
  using KV = std::pair<std::string, uint64_t>;
  EXPECT_EQ(s.anomaly_counts[1], (KV{"double_free", 2}));
  EXPECT_EQ(s.anomaly_counts[6], (KV{"time_backwards", 1}));
  using MD = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(s.metadata, (MD{{"source", "cpython"}, {"python.version", "3.11"}}));
}

#if HEAPLAY_CHECKS
TEST(Stats, SummaryMismatchIsCaughtInChecks) {
  Stream st;
  st.a(1);
  st.summary.events = 2;
  EXPECT_THROW(st.finish(), std::logic_error);
}
#endif

// A random valid stream, checked against a naive second computation over the
// full event list, and for independence from batch boundaries.
class Keep : public EventConsumer {
 public:
  void events(std::span<const Event> b) override { all.insert(all.end(), b.begin(), b.end()); }
  std::vector<Event> all;
};

void random_stream(Stream& st, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<SlotId> blocks, objects;
  const char* types[] = {"", "int", "str", "a,b"};
  for (int i = 0; i < 4000; ++i) {
    unsigned op = rng() % 12;
    auto pick = [&](std::vector<SlotId>& v) {
      size_t k = rng() % v.size();
      SlotId s = v[k];
      v[k] = v.back();
      v.pop_back();
      return s;
    };
    if (op < 3 || blocks.empty()) {
      blocks.push_back(st.a(rng() % 5000, types[rng() % 4], static_cast<Domain>(rng() % 3)));
    } else if (op < 5) {
      st.f(pick(blocks), rng() % 4 == 0);
    } else if (op < 6) {
      st.r(blocks[rng() % blocks.size()], rng() % 9000);
    } else if (op < 8) {
      objects.push_back(st.o(16 + rng() % 100, types[1 + rng() % 3]));
    } else if (op < 9 && !objects.empty()) {
      st.dec(pick(objects));  // may cascade through links
    } else if (op < 10 && objects.size() >= 2) {
      st.link(objects[rng() % objects.size()], objects[rng() % objects.size()]);
    } else {
      st.t(static_cast<uint64_t>(i));
    }
  }
}

TEST(Stats, RandomStreamAgreesWithNaiveModel) {
  Keep keep;
  Stream st(7, &keep);
  random_stream(st, 42);
  TraceStats s = st.finish();

  uint64_t record = 0, live = 0, peak = 0, temporary = 0, allocs = 0;
  std::map<uint32_t, uint64_t> birth;
  std::map<int, uint64_t> life;
  std::vector<const Event*> heap;  // a, o, r, f, Death in order
  for (const Event& e : keep.all) {
    if (e.kind != EventKind::Death) ++record;
    switch (e.kind) {
      case EventKind::Alloc: case EventKind::Object:
        birth[e.slot.value] = record - 1, live += e.size, ++allocs;
        break;
      case EventKind::Realloc: live += e.size - e.old_size, ++allocs; break;
      case EventKind::Free: case EventKind::Death:
        live -= e.size, ++life[log2_bucket(record - 1 - birth.at(e.slot.value))];
        break;
      default: continue;
    }
    peak = std::max(peak, live);
    if ((e.kind == EventKind::Free || e.kind == EventKind::Death || e.kind == EventKind::Realloc) &&
        !heap.empty()) {
      const Event* p = heap.back();
      bool alloc = p->kind == EventKind::Alloc || p->kind == EventKind::Object || p->kind == EventKind::Realloc;
      temporary += alloc && p->slot == e.slot;
    }
    heap.push_back(&e);
  }
  EXPECT_GT(s.deaths, 10u);  // the stream exercises cascades
  EXPECT_EQ(s.events, record);
  EXPECT_EQ(s.allocs, allocs);
  EXPECT_EQ(s.peak_live_bytes, peak);
  EXPECT_EQ(s.final_live_bytes, live);
  EXPECT_EQ(s.temporary, temporary);
  std::map<int, uint64_t> got;
  for (const auto& b : s.lifetime_histogram) got[log2_bucket(b.min)] = b.count;
  EXPECT_EQ(got, life);

  // Rows add up to the summary.
  uint64_t type_allocs = 0, type_bytes = 0, dom_frees = 0, dom_live = 0;
  for (const auto& t : s.types) type_allocs += t.allocs, type_bytes += t.bytes;
  for (const auto& d : s.domains) dom_frees += d.frees, dom_live += d.final_live_bytes;
  EXPECT_EQ(type_allocs, s.allocs);
  EXPECT_EQ(type_bytes, s.allocated_bytes_total);
  EXPECT_EQ(dom_frees, s.frees);
  EXPECT_EQ(dom_live, s.final_live_bytes);

  // Batch size changes nothing.
  Stream one(1);
  random_stream(one, 42);
  TraceStats s1 = one.finish();
  EXPECT_EQ(render_stats(s1, Format::Json), render_stats(s, Format::Json));
}

}  // namespace
}  // namespace heaplay
