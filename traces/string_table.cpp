// string_table.cpp: see string_table.hpp.
#include "traces/string_table.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

StringTable::StringTable() : chunks_(new std::unique_ptr<std::string_view[]>[kMaxStrings / kChunk]) {
  chunks_[0].reset(new std::string_view[kChunk]);
  chunks_[0][0] = std::string_view();
  size_.store(1, std::memory_order_release);
}

StringId StringTable::intern(std::string_view s) {
  if (s.empty()) return kNoString;
  if (auto it = index_.find(s); it != index_.end()) return StringId{it->second};
  if (s.size() > kMaxStringBytes)
    throw Error(fmt::format("string of {} bytes is longer than the limit of {}", s.size(), kMaxStringBytes));
  size_t n = size_.load(std::memory_order_relaxed);
  if (n >= kMaxStrings)
    throw Error(fmt::format("more than {} distinct type and label strings", kMaxStrings));
  const std::string& stored = storage_.emplace_back(s);
  if (!chunks_[n >> kChunkBits]) chunks_[n >> kChunkBits].reset(new std::string_view[kChunk]);
  chunks_[n >> kChunkBits][n & (kChunk - 1)] = stored;
  index_.emplace(std::string_view(stored), static_cast<uint32_t>(n));
  size_.store(n + 1, std::memory_order_release);  // publish after the view is in place
  return StringId{static_cast<uint32_t>(n)};
}

StringId StringTable::find(std::string_view s) const {
  if (auto it = index_.find(s); it != index_.end()) return StringId{it->second};
  return kNoString;
}

}  // namespace heaplay
