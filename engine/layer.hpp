// layer.hpp: the interface every allocator layer implements.
//
// A stack is layers composed top to bottom (glossary.hpp). A layer serves
// requests from the layer above (or from the replay loop, for the top layer)
// and gets memory from the layer below; the bottom layer, raw, gets it from
// the (simulated or real) operating system. Each layer keeps and reports its
// own accounting.
//
// Blocks: a layer answers an allocation with a Block, the address plus a word
// that only the layer which served it reads (pooled: its pool; raw sim: its
// chunk record), so releasing a block never needs a lookup by address. The
// layer that served a block is named by its depth in the stack (0 = top); a
// layer that passes a request down returns the lower layer's Block unchanged,
// and passes a release down when the block's depth is not its own.
//
// Hierarchy: Layer and its implementations, nothing deeper.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "traces/event.hpp"
#include "traces/string_table.hpp"

namespace heaplay {

// An address in the stack's address space: simulated (raw sim) or real (raw glibc).
using Addr = uint64_t;

// Block::flags
inline constexpr uint8_t kBlockCached = 1;  // handed out from an object cache (objspec's free lists), not
                                            // newly allocated below it: CPython's collector does not count it

struct Block {
  Addr addr = 0;
  uint32_t handle = 0;  // private to the layer that served the block
  uint8_t depth = 0;    // that layer's depth in the stack (0 = top)
  uint8_t flags = 0;    // kBlockCached
  uint8_t unused[2] = {};
};
static_assert(sizeof(Block) == 16, "the replay keeps one Block per live slot");

// What the layer above asks for.
struct Request {
  uint64_t size = 0;        // bytes requested
  StringId type;            // the type or site tag (objspec keys free lists on it)
  Domain domain = Domain::None;  // Raw requests never go to the pooled layer
  bool object = false;      // an o object (objspec's type lists), not an a block (its site lists)
};

// Figures the layers keep current for the replay loop, which reads them after
// every record with plain loads (no calls, so the per-record cost stays a few
// adds). One per Stack, shared by its layers (Layer::set_meter); a layer
// built on its own (tests) has a private one. docs/metrics.md defines each.
struct Meter {
  uint64_t held = 0;       // raw layer: bytes held from the operating system (its held_bytes())
  uint64_t allocated = 0;  // blocks handed out above the stack and not given back, at the size of the
                           // layer that served them (pooled: the class size; raw: the usable size);
                           // blocks parked in objspec's free lists stay allocated
  uint64_t parked = 0;     // objspec: bytes (as requested) of the blocks waiting in its free lists
  uint64_t arenas = 0;     // pooled: arenas held
};

// One layer's accounting, in the order the layer lists it. Units are in the
// names (_bytes) or counts otherwise; docs/metrics.md defines each counter.
struct LayerReport {
  std::string layer;  // "raw", "pooled", ...
  std::vector<std::pair<std::string, uint64_t>> counters;
  void add(std::string name, uint64_t value) { counters.emplace_back(std::move(name), value); }
  bool operator==(const LayerReport&) const = default;
};

class Layer {
 public:
  Layer(Layer* below, uint8_t depth) : below_(below), depth_(depth) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  virtual std::string_view name() const = 0;

  // A block of at least r.size bytes (a 0-byte request gets a block too, as
  // malloc(0) does). Throws Error (exit 1) when the memory cannot be had.
  virtual Block allocate(const Request& r) = 0;
  // Gives back a block this stack handed out; r is the request it now
  // answers (its current size, type and domain).
  virtual void release(const Block& b, const Request& r) = 0;
  // Resizes b from old_size bytes to r.size bytes; it may move. Returns the
  // block that now answers r.
  virtual Block reallocate(const Block& b, uint64_t old_size, const Request& r) = 0;

  // Page-granular memory straight from the operating system, as CPython's
  // arena allocator takes it (mmap). Only raw layers implement these; the
  // others pass them down. alignment: a power of two, at least a page.
  virtual Addr map(uint64_t bytes, uint64_t alignment) { return below_->map(bytes, alignment); }
  virtual void unmap(Addr addr, uint64_t bytes) { below_->unmap(addr, bytes); }
  // Writes to [addr, addr + bytes) as the program would (raw glibc, per its
  // --touch mode); simulated raw layers ignore it. Pooled calls it for the
  // blocks it carves out of a fresh pool, as CPython writes its free list there.
  virtual void touch(Addr addr, uint64_t bytes) { below_->touch(addr, bytes); }

  // Whether release(b, r) would now keep the block in a cache of this layer
  // (objspec's free lists) instead of giving it to the layer below. Only the
  // object-cache layer keeps blocks; the others answer false.
  virtual bool keeps(const Request& r) const {
    (void)r;
    return false;
  }
  // Gives every cached block back to the layers below, as CPython clears its
  // free lists after a full collection. Passed down; objspec empties its lists.
  virtual void clear_caches() {
    if (below_) below_->clear_caches();
  }
  // The trace's strings (type and site tags by StringId), before the first
  // request; layers that key on type names resolve them here. Passed down.
  // The table grows while the trace is read: look ids up as they come.
  virtual void use_strings(const StringTable& strings) {
    if (below_) below_->use_strings(strings);
  }

  // Bytes the layers from here down hold from the operating system, now and
  // at their peak. Raw layers track these; the others ask below.
  virtual uint64_t held_bytes() const { return below_->held_bytes(); }
  virtual uint64_t peak_held_bytes() const { return below_->peak_held_bytes(); }

  // Bytes inside the raw heap's extent that are in no block (free chunks and
  // the top chunk): raw sim exactly; raw glibc from mallinfo2 (fordblks less
  // its baseline; a heap walk: call it at the end, not per event).
  virtual uint64_t raw_free_bytes() const { return below_->raw_free_bytes(); }
  // The process's resident set in bytes where the raw layer is real (raw
  // glibc, raw_real), else 0 (nothing is resident in a simulation). Reads /proc.
  virtual uint64_t rss_bytes() const { return below_->rss_bytes(); }

  // Real raw layers whose held bytes come from the allocator's own
  // statistics, too costly to read per request (raw_real.hpp), answer true;
  // their held bytes between refreshes are those of the last one.
  virtual bool held_is_polled() const { return below_ ? below_->held_is_polled() : false; }
  // Reads what is too costly to read per request: the allocator's own
  // figures (raw_real) and the resident set against --max-memory (raw glibc
  // and raw_real). The Replayer calls it between requests, never inside a
  // timed call (docs/metrics.md has when). Passed down; a no-op elsewhere.
  virtual void refresh() {
    if (below_) below_->refresh();
  }

  // The stack's shared Meter (build_stack sets it on every layer).
  void set_meter(Meter* m) { meter_ = m; }
  const Meter& meter() const { return *meter_; }

  // This layer's own counters (not those of the layers below).
  virtual LayerReport report() const = 0;

  // Internal invariants; tests and HEAPLAY_CHECKS builds call it.
  virtual bool is_valid() const { return true; }

  Layer* below() const { return below_; }
  uint8_t depth() const { return depth_; }

 protected:
  Block below_allocate(const Request& r) { return below_->allocate(r); }
  bool mine(const Block& b) const { return b.depth == depth_; }

  Layer* below_;
  uint8_t depth_;
  Meter own_meter_;
  Meter* meter_ = &own_meter_;
};

}  // namespace heaplay
