// replay_wire.hpp: a ReplayResult as bytes, for `heaplay compare`'s workers.
//
// Each worker process replays one stack and sends its finished ReplayResult
// to the parent through a pipe in this encoding. Every field travels (the
// metrics, layers, parameters, free lists, timeline and size classes
// included), so the parent renders exactly what `heaplay replay` would.
//
// A message: "HLRW" | u32 version | u64 body bytes | body | u32 CRC-32 of the
// body (all integers little-endian). The body is the fields in declaration
// order: integers as u64 (u32 fields as u32), doubles as their IEEE bits,
// bools as one byte 0 or 1, strings and vectors as a u64 count then the
// elements, optionals as a presence byte then the value.
//
// Decoding trusts nothing: the magic, version, body length and CRC are
// checked first, then every count against the bytes left (before anything is
// allocated), every flag byte is 0 or 1, and the body must be used up
// exactly. Any failure throws Error (exit 1) naming what is wrong: a
// truncated or corrupt message is a worker's failure, never a crash.
//
// Adding a field to ReplayResult (or what it holds) means adding it here and
// raising kReplayWireVersion; tests/compare_test.cpp checks the sizes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/replay.hpp"

namespace heaplay {

inline constexpr uint32_t kReplayWireVersion = 3;  // 2: the sampled ns_per_alloc, ns_per_free; 3: raw_library
inline constexpr size_t kReplayWireHeaderBytes = 16;  // magic, version, body length
inline constexpr size_t kReplayWireTrailerBytes = 4;  // CRC-32 of the body

std::string encode_replay_result(const ReplayResult& result);
// Throws Error (exit 1) unless `message` is exactly one valid message.
ReplayResult decode_replay_result(std::string_view message);

// A message around `body` (header and CRC); tests craft bodies with it.
std::string frame_replay_wire(std::string_view body);

}  // namespace heaplay
