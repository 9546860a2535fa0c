// lifetimes_test.cpp: the stream rules, slot reuse and reference-count cascades.
#include <gtest/gtest.h>

#include "tests/test_util.hpp"
#include "traces/lifetimes.hpp"

namespace heaplay {
namespace {

struct Harness {
  testing::CollectingConsumer sink;
  EventBatch batch{sink, 64};
  Lifetimes lt;

  Anomaly run(EventKind k, uint32_t slot = 0, uint64_t size = 0, uint32_t dst = 0) {
    Event e;
    e.kind = k;
    e.slot = SlotId{slot};
    e.dst = SlotId{dst};
    e.size = size;
    Anomaly a = lt.apply(e, batch);
    batch.flush();
    return a;
  }
  uint32_t alloc(uint64_t size) {
    run(EventKind::Alloc, 0, size);
    return sink.all.back().slot.value;
  }
  uint32_t object(uint64_t size) {
    run(EventKind::Object, 0, size);
    return sink.all.back().slot.value;
  }
  size_t deaths() const {
    size_t n = 0;
    for (const Event& e : sink.all) n += e.kind == EventKind::Death;
    return n;
  }
};

TEST(Lifetimes, SlotsAreReusedLastFreedFirst) {
  Harness h;
  EXPECT_EQ(h.alloc(8), 0u);
  EXPECT_EQ(h.alloc(8), 1u);
  EXPECT_EQ(h.alloc(8), 2u);
  EXPECT_EQ(h.run(EventKind::Free, 0), Anomaly::None);
  EXPECT_EQ(h.run(EventKind::Free, 2), Anomaly::None);
  EXPECT_EQ(h.lt.next_slot().value, 2u);
  EXPECT_EQ(h.alloc(8), 2u);
  EXPECT_EQ(h.alloc(8), 0u);
  EXPECT_EQ(h.alloc(8), 3u);
  EXPECT_EQ(h.lt.slot_limit(), Lifetimes::kMinNewSlots);  // made a chunk at a time
  EXPECT_EQ(h.lt.live_slots(), 4u);
  EXPECT_TRUE(h.lt.is_valid());
}

// New slots are made a chunk at a time; the slots handed out must be those
// that making them one at a time gives: the last freed first, else the
// lowest never used. Checked against that rule, modelled directly, over
// several chunks (the table grows past 1024, then by an eighth).
TEST(Lifetimes, ChunkedNewSlotsComeInTheOrderOfOneAtATime) {
  Harness h;
  std::vector<uint32_t> freed;  // the model: LIFO
  uint32_t next_new = 0;
  std::vector<uint32_t> live;
  uint64_t x = 12345;
  for (int step = 0; step < 40'000; ++step) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    if (live.empty() || (x >> 33) % 100 < 60) {
      uint32_t want;
      if (!freed.empty()) {
        want = freed.back();
        freed.pop_back();
      } else {
        want = next_new++;
      }
      ASSERT_EQ(h.lt.next_slot().value, want) << "step " << step;
      ASSERT_EQ(h.alloc(8), want) << "step " << step;
      live.push_back(want);
    } else {
      const size_t i = (x >> 40) % live.size();
      const uint32_t s = live[i];
      live[i] = live.back();
      live.pop_back();
      ASSERT_EQ(h.run(EventKind::Free, s), Anomaly::None);
      freed.push_back(s);
    }
  }
  EXPECT_GT(next_new, 4000u);  // several chunks
  EXPECT_EQ(h.lt.live_slots(), live.size());
  EXPECT_GE(h.lt.slot_limit(), next_new);
  EXPECT_LE(h.lt.slot_limit(), next_new + std::max<uint32_t>(next_new / 8, Lifetimes::kMinNewSlots));
  EXPECT_TRUE(h.lt.is_valid());
}

TEST(Lifetimes, RejectsAndLeavesStateUnchanged) {
  Harness h;
  uint32_t b = h.alloc(8);
  uint32_t o = h.object(16);
  size_t before = h.sink.all.size();
  EXPECT_EQ(h.run(EventKind::Free, 9), Anomaly::UnknownId);
  EXPECT_EQ(h.run(EventKind::Free, o), Anomaly::NotABlock);
  EXPECT_EQ(h.run(EventKind::Realloc, o, 5), Anomaly::NotABlock);
  EXPECT_EQ(h.run(EventKind::Incref, b), Anomaly::NotAnObject);
  EXPECT_EQ(h.run(EventKind::Link, o, 0, b), Anomaly::NotAnObject);
  EXPECT_EQ(h.run(EventKind::Unlink, o, 0, o), Anomaly::NoSuchEdge);
  EXPECT_EQ(h.run(EventKind::Collect, 0, 3), Anomaly::BadGeneration);
  EXPECT_EQ(h.run(EventKind::Time, 0, 10), Anomaly::None);
  EXPECT_EQ(h.run(EventKind::Time, 0, 9), Anomaly::TimeBackwards);
  EXPECT_EQ(h.run(EventKind::Death, o), Anomaly::UnknownId);
  EXPECT_EQ(h.sink.all.size(), before + 1);  // only the good t
  EXPECT_EQ(h.run(EventKind::Free, b), Anomaly::None);
  EXPECT_EQ(h.run(EventKind::Free, b), Anomaly::DoubleFree);
  EXPECT_EQ(h.lt.live_slots(), 1u);
  EXPECT_TRUE(h.lt.is_valid());
}

TEST(Lifetimes, EdgesCountWithMultiplicity) {
  Harness h;
  uint32_t a = h.object(16), b = h.object(16);
  h.run(EventKind::Link, a, 0, b);
  h.run(EventKind::Link, a, 0, b);
  EXPECT_EQ(h.lt.refcount(SlotId{b}), 3u);
  EXPECT_EQ(h.lt.live_edges(), 1u);
  h.run(EventKind::Decref, b);  // program lets go; two references from a remain
  EXPECT_EQ(h.deaths(), 0u);
  h.run(EventKind::Unlink, a, 0, b);
  EXPECT_EQ(h.lt.refcount(SlotId{b}), 1u);
  h.run(EventKind::Decref, a);  // a dies, drops its last reference, b dies too
  EXPECT_EQ(h.deaths(), 2u);
  EXPECT_EQ(h.lt.live_slots(), 0u);
  EXPECT_EQ(h.lt.live_edges(), 0u);
  EXPECT_TRUE(h.lt.is_valid());
}

TEST(Lifetimes, CyclesNeverDieByRefcount) {
  Harness h;
  uint32_t a = h.object(16), b = h.object(16), self = h.object(16);
  h.run(EventKind::Link, a, 0, b);
  h.run(EventKind::Link, b, 0, a);
  h.run(EventKind::Link, self, 0, self);
  h.run(EventKind::Decref, a);
  h.run(EventKind::Decref, b);
  h.run(EventKind::Decref, self);
  EXPECT_EQ(h.deaths(), 0u);
  EXPECT_EQ(h.lt.live_slots(), 3u);
  // Breaking the cycle from outside is not possible by the program alone, but
  // an unlink is: then both go.
  h.run(EventKind::Unlink, b, 0, a);
  EXPECT_EQ(h.deaths(), 2u);
  EXPECT_TRUE(h.lt.is_valid());
}

// Counts deaths and remembers the first one; a 10M-event vector would dominate the test.
struct DeathCounter : EventConsumer {
  uint64_t deaths = 0;
  SlotId first_death{UINT32_MAX};
  void events(std::span<const Event> batch) override {
    for (const Event& e : batch)
      if (e.kind == EventKind::Death && deaths++ == 0) first_death = e.slot;
  }
};

// Applies a record of 16 bytes (for objects) that must be valid; returns it
// as apply() hands it back.
Event apply_ok(Lifetimes& lt, EventBatch& batch, EventKind k, SlotId a = {}, SlotId b = {}) {
  Event e;
  e.kind = k;
  e.slot = a;
  e.dst = b;
  e.size = 16;
  EXPECT_EQ(lt.apply(e, batch), Anomaly::None);
  return e;
}

// apply() hands back the event it pushed, implicit fields filled in. For a
// decref that event is followed in the batch by the deaths it causes; when
// they are as many as the batch holds, they wrap round and overwrite it, and
// apply() used to hand back one of those deaths instead (the native writer
// then wrote that death's slot as the `-`'s slot).
TEST(Lifetimes, DecrefComesBackAsPushedPastItsDeaths) {
  for (size_t capacity : {1, 2, 3, 5, 64}) {
    for (uint32_t items : {0u, 1u, 4u, 200u}) {
      SCOPED_TRACE(::testing::Message() << "batch of " << capacity << ", " << items << " items");
      testing::CollectingConsumer sink;
      EventBatch batch(sink, capacity);
      Lifetimes lt;
      auto apply = [&](EventKind k, SlotId a = {}, SlotId b = {}) { return apply_ok(lt, batch, k, a, b); };
      SlotId list = apply(EventKind::Object).slot;
      for (uint32_t i = 0; i < items; ++i) {
        SlotId item = apply(EventKind::Object).slot;
        apply(EventKind::Link, list, item);
        apply(EventKind::Decref, item);  // the list holds it
      }
      Event back = apply(EventKind::Decref, list);
      EXPECT_EQ(back.kind, EventKind::Decref);
      EXPECT_EQ(back.slot, list);
      EXPECT_EQ(back.size, 0u);
      EXPECT_EQ(lt.died().size(), items + 1u);
      batch.flush();
      ASSERT_EQ(sink.all.size(), 1 + 3 * size_t{items} + 1 + (items + 1));
      EXPECT_EQ(sink.all[sink.all.size() - items - 2].kind, EventKind::Decref);
      EXPECT_EQ(lt.live_slots(), 0u);
    }
  }
}

TEST(Lifetimes, TenMillionLongChainDiesWithoutRecursion) {
  DeathCounter sink;
  EventBatch batch(sink, 4096);
  Lifetimes lt;
  constexpr uint32_t kN = 10'000'000;
  auto make = [&](EventKind k, SlotId a = {}, SlotId b = {}) { return apply_ok(lt, batch, k, a, b).slot; };
  SlotId head = make(EventKind::Object), prev = head;
  for (uint32_t i = 1; i < kN; ++i) {
    SlotId next = make(EventKind::Object);
    make(EventKind::Link, prev, next);
    make(EventKind::Decref, next);  // now only prev holds next
    prev = next;
  }
  batch.flush();
  EXPECT_EQ(sink.deaths, 0u);
  EXPECT_EQ(lt.live_slots(), kN);
  make(EventKind::Decref, head);
  batch.flush();
  EXPECT_EQ(sink.deaths, kN);
  EXPECT_EQ(sink.first_death, head);  // deaths come in chain order, head first
  EXPECT_EQ(lt.died().size(), kN);
  EXPECT_EQ(lt.live_slots(), 0u);
  EXPECT_EQ(lt.live_edges(), 0u);
}

// Found by fuzz_text: `- B` twice while A still held a reference to B made
// B's count zero with A's edge to it left behind; B died, a block took its
// slot, and A's death then dropped "its reference to B" on that block (a
// Death event for a block slot). A `-` may only drop the program's own
// references: once the count is all references held by other objects, it is
// no_such_reference, and nothing changes.
TEST(Lifetimes, DecrefCannotDropReferencesOtherObjectsHold) {
  Harness h;
  uint32_t a = h.object(16), b = h.object(16);
  h.run(EventKind::Link, a, 0, b);
  EXPECT_EQ(h.run(EventKind::Decref, b), Anomaly::None);  // the program's own reference
  size_t before = h.sink.all.size();
  EXPECT_EQ(h.run(EventKind::Decref, b), Anomaly::NoSuchEdge);  // only a's is left
  EXPECT_EQ(h.sink.all.size(), before);
  EXPECT_EQ(h.lt.refcount(SlotId{b}), 1u);
  EXPECT_EQ(h.run(EventKind::Incref, b), Anomaly::None);  // the program takes one again: fine
  EXPECT_EQ(h.run(EventKind::Decref, b), Anomaly::None);
  EXPECT_EQ(h.run(EventKind::Decref, a), Anomaly::None);  // a dies, and with it b
  EXPECT_EQ(h.deaths(), 2u);
  EXPECT_EQ(h.lt.live_slots(), 0u);
  EXPECT_TRUE(h.lt.is_valid());
}

}  // namespace
}  // namespace heaplay
