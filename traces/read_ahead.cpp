// read_ahead.cpp: a ByteSource that reads (and so decompresses) ahead of its
// consumer on a thread of its own.
//
// Compressed text and heaptrack files spend up to a third of their reading
// time in zstd or zlib; with this wrapper that work overlaps parsing. The
// inner source is called by the worker only, one read() per chunk, so the
// bytes, the point where an error is raised and the truncation flag are those
// the inner source gives on one thread; an error is kept with the chunk it
// ended and raised when the consumer reaches it.
//
// Memory: kChunks x kChunkBytes (4 x 1 MiB).
#include <array>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "traces/byte_source.hpp"

namespace heaplay {

namespace {

class ReadAheadSource final : public ByteSource {
 public:
  explicit ReadAheadSource(std::unique_ptr<ByteSource> inner) : inner_(std::move(inner)) {
    for (Chunk& c : chunks_) c.data.resize(kChunkBytes);
    worker_ = std::thread([this] { fill(); });
  }
  ~ReadAheadSource() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    space_.notify_one();
    worker_.join();
  }

  size_t read(char* buf, size_t n) override {
    for (;;) {
      if (cur_ && pos_ < cur_->size) {
        size_t k = std::min(n, cur_->size - pos_);
        std::memcpy(buf, cur_->data.data() + pos_, k);
        pos_ += k;
        return k;
      }
      if (cur_ && cur_->last) {
        if (cur_->error) std::rethrow_exception(cur_->error);
        return 0;
      }
      next_chunk();
    }
  }
  bool truncated() const override { return cur_ && cur_->truncated; }
  uint64_t file_offset() const override { return cur_ ? cur_->offset : 0; }

 private:
  static constexpr size_t kChunks = 4;
  static constexpr size_t kChunkBytes = size_t{1} << 20;
  struct Chunk {
    std::vector<char> data;
    size_t size = 0;
    uint64_t offset = 0;      // the inner source's file_offset() after this chunk
    bool last = false;        // end of data, or error
    bool truncated = false;   // the inner source's truncated() at the end
    std::exception_ptr error;
  };

  // Hands the consumed chunk back and waits for the next one.
  void next_chunk() {
    std::unique_lock lock(mu_);
    if (cur_) {
      --held_;
      space_.notify_one();
    }
    ready_cv_.wait(lock, [this] { return ready_ > 0; });
    cur_ = &chunks_[head_];
    head_ = (head_ + 1) % kChunks;
    --ready_;
    ++held_;
    pos_ = 0;
  }

  void fill() {
    for (size_t tail = 0;; tail = (tail + 1) % kChunks) {
      {
        std::unique_lock lock(mu_);
        space_.wait(lock, [this] { return stop_ || ready_ + held_ < kChunks; });
        if (stop_) return;
      }
      Chunk& c = chunks_[tail];
      c.size = 0;
      try {
        c.size = inner_->read(c.data.data(), c.data.size());
        c.last = c.size == 0;
      } catch (...) {
        c.error = std::current_exception();
        c.last = true;
      }
      c.offset = inner_->file_offset();
      c.truncated = c.last && inner_->truncated();
      {
        std::lock_guard lock(mu_);
        ++ready_;
      }
      ready_cv_.notify_one();
      if (c.last) return;
    }
  }

  std::unique_ptr<ByteSource> inner_;  // the worker's only
  std::array<Chunk, kChunks> chunks_;
  Chunk* cur_ = nullptr;  // the consumer's chunk
  size_t pos_ = 0;
  std::mutex mu_;
  std::condition_variable ready_cv_, space_;
  size_t head_ = 0, ready_ = 0, held_ = 0;  // guarded by mu_
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace

std::unique_ptr<ByteSource> make_read_ahead_source(std::unique_ptr<ByteSource> inner) {
  return std::make_unique<ReadAheadSource>(std::move(inner));
}

}  // namespace heaplay
