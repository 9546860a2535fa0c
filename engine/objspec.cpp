// objspec.cpp: the objspec layer's lists (objspec.hpp has the model).
//
// Invariants (is_valid): every stack holds at most its list's limit blocks,
// and held_objects / held_bytes, per list and for the layer, equal the blocks
// (and their sizes) in the stacks; peak_held_bytes >= held_bytes.
#include "engine/objspec.hpp"

#include <algorithm>

#include "engine/stack.hpp"

namespace heaplay {

namespace {

// Fibonacci hashing of a size into a table of 2^bits slots.
inline size_t slot_of(uint64_t size, size_t mask) {
  return static_cast<size_t>((size * 0x9E3779B97F4A7C15ull) >> 40) & mask;
}

}  // namespace

ObjspecLayer::ObjspecLayer(const ObjspecParams& params, Layer* below, uint8_t depth) : Layer(below, depth) {
  for (const FreeListSpec& spec : params.lists) {
    List l;
    l.fig.name = spec.type;
    l.fig.limit = spec.limit;
    l.fig.max_bytes = spec.max_bytes;
    lists_.push_back(std::move(l));
  }
  type_lists_ = lists_.size();
  for (const std::string& tag : params.site_tags) {
    List l;
    l.fig.name = tag;
    l.fig.site = true;
    l.fig.limit = params.site_limit;
    lists_.push_back(std::move(l));
  }
}

std::unique_ptr<Layer> make_objspec(const ObjspecParams& params, Layer* below, uint8_t depth) {
  return std::make_unique<ObjspecLayer>(params, below, depth);
}

void ObjspecLayer::use_strings(const StringTable& strings) {
  strings_ = &strings;
  // Ids already cached would name the same strings; only a new table resets them.
  type_of_.clear();
  site_of_.clear();
  if (below_) below_->use_strings(strings);
}

// The first request with a given id looks its string up; later ones index the cache.
int32_t ObjspecLayer::resolve(bool object, uint32_t id) const {
  std::vector<int32_t>& cache = object ? type_of_ : site_of_;
  if (id >= cache.size()) {
    size_t n = std::max<size_t>(id + 1, cache.size() * 2);
    cache.resize(n, kUnresolved);
  }
  int32_t found = kNoList;
  if (strings_ && id != 0) {
    const std::string_view name = strings_->at(StringId{id});
    const size_t first = object ? 0 : type_lists_, last = object ? type_lists_ : lists_.size();
    for (size_t i = first; i < last; ++i)
      if (lists_[i].fig.name == name) {
        found = static_cast<int32_t>(i);
        break;
      }
  }
  cache[id] = found;
  return found;
}

ObjspecLayer::List* ObjspecLayer::list_for(const Request& r) const {
  const uint32_t id = r.type.value;
  const std::vector<int32_t>& cache = r.object ? type_of_ : site_of_;
  int32_t i = id < cache.size() ? cache[id] : kUnresolved;
  if (i == kUnresolved) [[unlikely]]
    i = resolve(r.object, id);
  return i < 0 ? nullptr : &lists_[static_cast<size_t>(i)];
}

ObjspecLayer::SizeStack* ObjspecLayer::find(List& l, uint64_t size) {
  if (l.keys.empty()) return nullptr;
  const size_t mask = l.keys.size() - 1;
  for (size_t s = slot_of(size, mask);; s = (s + 1) & mask) {
    if (l.slots[s] == kEmptySlot) return nullptr;
    if (l.keys[s] == size) return &l.stacks[l.slots[s]];
  }
}

void ObjspecLayer::grow_map(List& l) {
  const size_t cap = l.keys.empty() ? 8 : l.keys.size() * 2;
  l.keys.assign(cap, 0);
  l.slots.assign(cap, kEmptySlot);
  for (uint32_t k = 0; k < l.stacks.size(); ++k) {
    size_t s = slot_of(l.stacks[k].size, cap - 1);
    while (l.slots[s] != kEmptySlot) s = (s + 1) & (cap - 1);
    l.keys[s] = l.stacks[k].size;
    l.slots[s] = k;
  }
}

ObjspecLayer::SizeStack& ObjspecLayer::find_or_add(List& l, uint64_t size, StringId type) {
  if (SizeStack* s = find(l, size)) return *s;
  if (2 * (l.stacks.size() + 1) > l.keys.size()) grow_map(l);
  l.stacks.push_back(SizeStack{size, type, Domain::None, {}});
  const size_t mask = l.keys.size() - 1;
  size_t s = slot_of(size, mask);
  while (l.slots[s] != kEmptySlot) s = (s + 1) & mask;
  l.keys[s] = size;
  l.slots[s] = static_cast<uint32_t>(l.stacks.size() - 1);
  return l.stacks.back();
}

Block ObjspecLayer::allocate(const Request& r) {
  List* l = list_for(r);
  if (l && eligible(*l, r.size)) {
    SizeStack* s = find(*l, r.size);
    if (s && !s->blocks.empty()) {
      Block b = s->blocks.back();
      s->blocks.pop_back();
      ++hits_;
      ++l->fig.hits;
      --held_objects_;
      held_bytes_ -= r.size;
      meter_->parked = held_bytes_;
      --l->fig.held_objects;
      l->fig.held_bytes -= r.size;
      b.flags |= kBlockCached;
      return b;
    }
    ++misses_;
    ++l->fig.misses;
  }
  Block b = below_allocate(r);
  b.flags = static_cast<uint8_t>(b.flags & ~kBlockCached);
  return b;
}

bool ObjspecLayer::keeps(const Request& r) const {
  List* l = list_for(r);  // lists_ is mutable: the lookup caches, it changes no list
  if (!l || !eligible(*l, r.size) || l->fig.limit == 0) return false;
  const SizeStack* s = find(*l, r.size);
  return !s || s->blocks.size() < l->fig.limit;
}

void ObjspecLayer::release(const Block& b, const Request& r) {
  List* l = list_for(r);
  if (l && eligible(*l, r.size)) {
    if (l->fig.limit > 0) {
      SizeStack& s = find_or_add(*l, r.size, r.type);
      if (s.blocks.size() < l->fig.limit) {
        Block kept = b;
        kept.flags = 0;
        s.blocks.push_back(kept);
        s.domain = r.domain;
        ++held_objects_;
        held_bytes_ += r.size;
        meter_->parked = held_bytes_;
        if (held_bytes_ > peak_held_bytes_) peak_held_bytes_ = held_bytes_;
        ++l->fig.held_objects;
        l->fig.held_bytes += r.size;
        if (l->fig.held_bytes > l->fig.peak_held_bytes) l->fig.peak_held_bytes = l->fig.held_bytes;
        return;
      }
    }
    ++releases_below_;
    ++l->fig.releases_below;
  }
  Block down = b;
  down.flags = 0;
  below_->release(down, r);
}

// Objects are never realloc'ed; a realloc'ed site block leaves list semantics
// for that call (its size changes), so it simply goes below.
Block ObjspecLayer::reallocate(const Block& b, uint64_t old_size, const Request& r) {
  Block down = b;
  down.flags = 0;
  return below_->reallocate(down, old_size, r);
}

void ObjspecLayer::clear_caches() {
  for (List& l : lists_) {
    for (SizeStack& s : l.stacks) {
      const Request r{s.size, s.type, s.domain, !l.fig.site};
      // Most recent first, as CPython empties its lists from the head; the
      // order only matters to the lower layers' own free lists.
      for (size_t k = s.blocks.size(); k-- > 0;) below_->release(s.blocks[k], r);
      const uint64_t n = s.blocks.size();
      cleared_ += n;
      l.fig.cleared += n;
      held_objects_ -= n;
      held_bytes_ -= n * s.size;
      meter_->parked = held_bytes_;
      l.fig.held_objects -= n;
      l.fig.held_bytes -= n * s.size;
      s.blocks.clear();
    }
  }
  if (below_) below_->clear_caches();
}

std::vector<FreeListReport> ObjspecLayer::free_lists() const {
  std::vector<FreeListReport> out;
  out.reserve(lists_.size());
  for (const List& l : lists_) out.push_back(l.fig);
  return out;
}

LayerReport ObjspecLayer::report() const {
  LayerReport r;
  r.layer = "objspec";
  r.add("hits", hits_);
  r.add("misses", misses_);
  r.add("releases_below", releases_below_);
  r.add("cleared", cleared_);
  r.add("held_objects", held_objects_);
  r.add("held_bytes", held_bytes_);
  r.add("peak_held_bytes", peak_held_bytes_);
  return r;
}

bool ObjspecLayer::is_valid() const {
  uint64_t objects = 0, bytes = 0;
  for (const List& l : lists_) {
    uint64_t lo = 0, lb = 0;
    for (const SizeStack& s : l.stacks) {
      if (s.blocks.size() > l.fig.limit) return false;
      if (find(const_cast<List&>(l), s.size) != &s) return false;
      for (const Block& b : s.blocks)
        if (b.flags != 0) return false;
      lo += s.blocks.size();
      lb += s.blocks.size() * s.size;
    }
    if (lo != l.fig.held_objects || lb != l.fig.held_bytes || l.fig.peak_held_bytes < lb) return false;
    objects += lo;
    bytes += lb;
  }
  return objects == held_objects_ && bytes == held_bytes_ && peak_held_bytes_ >= held_bytes_;
}

}  // namespace heaplay
