// string_table.hpp: the interned strings of one trace (types, site tags, labels).
//
// Id 0 is always the empty string ("no type"). Lookups are by string_view with
// no allocation on a hit; every string is stored once. Capped so a hostile
// trace cannot grow it without bound.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "traces/ids.hpp"

namespace heaplay {

class StringTable {
 public:
  static constexpr size_t kMaxStrings = 1u << 24;     // distinct strings per trace
  static constexpr size_t kMaxStringBytes = 1u << 16; // bytes per string

  StringTable();
  // Returns the id of s, adding it when new. Throws Error past the caps.
  StringId intern(std::string_view s);
  // Returns the id of s or kNoString when s is absent (or empty).
  StringId find(std::string_view s) const;
  std::string_view at(StringId id) const { return strings_[id.value]; }
  size_t size() const { return strings_.size(); }

 private:
  std::deque<std::string> storage_;  // stable addresses for the views below
  std::vector<std::string_view> strings_;
  std::unordered_map<std::string_view, uint32_t> index_;
};

}  // namespace heaplay
