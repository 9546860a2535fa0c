// string_table.hpp: the interned strings of one trace (types, site tags, labels).
//
// Id 0 is always the empty string ("no type"). Lookups are by string_view with
// no allocation on a hit; every string is stored once. Capped so a hostile
// trace cannot grow it without bound.
//
// Threads: one thread (the reader) interns; any thread may call at() and
// size() at the same time, for ids below a size() it has seen or that came in
// an event handed over through a synchronizing queue. Strings and the table
// of views live in chunks that never move, so a reader thread growing the
// table never invalidates what a consumer thread is reading.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "traces/ids.hpp"

namespace heaplay {

class StringTable {
 public:
  static constexpr size_t kMaxStrings = 1u << 24;     // distinct strings per trace
  static constexpr size_t kMaxStringBytes = 1u << 16; // bytes per string

  StringTable();
  StringTable(const StringTable&) = delete;
  StringTable& operator=(const StringTable&) = delete;

  // Returns the id of s, adding it when new. Throws Error past the caps.
  // Interning thread only.
  StringId intern(std::string_view s);
  // Returns the id of s or kNoString when s is absent (or empty). Interning thread only.
  StringId find(std::string_view s) const;
  std::string_view at(StringId id) const { return chunks_[id.value >> kChunkBits][id.value & (kChunk - 1)]; }
  size_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  static constexpr unsigned kChunkBits = 12;
  static constexpr size_t kChunk = size_t{1} << kChunkBits;  // views per chunk

  std::deque<std::string> storage_;  // deque: elements never move as it grows
  std::unique_ptr<std::unique_ptr<std::string_view[]>[]> chunks_;  // kMaxStrings / kChunk, fixed
  std::atomic<size_t> size_{0};
  std::unordered_map<std::string_view, uint32_t> index_;
};

}  // namespace heaplay
