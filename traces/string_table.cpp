// string_table.cpp: see string_table.hpp.
#include "traces/string_table.hpp"

#include <fmt/format.h>

#include "traces/error.hpp"

namespace heaplay {

StringTable::StringTable() { strings_.emplace_back(); }

StringId StringTable::intern(std::string_view s) {
  if (s.empty()) return kNoString;
  if (auto it = index_.find(s); it != index_.end()) return StringId{it->second};
  if (s.size() > kMaxStringBytes)
    throw Error(fmt::format("string of {} bytes is longer than the limit of {}", s.size(), kMaxStringBytes));
  if (strings_.size() >= kMaxStrings)
    throw Error(fmt::format("more than {} distinct type and label strings", kMaxStrings));
  const std::string& stored = storage_.emplace_back(s);
  auto id = static_cast<uint32_t>(strings_.size());
  strings_.emplace_back(stored);
  index_.emplace(std::string_view(stored), id);
  return StringId{id};
}

StringId StringTable::find(std::string_view s) const {
  if (auto it = index_.find(s); it != index_.end()) return StringId{it->second};
  return kNoString;
}

}  // namespace heaplay
