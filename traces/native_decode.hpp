// native_decode.hpp: the hot paths of decoding a native event frame, for
// native_reader.cpp (which frames, checks and steps through the rare cases).
//
// A frame's events come as parallel streams (native_format.hpp). Once the
// reader has checked a frame's shape (every opcode known, each stream holding
// exactly the varints its opcodes take), these run over it with no bounds
// checks: version 2's slot fields decoded ahead, four at a time; the common
// records applied through Lifetimes::Fast's call-free paths (run_hot); and
// the common l, u and cascades (run_graph). Each stops at what it cannot
// take, with nothing of it consumed, and the reader's step() takes that one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "traces/consumer.hpp"
#include "traces/ids.hpp"
#include "traces/lifetimes.hpp"
#include "traces/native_format.hpp"

namespace heaplay::native {

// What one opcode takes from each stream and how many records it stands for.
struct OpShape {
  uint8_t slots = 0, sizes = 0, strs = 0, times = 0, records = 1;
};
constexpr OpShape op_shape(uint8_t op) {
  if (op <= kOpAlloc + 3 || op == kOpObject) return {0, 1, 1, 0, 1};
  if (op >= kOpAllocFree && op < kOpCountV2) return {0, 1, 1, 0, 2};  // fused: version 2
  switch (op) {
    case kOpFree: case kOpFreeGc: case kOpIncref: case kOpDecref: return {1, 0, 0, 0, 1};
    case kOpRealloc: return {1, 1, 0, 0, 1};
    case kOpLink: case kOpUnlink: return {2, 0, 0, 0, 1};
    case kOpCollect: case kOpThread: return {0, 1, 0, 0, 1};
    case kOpTime: return {0, 0, 0, 1, 1};
    case kOpMark: return {0, 0, 1, 0, 1};
    default: return {0, 0, 0, 0, 1};  // invalid; rejected by op_limit()
  }
}
// Opcodes are below kShapes once a frame is checked (op_limit()); the hot
// loop's tables are indexed by them.
constexpr size_t kShapes = 32;
static_assert(kOpCount <= kShapes);

// Where decoding stands in a frame: the next opcode and each stream's read
// position, and the running slot base and time.
struct Cursor {
  const uint8_t* op;
  const uint8_t* slots;  // version 1: the slots stream
  const uint32_t* slot;  // version 2: the next slot field, decoded ahead (decode_slot_fields())
  const uint8_t* sizes;
  const uint8_t* strs;
  const uint8_t* times;
  uint64_t prev_slot = 0, prev_time = 0;  // prev_slot: version 1
};

// Version 2 slot fields decoded ahead: how far ahead of the one in use the hot
// loop prefetches slot records (references to old slots miss the cache) and
// edge index entries (the pair of fields from there), the fields decoded past
// the last so that those reads stay in range, and what stands for a field
// that did not decode (never a live slot).
constexpr size_t kSlotLookahead = 8;
constexpr size_t kSlotPadding = kSlotLookahead + 2;
constexpr uint32_t kBadSlot = UINT32_MAX;
static_assert(kBadSlot > kMaxSlots - 1);

// How many bytes of p[0, n) end a varint (are below 0x80).
uint64_t varint_ends(const uint8_t* p, uint64_t n);

// Version 2 codes each slot field against the previous slot field of the
// frame only, so all of them decode ahead of the events: n fields from p
// (bytes long, holding exactly n varints: checked per frame) into out, which
// has room for n + kSlotPadding. Returns how many decoded fine: a field that
// is overlong or out of range ends the good ones, and it and every field
// after it, the padding included, read kBadSlot.
uint64_t decode_slot_fields(const uint8_t* p, uint64_t bytes, uint64_t n, uint32_t* out);

// The hot loop over a checked frame's opcodes from cur.op to end, version 1
// or version 2 (fstr: the file's string ids, nstr of them): the common
// opcodes (a, o, f, +, - and the fused pairs), as long as each stays on
// Lifetimes::Fast's call-free path and its varints are short. Returns with
// cur at the first opcode it cannot take that way, nothing of it consumed.
void run_hot_v1(Cursor& cur, const uint8_t* end, Lifetimes& lifetimes, EventBatch& batch, const StringId* fstr,
                uint64_t nstr);
void run_hot_v2(Cursor& cur, const uint8_t* end, Lifetimes& lifetimes, EventBatch& batch, const StringId* fstr,
                uint64_t nstr);

// Version 2: the l, u or cascading - at c.op, if it stays on a call-free
// path; returns whether it took it (then c is past it; else nothing changed).
bool run_graph(Cursor& c, Lifetimes& lifetimes, EventBatch& batch);

}  // namespace heaplay::native
