// event.hpp: the event model every format, reader and consumer shares.
//
// One Event per trace record (see docs/trace-format.md), plus Death events that
// readers derive: an object whose reference count reaches zero under plain
// reference counting (with cascades) dies there, and its slot is released.
// Readers fill in what the record leaves implicit (the size, type and domain
// of the block a free releases, the old size of a realloc), so consumers need
// no table of their own to account bytes.
#pragma once

#include <cstdint>
#include <string_view>

#include "traces/ids.hpp"

namespace heaplay {

enum class EventKind : uint8_t {
  Alloc,    // a ID SIZE [TYPE] [DOMAIN]
  Free,     // f ID [gc]
  Realloc,  // r ID SIZE
  Object,   // o ID SIZE TYPE (refcount starts at 1)
  Incref,   // + ID
  Decref,   // - ID
  Link,     // l SRC DST
  Unlink,   // u SRC DST
  Collect,  // g [GEN]
  Time,     // t NS
  Mark,     // m LABEL
  Death,    // derived: an object's refcount reached zero (never written)
  Thread,   // T TID: the events that follow were made by thread TID (format version 3)
};
inline constexpr int kEventKinds = 13;

// CPython's allocator domains. Raw requests never go to the pooled layer.
enum class Domain : uint8_t { None, Raw, Mem, Obj };
inline constexpr int kDomains = 4;

inline constexpr uint8_t kFlagGc = 1;  // Free: performed by the recorded program's collector

struct Event {
  EventKind kind = EventKind::Alloc;
  Domain domain = Domain::None;  // Alloc: as recorded; Free/Realloc/Death: the block's; Object: Obj
  uint8_t flags = 0;             // kFlagGc
  uint8_t reserved = 0;
  StringId str;                  // Alloc/Object/Free/Realloc/Death: type tag; Mark: label
  SlotId slot;                   // the block or object; Link/Unlink: the source
  SlotId dst;                    // Link/Unlink: the destination
  uint64_t size = 0;             // bytes (Alloc, Object, Realloc: new size; Free, Death: released);
                                 // Time: ns; Collect: generation; Thread: the thread id
  uint64_t old_size = 0;         // Realloc: bytes before
};
static_assert(sizeof(Event) == 32, "Event is kept at 32 bytes: batches stay cache-sized");

// The one-letter record name of a kind ("a", "f", ...); Death is "death".
std::string_view kind_name(EventKind k);
// "-", "raw", "mem", "obj".
std::string_view domain_name(Domain d);

}  // namespace heaplay
