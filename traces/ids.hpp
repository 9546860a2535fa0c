// ids.hpp: distinct ID types, so a slot is never passed where a string is meant.
//
// SlotId: a dense index that a reader gives each live block or object. Slots
// are recycled (last freed, first reused), so the largest slot ever handed out
// is bounded by the peak number of live IDs, and consumers index plain arrays
// by slot instead of hashing the trace's own 64-bit IDs.
// StringId: an index into a trace's StringTable (types, site tags, labels);
// 0 is the empty string and means "no type".
#pragma once

#include <compare>
#include <cstdint>
#include <limits>

namespace heaplay {

template <class Tag>
struct Id32 {
  uint32_t value = 0;
  constexpr Id32() = default;
  constexpr explicit Id32(uint32_t v) : value(v) {}
  constexpr auto operator<=>(const Id32&) const = default;
};

struct SlotTag {};
struct StringTag {};
using SlotId = Id32<SlotTag>;
using StringId = Id32<StringTag>;

inline constexpr StringId kNoString{0};
// Slots are 32-bit: at most this many IDs may be live at once.
inline constexpr uint32_t kMaxSlots = std::numeric_limits<uint32_t>::max() - 1;

}  // namespace heaplay
