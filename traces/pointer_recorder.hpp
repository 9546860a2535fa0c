// pointer_recorder.hpp: a running program's allocator calls, recorded as a trace.
//
// A recorder sees blocks by address; a trace names them by ID, and the native
// format by slot. PointerRecorder maps every live address to a slot, handed
// out by the rule every reader follows (the most recently released slot,
// else the next unused one: dense, so the writer's tables stay small), and
// hands the events to a TraceWriter, by default through a PipelinedConsumer
// so that compressing and writing run on a thread of their own while the
// program goes on. The writer runs every record through its own Lifetimes
// (the stream rules readers check), so an invalid recording cannot be
// written; the map makes every record valid by construction (a free names a
// live block), so the recorder does not check again: it is on the recorded
// program's every allocation.
//
// Not thread-safe: the caller serializes every call (the Python recorder,
// traces/python/hooks.cpp, holds one lock around each allocator call; `heaplay
// record`'s RecordStream merges the threads' calls into one order first).
//
// What a recorder meets that a trace has no record for:
// - a free or realloc of an address it never saw allocated (allocated before
//   recording began): a free records nothing, a realloc becomes an
//   allocation; both are counted (unknown_frees, unknown_reallocs);
// - an allocation at an address still live here (its free went around the
//   recorder): the old block is freed first, counted (reused_addresses);
// - frees done by the program's cyclic collector: while a gc window is open
//   (open_gc_window .. close_gc_window), a free of a block allocated before it
//   opened is recorded `f ID gc`, except for the addresses named when it
//   opened (blocks the collector's own bookkeeping made before the window).
//   Blocks allocated inside the window (by finalizers, say) are freed plainly.
//
// Memory: one FlatMap entry per live block (its slot and the window epoch it
// was allocated in), 4 bytes per released slot, the pipeline's buffers;
// nothing per event.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "traces/flat_map.hpp"
#include "traces/pipeline.hpp"
#include "traces/string_table.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {

class PointerRecorder {
 public:
  struct Counts {
    uint64_t records = 0;           // records written (a, f, r, m)
    uint64_t unknown_frees = 0;     // frees of addresses never seen allocated
    uint64_t unknown_reallocs = 0;  // reallocs of such addresses (recorded as allocations)
    uint64_t reused_addresses = 0;  // allocations at a live address (the old block freed first)
    uint64_t gc_frees = 0;          // frees recorded with the gc flag
  };

  // Calls writer->begin() with header (path: where the trace goes, for messages).
  PointerRecorder(std::unique_ptr<TraceWriter> writer, const std::string& path, Metadata header,
                  bool pipelined = true);
  ~PointerRecorder();
  PointerRecorder(const PointerRecorder&) = delete;
  PointerRecorder& operator=(const PointerRecorder&) = delete;

  // The calls a hook saw, after the real allocator returned (addr != 0).
  // Throw Error only when writing fails (or on a broken invariant).
  // type: the block's tag (intern() it first), e.g. its call site.
  void alloc(uint64_t addr, uint64_t size, Domain domain, StringId type = kNoString);
  void free(uint64_t addr);
  // old_addr 0: an allocation. The block keeps its ID wherever it moves.
  void realloc(uint64_t old_addr, uint64_t new_addr, uint64_t size, Domain domain);
  void mark(std::string_view label);
  void time(uint64_t ns);      // `t NS`; the caller keeps times from going backwards
  void thread(uint64_t tid);   // `T TID`
  StringId intern(std::string_view s) { return strings_.intern(s); }

  // A realloc seen as two moments, for recorders whose threads run at once:
  // when it starts, the block leaves its address (another thread may be given
  // that address before the realloc returns); when it returns, settle() puts
  // it back, at its new place. realloc() is the two at once.
  struct Detached {
    uint64_t addr = 0;   // where the block was
    uint64_t value = 0;  // its map value (slot and epoch)
  };
  // addr's block, out of the map; nullopt when addr is not live here (unknown_reallocs).
  std::optional<Detached> detach(uint64_t addr);
  // The realloc returned new_addr for size bytes: an `r` record, the block now
  // at new_addr. new_addr 0 with size 0: it freed the block (glibc's
  // realloc(p, 0)), an `f`; new_addr 0 otherwise: it failed, nothing changed.
  void settle(const Detached& d, uint64_t new_addr, uint64_t size);

  // Frees every live block, in slot order (the process exec'ed: its heap is gone).
  void release_all();
  // Hands every record so far to the writer and, unpipelined, has it write
  // them as complete blocks now (TraceWriter::flush), so that a reader sees them.
  void flush();

  void open_gc_window(std::span<const uint64_t> exempt);
  void close_gc_window();
  bool gc_window_open() const { return window_open_; }

  // Metadata learnt while recording; written in a metadata block after the
  // last frame (a key set here replaces the header's value).
  void set_metadata(std::string key, std::string value);

  // Writes the last frame, the late metadata and the end block, and moves the
  // file into place. Nothing may be recorded afterwards.
  void finish();

  const Counts& counts() const { return counts_; }
  uint64_t live_blocks() const { return map_.size(); }
  // Asks for addr's map entry ahead of a call that will look it up.
  void prefetch(uint64_t addr) const { map_.prefetch(addr); }

 private:
  // A map value: the slot in the low 32 bits, the gc epoch of the allocation above.
  static uint64_t pack(SlotId s, uint32_t epoch) { return uint64_t{epoch} << 32 | s.value; }
  static SlotId slot_of(uint64_t v) { return SlotId{static_cast<uint32_t>(v)}; }
  static uint32_t epoch_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

  void push(const Event& e);
  SlotId take_slot();
  void put(uint64_t addr, uint64_t value);  // addr -> value; a block still live there is freed first
  void release(uint64_t addr, uint64_t value);

  std::string path_;
  std::unique_ptr<TraceWriter> writer_;
  std::optional<PipelinedConsumer> pipe_;
  EventConsumer* consumer_;
  StringTable strings_;
  TraceInfo info_;
  EventBatch batch_;
  std::vector<SlotId> free_slots_;  // released, most recent last
  uint32_t next_slot_ = 0;          // never used yet
  FlatMap map_;  // address -> pack(slot, epoch)
  Counts counts_;
  uint32_t epoch_ = 0;  // gc windows opened so far
  bool window_open_ = false;
  std::vector<uint64_t> exempt_;  // addresses the open window does not flag
  bool finished_ = false;
};

}  // namespace heaplay
