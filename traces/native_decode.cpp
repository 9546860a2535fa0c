// native_decode.cpp: the hot paths of decoding a native event frame (see
// native_decode.hpp): slot fields four at a time, the common records, the
// common reference graph records. Measured in docs/performance.md (the
// native decode sections); BM_NativeDecode in native_bench.cpp.
#if defined(__SSE2__)
#include <emmintrin.h>  // decode_slot_fields: four slot fields a step
#endif

#include "traces/native_decode.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace heaplay::native {

// In chunks with a 32-bit count, which the compiler vectorizes four times
// wider than a 64-bit one.
uint64_t varint_ends(const uint8_t* p, uint64_t n) {
  uint64_t ends = 0;
  while (n != 0) {
    const uint32_t m = static_cast<uint32_t>(std::min<uint64_t>(n, 1u << 16));
    uint32_t e = 0;
    for (uint32_t j = 0; j < m; ++j) e += p[j] < 0x80;
    ends += e;
    p += m;
    n -= m;
  }
  return ends;
}

namespace {

// decode_slot_fields()'s steps, indexed by which of the next eight bytes end a
// varint (bit i: byte i is below 0x80): how many fields (up to four) the
// step takes and their bytes, and each field's byte offset in the eight
// bytes and the mask of its value bits once compacted (0 for a missing one).
// A field longer than three bytes ends the step before it; count 0: the
// first is, and decode_slot_fields() takes it the slow way.
struct SlotQuad {
  uint8_t count = 0, bytes = 0;
  uint8_t start[4] = {};
  alignas(16) uint32_t mask[4] = {};
};
constexpr std::array<SlotQuad, 256> kSlotQuads = [] {
  std::array<SlotQuad, 256> t{};
  for (unsigned key = 0; key < 256; ++key) {
    SlotQuad q;
    unsigned start = 0;
    for (unsigned b = 0; b < 8 && q.count < 4; ++b) {
      if (!(key >> b & 1)) continue;
      const unsigned len = b + 1 - start;
      if (len > 3) break;  // the step ends before it
      q.start[q.count] = static_cast<uint8_t>(start);
      q.mask[q.count] = (1u << (7 * len)) - 1;
      ++q.count;
      start = b + 1;
    }
    q.bytes = static_cast<uint8_t>(start);
    t[key] = q;
  }
  return t;
}();

// Version 2's hot loop dispatches on two families only, allocations (a, o
// and the fused pairs) and references (f, +, -): within a family the kinds
// differ only in data, these descriptors (Lifetimes::Fast::try_allocate and
// try_reference). Indexed by opcode (below kShapes: checked per frame).
enum HotFamily : uint8_t { kHotOther, kHotAllocation, kHotReference };
constexpr uint64_t event_head(EventKind kind, Domain domain = Domain::None, uint8_t flags = 0) {
  return uint64_t{static_cast<uint8_t>(kind)} | uint64_t{static_cast<uint8_t>(domain)} << 8 | uint64_t{flags} << 16;
}
struct HotOps {
  std::array<HotFamily, kShapes> family{};
  std::array<Lifetimes::Fast::AllocOp, kShapes> alloc{};
  std::array<Lifetimes::Fast::RefOp, kShapes> ref{};
};
constexpr HotOps kHotOps = [] {
  using K = EventKind;
  constexpr uint64_t kAll = ~uint64_t{0};
  constexpr auto block = static_cast<uint8_t>(SlotState::Block), object = static_cast<uint8_t>(SlotState::Object),
                 free = static_cast<uint8_t>(SlotState::Free), obj = static_cast<uint8_t>(Domain::Obj);
  const uint64_t death = event_head(K::Death, Domain::Obj);  // o+-'s third event; unused by the others
  HotOps t;
  for (uint8_t d = 0; d < 4; ++d) {
    const Domain dom = static_cast<Domain>(d);
    t.family[kOpAlloc + d] = t.family[kOpAllocFree + d] = kHotAllocation;
    t.alloc[kOpAlloc + d] = {{event_head(K::Alloc, dom), 0, death}, 0, block, d, 1, 1, 0};
    t.alloc[kOpAllocFree + d] = {{event_head(K::Alloc, dom), event_head(K::Free, dom), death}, kAll, free, d, 0, 2, 0};
  }
  t.family[kOpObject] = t.family[kOpObjectDecref] = kHotAllocation;
  t.alloc[kOpObject] = {{event_head(K::Object, Domain::Obj), 0, death}, 0, object, obj, 1, 1, 0};
  t.alloc[kOpObjectDecref] = {{event_head(K::Object, Domain::Obj), event_head(K::Decref), death}, 0, free, obj, 0, 3, 1};
  for (uint8_t op : {kOpFree, kOpFreeGc, kOpIncref, kOpDecref}) t.family[op] = kHotReference;
  t.ref[kOpFree] = {event_head(K::Free), kAll, 0, block, true, false, false};
  t.ref[kOpFreeGc] = {event_head(K::Free, Domain::None, kFlagGc), kAll, 0, block, true, false, false};
  t.ref[kOpIncref] = {event_head(K::Incref), 0, 1, object, false, true, false};
  t.ref[kOpDecref] = {event_head(K::Decref), 0, kAll, object, false, false, true};  // delta -1
  return t;
}();

// The hot loop: the common opcodes (a, o, f, +, - and the fused pairs), as
// long as each one stays on Lifetimes::Fast's call-free path and its varints
// are short. It stops at the first opcode it cannot take that way and returns
// with the cursor there, nothing of that opcode consumed; run_graph() or
// step() takes it.
// Nothing in here calls anything, so the loop's state stays in registers.
// V1: version 1 frames (slot fields as varints against a base that
// allocations move too), one switch case a kind; otherwise slot fields come
// decoded ahead and the loop branches on the family only (kHotOps): with a
// switch on the kind, its indirect jump mispredicted about once a record.
template <bool V1>
[[gnu::noinline]] void run_hot(Cursor& cur, const uint8_t* end, Lifetimes& lifetimes, EventBatch& batch,
                               const StringId* fstr, uint64_t nstr) {
  Cursor c = cur;  // a local copy, kept in registers
  {
    Lifetimes::Fast lt(lifetimes, batch);
    // Version 1's kinds, one switch case each.
    auto allocation = [&](EventKind kind, Domain domain) __attribute__((always_inline)) {
      const uint8_t* sz = c.sizes;
      const uint8_t* st = c.strs;
      uint64_t size, id;
      if (!short_varint(sz, size) || !short_varint(st, id) || id >= nstr) return false;
      uint32_t slot;
      if (!lt.try_allocate(kind, domain, size, fstr[id], slot)) return false;
      c.sizes = sz;
      c.strs = st;
      c.prev_slot = slot;
      return true;
    };
    auto reference = [&](auto&& apply) __attribute__((always_inline)) {
      const uint8_t* sp = c.slots;
      uint64_t z;
      if (!short_varint(sp, z)) return false;
      const uint64_t v = c.prev_slot + static_cast<uint64_t>(zigzag_decode(z));
      if (v > UINT32_MAX || !apply(SlotId{static_cast<uint32_t>(v)})) return false;
      c.slots = sp;
      c.prev_slot = v;
      return true;
    };
    if constexpr (!V1) {
      for (; c.op != end && lt.room(); ++c.op) {
        const uint8_t o = *c.op;
        const HotFamily f = kHotOps.family[o];
        if (f == kHotAllocation) {
          const uint8_t* sz = c.sizes;
          const uint8_t* st = c.strs;
          uint64_t size, id;
          if (!short_varint(sz, size) || !short_varint(st, id) || id >= nstr) break;
          if (!lt.try_allocate(kHotOps.alloc[o], size, fstr[id])) break;
          c.sizes = sz;
          c.strs = st;
        } else if (f == kHotReference) {
          // The record of the slot field kSlotLookahead on, and the edge
          // index's entry should that field and the next be an l or u's.
          // Nearly always they are not (l and u are 3% of records): a wasted
          // fetch, cheaper than the miss it saves when they are.
          lt.prefetch(SlotId{c.slot[kSlotLookahead]});
          lt.prefetch_edge(SlotId{c.slot[kSlotLookahead]}, SlotId{c.slot[kSlotLookahead + 1]});
          if (!lt.try_reference(kHotOps.ref[o], SlotId{*c.slot})) break;
          ++c.slot;
        } else {
          break;
        }
      }
    } else {
      for (; c.op != end && lt.room(); ++c.op) {
        bool ok;
        switch (const uint8_t o = *c.op) {
          case kOpAlloc + 0:
          case kOpAlloc + 1:
          case kOpAlloc + 2:
          case kOpAlloc + 3: ok = allocation(EventKind::Alloc, static_cast<Domain>(o - kOpAlloc)); break;
          case kOpObject: ok = allocation(EventKind::Object, Domain::Obj); break;
          case kOpFree: ok = reference([&](SlotId s) __attribute__((always_inline)) { return lt.try_free(s, 0); }); break;
          case kOpFreeGc:
            ok = reference([&](SlotId s) __attribute__((always_inline)) { return lt.try_free(s, kFlagGc); });
            break;
          case kOpIncref: ok = reference([&](SlotId s) __attribute__((always_inline)) { return lt.try_incref(s); }); break;
          case kOpDecref: ok = reference([&](SlotId s) __attribute__((always_inline)) { return lt.try_decref(s); }); break;
          default: ok = false; break;
        }
        if (!ok) break;
      }
    }
  }
  cur = c;
}

}  // namespace

// Version 2's reference graph records where run_hot() stopped: l, u, and a
// - that kills an object holding references, on Lifetimes::Fast's call-free
// paths (try_link, try_unlink, try_decref_cascade). Returns whether it took
// the opcode at c.op (then c is past it); if not, nothing changed and step()
// takes it. Kept out of run_hot(): inside, their code crowded the common
// kinds' state out of the registers.
bool run_graph(Cursor& c, Lifetimes& lifetimes, EventBatch& batch) {
  Lifetimes::Fast lt(lifetimes, batch);
  if (!lt.room()) return false;
  const uint8_t o = *c.op;
  const SlotId a{c.slot[0]}, b{c.slot[1]};  // in range: kSlotPadding fields follow the last
  // Runs of l and u (a container filled or emptied) stop the hot loop at
  // each one, so its look-ahead does not cover them: the records and edge
  // entry of the pair of fields kSlotLookahead on (the l or u as many
  // fields on, when the run goes on). In range: kSlotPadding fields follow
  // the last.
  lt.prefetch_edge(SlotId{c.slot[kSlotLookahead]}, SlotId{c.slot[kSlotLookahead + 1]});
  lt.prefetch(SlotId{c.slot[kSlotLookahead]});
  lt.prefetch(SlotId{c.slot[kSlotLookahead + 1]});
  bool took;
  switch (o) {
    case kOpLink: took = lt.try_link(a, b); break;
    case kOpUnlink: took = lt.try_unlink(a, b); break;
    case kOpDecref: took = lt.try_decref_cascade(a); break;
    default: return false;
  }
  if (!took) return false;
  c.slot += o == kOpDecref ? 1 : 2;
  ++c.op;
  return true;
}

// Entry points for the reader. run_hot stays a function of its own
// (noinline), called from these alone: inlined into them instead, with the
// arguments in the fixed order of a call from another file, the same loop
// took 1.09 of the time on the 100M-record objects file (GCC 12).
void run_hot_v1(Cursor& cur, const uint8_t* end, Lifetimes& lifetimes, EventBatch& batch, const StringId* fstr,
                uint64_t nstr) {
  run_hot<true>(cur, end, lifetimes, batch, fstr, nstr);
}
void run_hot_v2(Cursor& cur, const uint8_t* end, Lifetimes& lifetimes, EventBatch& batch, const StringId* fstr,
                uint64_t nstr) {
  run_hot<false>(cur, end, lifetimes, batch, fstr, nstr);
}

uint64_t decode_slot_fields(const uint8_t* p, uint64_t bytes, uint64_t n, uint32_t* out) {
  [[maybe_unused]] const uint8_t* const end = p + bytes;
  uint64_t prev = 0, j = 0;
#if defined(__SSE2__)
  // Up to four fields a step (kSlotQuads), while sixteen bytes remain in the
  // stream: the step's length comes from one table load, so the steps chain
  // on a load, a multiply and a load, not every field on the one before. The
  // stream holds exactly n fields (checked per frame), so a step never takes
  // more than are left; a step writes four fields whatever its count (the
  // missing ones repeat the last: their delta is 0), within the lookahead.
  // The four fields side by side in one SSE2 register (baseline x86-64):
  // their value bits compacted, unzigzagged, summed into slots. In 32-bit
  // lanes: a step's four deltas add less than 2^22 in all, so while the slot
  // before the step is below 2^31, a lane with its top bit set is a slot
  // that is 2^31 or more, or one that went below 0, and the step goes the
  // slow way, which finds the one that is out of range.
  __m128i last = _mm_setzero_si128();  // prev in every lane
  bool slow = false;                   // prev, not last, holds the slot before p
  while (end - p >= 16) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    const SlotQuad& q = kSlotQuads[((~x & 0x8080808080808080u) * 0x0002040810204081u) >> 56];
    __m128i s = _mm_setzero_si128();
    if (q.count != 0) [[likely]] {
      uint32_t y[4];  // loads, not variable shifts: fewer instructions
      for (int i = 0; i < 4; ++i) std::memcpy(&y[i], p + q.start[i], 4);
      __m128i v = _mm_setr_epi32(static_cast<int>(y[0]), static_cast<int>(y[1]), static_cast<int>(y[2]),
                                 static_cast<int>(y[3]));
      v = _mm_or_si128(_mm_or_si128(_mm_and_si128(v, _mm_set1_epi32(0x7f)),
                                    _mm_and_si128(_mm_srli_epi32(v, 1), _mm_set1_epi32(0x3f80))),
                       _mm_and_si128(_mm_srli_epi32(v, 2), _mm_set1_epi32(0x1fc000)));
      v = _mm_and_si128(v, _mm_load_si128(reinterpret_cast<const __m128i*>(q.mask)));
      __m128i d = _mm_xor_si128(_mm_srli_epi32(v, 1), _mm_sub_epi32(_mm_setzero_si128(), _mm_and_si128(v, _mm_set1_epi32(1))));
      d = _mm_add_epi32(d, _mm_slli_si128(d, 4));
      d = _mm_add_epi32(d, _mm_slli_si128(d, 8));
      s = _mm_add_epi32(d, last);
    }
    if (q.count == 0 || _mm_movemask_ps(_mm_castsi128_ps(s)) != 0) [[unlikely]] {
      // A field of four or more bytes first, or a slot out of range or near
      // it: one field the slow way.
      bool bad = false;
      prev = static_cast<uint32_t>(_mm_cvtsi128_si32(last));
      prev += static_cast<uint64_t>(zigzag_decode(next_varint(p, bad)));
      if (bad || prev > UINT32_MAX) [[unlikely]] goto done;
      out[j++] = static_cast<uint32_t>(prev);
      if (prev >= 1u << 31) {  // the rest the slow way
        slow = true;
        break;
      }
      last = _mm_set1_epi32(static_cast<int>(prev));
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), s);
    j += q.count;
    p += q.bytes;
    last = _mm_shuffle_epi32(s, 0xff);
  }
  if (!slow) prev = static_cast<uint32_t>(_mm_cvtsi128_si32(last));
#endif  // without SSE2 every field takes the loop below
  for (bool bad = false; j < n; ++j) {
    uint64_t z;
    if (!short_varint_flat(p, z)) z = next_varint(p, bad);
    prev += static_cast<uint64_t>(zigzag_decode(z));
    if (bad || prev > UINT32_MAX) [[unlikely]] break;
    out[j] = static_cast<uint32_t>(prev);
  }
[[maybe_unused]] done:
  std::fill(out + j, out + n + kSlotPadding, kBadSlot);
  return j;
}

}  // namespace heaplay::native
