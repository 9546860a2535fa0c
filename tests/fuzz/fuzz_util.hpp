// fuzz_util.hpp: what every libFuzzer target in fuzz/ shares.
//
// The input reaches the code under test as a file, so that open_trace() and
// the readers run exactly as the CLI runs them (format detection, repeated
// opens, ByteSource, read-ahead threads): each input is written into one
// anonymous in-memory file (memfd_create), named by its /proc/self/fd path.
// No disk, no temporary directory, nothing in traces/ that only fuzzing uses.
//
// The one rule every target checks: reading or replaying any bytes either
// succeeds or throws heaplay::Error with exit status 2 (bad input) and a
// message that starts with the file's name. Anything else (another exception,
// status 1, a message without the file, a sanitizer report, a leak, a
// timeout, an allocation past libFuzzer's -malloc_limit_mb) is a finding.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "traces/consumer.hpp"
#include "traces/error.hpp"

namespace heaplay::fuzz {

// One anonymous file, reused for every input of the process.
class MemFile {
 public:
  MemFile() {
    fd_ = memfd_create("heaplay-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  // Replaces the file's content with data; returns its path.
  const std::string& hold(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      ssize_t w = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (w <= 0) std::abort();
      done += static_cast<size_t>(w);
    }
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

inline MemFile& mem_file() {
  static MemFile f;
  return f;
}

// Lenient reading warns for every skipped record: noise that slows fuzzing
// (the messages are still formatted, so their code still runs).
inline void quiet() { spdlog::set_level(spdlog::level::off); }

[[noreturn]] inline void finding(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "heaplay fuzz finding: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

// An Error from reading or replaying path: bad input, named by the file.
inline void check_error(const Error& e, const std::string& path) {
  std::string_view msg = e.what();
  if (e.exit_status() != kExitBadInput) finding("error with exit status other than 2", msg);
  if (!msg.starts_with(path)) finding("error message does not name the file", msg);
}

// Checks the promise readers make to consumers (consumer.hpp): every event
// is valid, so a consumer may index arrays by slot without checks. An
// independent model of which slot holds what, kept as plainly as possible;
// memory follows the largest slot, which the readers keep below the peak
// number of live IDs. Also folds every event into a hash, so that two reads
// of the same bytes can be compared.
class CheckingConsumer final : public EventConsumer {
 public:
  void begin(const TraceInfo& info) override {
    if (began_) finding("consumer contract", "begin() twice");
    began_ = true;
    strings_ = info.strings;
  }
  void events(std::span<const Event> batch) override {
    if (!began_ || ended_) finding("consumer contract", "events() outside begin()..end()");
    for (const Event& e : batch) check(e);
  }
  void end(const TraceInfo&, const ReadSummary& summary) override {
    if (!began_ || ended_) finding("consumer contract", "end() without begin(), or twice");
    ended_ = true;
    if (summary.events != records_) finding("summary", "events does not count the records delivered");
    if (summary.deaths != deaths_) finding("summary", "deaths does not count the Death events delivered");
  }
  uint64_t hash() const { return hash_; }
  bool ended() const { return ended_; }

 private:
  enum State : uint8_t { Free, Block, Object };
  struct Slot {
    State state = Free;
    uint64_t size = 0;
  };
  Slot& at(SlotId s) {
    if (s.value >= slots_.size()) {
      if (s.value > (1u << 26)) finding("consumer contract", "a slot far beyond what a fuzz input can make live");
      slots_.resize(size_t{s.value} + 1);
    }
    return slots_[s.value];
  }
  Slot& want(SlotId s, State st, const char* what) {
    Slot& x = at(s);
    if (x.state != st) finding("consumer contract", what);
    return x;
  }
  // A free or a death: the slot held that, of the size the event carries.
  void release(const Event& e, State held, const char* what) {
    Slot& x = want(e.slot, held, what);
    if (x.size != e.size) finding("consumer contract", "a release of another size than the slot's");
    x.state = Free;
  }
  void check(const Event& e) {
    if (strings_ && e.str.value >= strings_->size()) finding("consumer contract", "a string id beyond the table");
    hash_ = (hash_ ^ static_cast<uint64_t>(e.kind)) * 0x100000001b3ull;
    hash_ = (hash_ ^ e.slot.value ^ (uint64_t{e.dst.value} << 32)) * 0x100000001b3ull;
    hash_ = (hash_ ^ e.size ^ (e.old_size << 7) ^ (uint64_t{e.str.value} << 40) ^ e.flags) * 0x100000001b3ull;
    switch (e.kind) {
      case EventKind::Alloc:
      case EventKind::Object: {
        Slot& x = want(e.slot, Free, "allocation into a live slot");
        x.state = e.kind == EventKind::Alloc ? Block : Object;
        x.size = e.size;
        break;
      }
      case EventKind::Free: release(e, Block, "free of a slot that holds no block"); break;
      case EventKind::Realloc: {
        Slot& x = want(e.slot, Block, "realloc of a slot that holds no block");
        if (x.size != e.old_size) finding("consumer contract", "realloc whose old_size is not the block's");
        x.size = e.size;
        break;
      }
      case EventKind::Death:
        release(e, Object, "death of a slot that holds no object");
        ++deaths_;
        return;  // derived, not a record
      case EventKind::Incref:
      case EventKind::Decref: want(e.slot, Object, "+/- of a slot that holds no object"); break;
      case EventKind::Link:
      case EventKind::Unlink:
        want(e.slot, Object, "l/u from a slot that holds no object");
        want(e.dst, Object, "l/u to a slot that holds no object");
        break;
      case EventKind::Collect:
        if (e.size > 2) finding("consumer contract", "collection of a generation past 2");
        break;
      case EventKind::Time:
        if (e.size < last_time_) finding("consumer contract", "time going backwards");
        last_time_ = e.size;
        break;
      case EventKind::Mark:
      case EventKind::Thread: break;
      default: finding("consumer contract", "an unknown event kind");
    }
    ++records_;
  }

  const StringTable* strings_ = nullptr;
  std::vector<Slot> slots_;
  uint64_t records_ = 0, deaths_ = 0, last_time_ = 0, hash_ = 0xcbf29ce484222325ull;
  bool began_ = false, ended_ = false;
};

}  // namespace heaplay::fuzz

// Every target's libFuzzer set-up (each target is one source file that includes this header).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  heaplay::fuzz::quiet();
  return 0;
}
