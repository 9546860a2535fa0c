// objspec.hpp: the objspec layer, CPython's object-specific free lists.
//
// Why: above pymalloc, CPython keeps freed objects of a few hot types (float,
// tuple per length, list, dict, ...) on private free lists and hands them out
// again before asking the allocator. Those objects never reach pymalloc while
// they wait, so a replay without the lists sees frees and allocations that
// CPython never made, and the collector's generation-0 count (which a
// free-list push does not decrement) goes wrong. This layer puts the lists in
// front of the pooled layer. docs/objspec.md has the model and the per-version
// facts (engine/params.cpp, default_free_lists).
//
// The model: a list is keyed by (TYPE, SIZE). Type lists (ObjspecParams::lists)
// serve o objects (Request::object), site lists (ObjspecParams::site_tags) serve
// a blocks whose tag is one of the chosen sites. A free of an eligible size
// (size <= max_bytes, or any size when max_bytes is 0) is kept while fewer than
// `limit` blocks of that exact size wait; allocation pops the most recent one
// (LIFO, as CPython) and marks it kBlockCached. A kept block is still the lower
// layer's block (its addr, handle and depth unchanged), so the lower layer's
// accounting counts it as in use: these are bytes the stack holds, not live.
//
// Counting rules (the same per list and summed for the layer):
//   hit            an eligible allocation served from the list
//   miss           an eligible allocation that found no block of its size
//   releases_below an eligible free passed below because its size's list was full
//   cleared        a block given back below by clear_caches()
// Allocations and frees of sizes over max_bytes, and of types without a list,
// are passed through and not counted here.
//
// Speed: a request costs one index into a per-StringId vector (resolved
// lazily from the string table the first time an id is seen) and one probe of
// a small open-addressing map from size to that size's stack.
//
// Memory: each (list, size) stack holds at most `limit` 16-byte Blocks; the
// per-StringId vectors hold 4 bytes per string id seen in requests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/layer.hpp"
#include "engine/params.hpp"
#include "engine/replay.hpp"

namespace heaplay {

class ObjspecLayer final : public Layer {
 public:
  ObjspecLayer(const ObjspecParams& params, Layer* below, uint8_t depth);

  std::string_view name() const override { return "objspec"; }

  Block allocate(const Request& r) override;
  void release(const Block& b, const Request& r) override;
  Block reallocate(const Block& b, uint64_t old_size, const Request& r) override;

  bool keeps(const Request& r) const override;
  void clear_caches() override;
  void use_strings(const StringTable& strings) override;

  LayerReport report() const override;
  bool is_valid() const override;

  // One entry per list: type lists in ObjspecParams::lists order, then site lists.
  std::vector<FreeListReport> free_lists() const;
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  static constexpr int32_t kUnresolved = -2;  // per-StringId cache: not looked up yet
  static constexpr int32_t kNoList = -1;      // per-StringId cache: no list for this tag
  static constexpr uint32_t kEmptySlot = UINT32_MAX;

  // The blocks of one size waiting in one list, most recent last.
  struct SizeStack {
    uint64_t size;                // bytes
    StringId type;                // the tag of the frees (for the release requests of clear_caches)
    Domain domain = Domain::None;  // of the last free pushed; lower layers read only the size
    std::vector<Block> blocks;    // at most the list's limit
  };

  struct List {
    FreeListReport fig;  // spec and counters; held_* track the blocks below
    // size -> index in stacks: open addressing, capacity a power of two, at most half full.
    std::vector<uint64_t> keys;
    std::vector<uint32_t> slots;
    std::vector<SizeStack> stacks;
  };

  bool eligible(const List& l, uint64_t size) const { return l.fig.max_bytes == 0 || size <= l.fig.max_bytes; }
  // The list for r's tag (type list for objects, site list for blocks), or nullptr.
  List* list_for(const Request& r) const;
  [[gnu::noinline]] int32_t resolve(bool object, uint32_t id) const;
  // The stack for size in l, or nullptr (find), or a new one (find_or_add).
  static SizeStack* find(List& l, uint64_t size);
  static SizeStack& find_or_add(List& l, uint64_t size, StringId type);
  static void grow_map(List& l);

  mutable std::vector<List> lists_;  // type lists, then site lists
  size_t type_lists_ = 0;            // lists_[0, type_lists_) are type lists
  const StringTable* strings_ = nullptr;
  // By StringId value: index in lists_, kNoList or kUnresolved.
  mutable std::vector<int32_t> type_of_, site_of_;

  uint64_t hits_ = 0, misses_ = 0, releases_below_ = 0, cleared_ = 0;
  uint64_t held_objects_ = 0, held_bytes_ = 0, peak_held_bytes_ = 0;  // waiting in lists; bytes as requested
};

}  // namespace heaplay
