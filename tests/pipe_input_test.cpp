// pipe_input_test.cpp: traces read from a pipe (/dev/fd/N, as bash's
// <(cmd) gives), a FIFO, and standard input ("-", from a pipe or from a
// file) give exactly what the file gives: the same events, summary,
// metadata and errors (byte offsets included), in every format, with and
// without read-ahead. And the commands that read a trace more than once
// refuse such inputs before reading a byte.
//
// The old open_trace looked at the first 16 bytes through one open and read
// through another: from a pipe the reader lost those bytes, so these
// comparisons (and the hand-counted totals) failed.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "engine/replay_run.hpp"
#include "reports/verify.hpp"
#include "tests/test_util.hpp"
#include "traces/atomic_file.hpp"
#include "traces/byte_source.hpp"
#include "traces/error.hpp"
#include "traces/synth_pylike.hpp"
#include "traces/trace_io.hpp"

namespace heaplay {
namespace {

using testing::CollectingConsumer;

enum class Via { Pipe, Fifo, StdinPipe, StdinFile };
constexpr Via kVias[] = {Via::Pipe, Via::Fifo, Via::StdinPipe, Via::StdinFile};
const char* via_name(Via v) {
  switch (v) {
    case Via::Pipe: return "pipe";
    case Via::Fifo: return "fifo";
    case Via::StdinPipe: return "stdin pipe";
    case Via::StdinFile: return "stdin file";
  }
  return "?";
}

// Hands a file's bytes to a reader through via: a thread writes them into a
// pipe, a few tiny pieces first with pauses (so that format detection meets
// short reads), then the rest. path() is what to open. A reader that opens
// its input twice may wait for ever (a FIFO's second open has no writer): a
// watchdog ends the test then, instead of the suite's timeout.
class Feeder {
 public:
  Feeder(const std::string& file, Via via) : via_(via) {
    signal(SIGPIPE, SIG_IGN);  // a reader that stops early makes the writer's write fail, not kill us
    watchdog_ = std::thread([this] {
      std::unique_lock lock(mu_);
      if (!done_cv_.wait_for(lock, std::chrono::minutes(2), [this] { return done_; })) {
        std::fprintf(stderr, "pipe_input_test: a read through a %s is stuck (input opened twice?)\n", via_name(via_));
        std::abort();
      }
    });
    if (via == Via::StdinFile) {
      redirect_stdin(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
      path_ = "-";
      return;
    }
    content_ = testing::read_file(file);
    if (via == Via::Fifo) {
      path_ = fifo_ = testing::temp_path("in.fifo");
      if (mkfifo(fifo_.c_str(), 0600) != 0) throw std::runtime_error("mkfifo failed");
      writer_ = std::thread([this] {
        int fd = ::open(fifo_.c_str(), O_WRONLY | O_CLOEXEC);  // waits for the reader
        if (fd >= 0) feed(fd);
      });
      return;
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    read_fd_ = fds[0];
    writer_ = std::thread([this, w = fds[1]] { feed(w); });
    if (via == Via::Pipe) {
      path_ = "/dev/fd/" + std::to_string(read_fd_);
    } else {
      redirect_stdin(read_fd_);
      read_fd_ = -1;
      path_ = "-";
    }
  }
  ~Feeder() {
    if (via_ == Via::Fifo) {
      // Unblocks a writer still waiting for a reader; it then fails with EPIPE.
      int fd = ::open(fifo_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd >= 0) ::close(fd);
    }
    if (read_fd_ >= 0) ::close(read_fd_);
    if (saved_stdin_ >= 0) {
      dup2(saved_stdin_, STDIN_FILENO);
      ::close(saved_stdin_);
    }
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    done_cv_.notify_one();
    watchdog_.join();
  }
  const std::string& path() const { return path_; }
  // How messages name the input.
  std::string name() const { return path_ == "-" ? "<stdin>" : path_; }
  // Whatever the reader left unread.
  std::string rest() {
    int fd = via_ == Via::Fifo ? ::open(fifo_.c_str(), O_RDONLY | O_CLOEXEC)
             : read_fd_ >= 0   ? read_fd_
                               : STDIN_FILENO;
    std::string out;
    char buf[4096];
    for (ssize_t r; (r = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(r));
    if (via_ == Via::Fifo) ::close(fd);
    return out;
  }

 private:
  void redirect_stdin(int fd) {
    if (fd < 0) throw std::runtime_error("cannot open the input");
    saved_stdin_ = dup(STDIN_FILENO);
    dup2(fd, STDIN_FILENO);
    ::close(fd);
  }
  void feed(int fd) {
    size_t at = 0, piece = 1;
    for (int i = 0; at < content_.size(); ++i) {
      const size_t n = std::min(i < 6 ? piece : size_t{65536}, content_.size() - at);
      ssize_t w = ::write(fd, content_.data() + at, n);
      if (w <= 0) break;  // the reader is gone
      at += static_cast<size_t>(w);
      if (i < 6) {
        piece += 2;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    ::close(fd);
  }

  Via via_;
  std::string content_, path_, fifo_;
  int read_fd_ = -1, saved_stdin_ = -1;
  std::thread writer_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  bool done_ = false;  // guarded by mu_
  std::thread watchdog_;
};

using Outcome = testing::ReadOutcome;
using testing::read_outcome;

// b read through a pipe named name, a read of the file path: the same but for the name.
void expect_same(const Outcome& a, const std::string& path, const Outcome& b, const std::string& name,
                 const std::string& what) {
  std::string error = a.error;
  if (error.starts_with(path)) error = name + error.substr(path.size());
  ASSERT_EQ(error, b.error) << what;
  EXPECT_EQ(a.exit_status, b.exit_status) << what;
  if (!a.error.empty()) {
    EXPECT_EQ(a.exit_status, kExitBadInput) << what << ": " << a.error;
  } else {
    EXPECT_EQ(b.path, name) << what;
  }
  EXPECT_EQ(a.format, b.format) << what;
  EXPECT_EQ(a.compression, b.compression) << what;
  ASSERT_EQ(a.events.size(), b.events.size()) << what;
  for (size_t i = 0; i < a.events.size(); ++i) ASSERT_TRUE(testing::same_event(a.events[i], b.events[i])) << what << " event " << i;
  EXPECT_EQ(a.strings, b.strings) << what;
  EXPECT_EQ(a.summary.events, b.summary.events) << what;
  EXPECT_EQ(a.summary.deaths, b.summary.deaths) << what;
  EXPECT_EQ(a.summary.truncated, b.summary.truncated) << what;
  EXPECT_EQ(a.summary.truncated_at, b.summary.truncated_at) << what;
  EXPECT_EQ(a.summary.anomalies.counts, b.summary.anomalies.counts) << what;
  EXPECT_EQ(a.metadata, b.metadata) << what;
}

// Reads path as a file, then through every kind of pipe, with and without
// read-ahead: every outcome the file's.
Outcome expect_same_through_pipes(const std::string& path, const std::string& what) {
  const Outcome file = read_outcome(path, false);
  for (bool prefetch : {false, true}) {
    for (Via via : kVias) {
      Feeder feeder(path, via);
      const std::string how = what + " via " + via_name(via) + (prefetch ? " with read-ahead" : "");
      expect_same(file, path, read_outcome(feeder.path(), prefetch), feeder.name(), how);
    }
  }
  return file;
}

std::string source_file(const char* relative) { return std::string(HEAPLAY_SOURCE_DIR) + "/" + relative; }

std::string pylike_text(uint64_t events) {
  std::string path = testing::temp_path("pylike.trace");
  auto writer = make_writer(path, OutputFormat::Text);
  make_pylike_source(events, 7)->read(*writer);
  writer->commit();
  return path;
}

TEST(PipeInput, HandWrittenTextAsFromTheFile) {
  // samples/request.trace: 12 records (2 t, 2 m, 2 o, 1 l, 2 -, 2 a, 1 f), the first `t 1000`.
  const Outcome file = expect_same_through_pipes(source_file("samples/request.trace"), "request.trace");
  ASSERT_TRUE(file.error.empty()) << file.error;
  EXPECT_EQ(file.summary.events, 12u);
  ASSERT_FALSE(file.events.empty());
  EXPECT_EQ(file.events[0].kind, EventKind::Time);
  EXPECT_EQ(file.events[0].size, 1000u);
  ASSERT_EQ(file.metadata.size(), 1u);
  EXPECT_EQ(file.metadata[0].first, "source");
}

TEST(PipeInput, ShortTextAsFromTheFile) {
  // The example from the bug report: two records, shorter than the 16 bytes detection looks at.
  std::string path = testing::temp_path("short.trace");
  testing::write_file(path, "a 1 10\nf 1\n");
  const Outcome file = expect_same_through_pipes(path, "short.trace");
  EXPECT_EQ(file.summary.events, 2u);
  for (const char* tiny : {"", "a", "a 1 10", "\n\n"}) {
    testing::write_file(path, tiny);
    expect_same_through_pipes(path, std::string("tiny '") + tiny + "'");
  }
}

TEST(PipeInput, CompressedTextAsFromTheFile) {
  // Several of read-ahead's 1 MiB chunks once decompressed.
  const std::string text = pylike_text(60'000);
  for (auto [format, name] : {std::pair{OutputFormat::TextZstd, "p.trace.zst"},
                              std::pair{OutputFormat::TextGzip, "p.trace.gz"}}) {
    const Outcome file = expect_same_through_pipes(testing::convert_file(text, format, name), name);
    EXPECT_EQ(file.summary.events, 60'000u) << name;
    EXPECT_EQ(file.compression, format == OutputFormat::TextZstd ? "zstd" : "gzip");
  }
}

TEST(PipeInput, NativeAsFromTheFile) {
  // Several frames (read ahead three blocks deep with prefetch), and a real recording with late metadata.
  const Outcome frames =
      expect_same_through_pipes(testing::convert_file(pylike_text(20'000), OutputFormat::Native, "p.heaplay", 3000), "p.heaplay");
  EXPECT_EQ(frames.summary.events, 20'000u);
  EXPECT_EQ(frames.format, TraceFormat::Native);
  const Outcome sample = expect_same_through_pipes(source_file("samples/pyservice.heaplay"), "pyservice.heaplay");
  EXPECT_TRUE(sample.error.empty()) << sample.error;
  EXPECT_GT(sample.summary.events, 0u);
}

TEST(PipeInput, ImportedFormatsAsFromTheFile) {
  const std::string zst = source_file("tests/golden/heaptrack_stats/input.zst");
  const Outcome ht_zst = expect_same_through_pipes(zst, "heaptrack .zst");
  EXPECT_EQ(ht_zst.format, TraceFormat::Heaptrack);
  EXPECT_GT(ht_zst.summary.events, 0u);
  // The same heaptrack file uncompressed.
  std::string plain = testing::temp_path("heaptrack.txt");
  {
    auto src = open_decoded_source(zst, nullptr);
    std::string all;
    char buf[65536];
    for (size_t n; (n = src->read(buf, sizeof buf)) > 0;) all.append(buf, n);
    testing::write_file(plain, all);
  }
  const Outcome ht = expect_same_through_pipes(plain, "heaptrack");
  EXPECT_EQ(ht.summary.events, ht_zst.summary.events);
  const Outcome mt = expect_same_through_pipes(source_file("tests/golden/mtrace_stats/input.log"), "mtrace");
  EXPECT_EQ(mt.format, TraceFormat::Mtrace);
  EXPECT_GT(mt.summary.events, 0u);
}

TEST(PipeInput, DamageIsReportedAtTheSameBytes) {
  // Native: cut inside the magic, the header and a frame; bytes flipped in frames.
  const std::string whole = testing::read_file(testing::convert_file(pylike_text(5000), OutputFormat::Native, "d.heaplay", 1000));
  std::string path = testing::temp_path("damaged.heaplay");
  for (size_t cut : {size_t{5}, size_t{20}, whole.size() / 2}) {
    testing::write_file(path, std::string_view(whole).substr(0, cut));
    const Outcome o = expect_same_through_pipes(path, "native cut at " + std::to_string(cut));
    EXPECT_TRUE(!o.error.empty() || o.summary.truncated) << cut;
  }
  for (size_t at : {whole.size() / 3, whole.size() * 2 / 3}) {
    std::string bad = whole;
    bad[at] = static_cast<char>(bad[at] ^ 0x41);
    testing::write_file(path, bad);
    const Outcome o = expect_same_through_pipes(path, "native flipped at " + std::to_string(at));
    EXPECT_NE(o.error.find(": byte "), std::string::npos) << o.error;
  }
  // zstd text: a corrupt frame is named by its offset in the compressed input.
  std::string zst = testing::read_file(testing::convert_file(pylike_text(5000), OutputFormat::TextZstd, "d.trace.zst"));
  zst[zst.size() / 2] = static_cast<char>(zst[zst.size() / 2] ^ 0x41);
  path = testing::temp_path("damaged.trace.zst");
  testing::write_file(path, zst);
  EXPECT_FALSE(expect_same_through_pipes(path, "corrupt zstd").error.empty());
  // Text: the line number.
  path = testing::temp_path("bad.trace");
  testing::write_file(path, "a 1 10\nf 1\nzz 3\n");
  EXPECT_NE(expect_same_through_pipes(path, "bad text").error.find(":3: "), std::string::npos);
}

TEST(PipeInput, NativeReadTwice) {
  // From a file a second read() opens it again; a pipe cannot be, and says so.
  const std::string path = testing::convert_file(source_file("samples/request.trace"), OutputFormat::Native, "twice.heaplay");
  auto reader = open_trace(path);
  CollectingConsumer a, b;
  reader->read(a);
  reader->read(b);
  EXPECT_EQ(a.summary.events, 12u);
  EXPECT_EQ(b.summary.events, 12u);
  Feeder feeder(path, Via::Pipe);
  auto piped = open_trace(feeder.path());
  CollectingConsumer c, d;
  piped->read(c);
  EXPECT_EQ(c.summary.events, 12u);
  try {
    piped->read(d);
    FAIL() << "a second read of a pipe";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), feeder.name() + ": read a second time, but a pipe or standard input can be read only once");
  }
}

// What require_rereadable says about path, or "(no error)".
std::string refusal(const std::string& path) {
  return testing::bad_input_of([&] { require_rereadable(path, "replay reads the trace more than once (its metadata first)"); });
}

TEST(RereadableInput, PipesAndStandardInputAreRefusedUnread) {
  const std::string file = source_file("samples/request.trace");
  const std::string content = testing::read_file(file);
  const std::string why = "replay reads the trace more than once (its metadata first)";
  EXPECT_EQ(refusal(file), "(no error)");
  EXPECT_EQ(refusal(testing::temp_path("missing.trace")), "(no error)");  // opening it says so
  EXPECT_EQ(refusal("/dev/null"), "/dev/null: " + why + "; a character device can be read only once: write it to a file first");
  for (Via via : {Via::Pipe, Via::Fifo, Via::StdinPipe}) {
    Feeder feeder(file, via);
    EXPECT_EQ(refusal(feeder.path()), feeder.name() + ": " + why + "; a pipe can be read only once: write it to a file first")
        << via_name(via);
    EXPECT_EQ(feeder.rest(), content) << via_name(via);  // nothing was read
  }
  {
    Feeder feeder(file, Via::StdinFile);
    EXPECT_EQ(refusal("-"), "<stdin>: " + why + "; standard input can be read only once: give the file's path instead");
    // The same file through /dev/stdin is a file, opened afresh.
    EXPECT_EQ(refusal("/dev/stdin"), "(no error)");
    // convert - OUT with standard input redirected from OUT would replace its own input.
    EXPECT_EQ(testing::bad_input_of([&] { refuse_same_file("-", file); }), file + ": output would overwrite the input");
    EXPECT_EQ(testing::bad_input_of([&] { refuse_same_file("-", "-"); }), "(no error)");
  }
}

TEST(RereadableInput, MultiPassCommandsRefuseBeforeReading) {
  const std::string file = source_file("samples/request.trace");
  const std::string content = testing::read_file(file);
  const std::string tail = "; a pipe can be read only once: write it to a file first";
  {
    Feeder feeder(file, Via::Pipe);
    ReplayJob job;
    job.input = feeder.path();
    EXPECT_EQ(testing::bad_input_of([&] { check_replay_job(job); }),
              feeder.name() + ": replay reads the trace more than once (its metadata first)" + tail);
    EXPECT_EQ(testing::bad_input_of([&] { replay_trace(job); }),
              feeder.name() + ": replay reads the trace more than once (its metadata first)" + tail);
    EXPECT_EQ(testing::bad_input_of([&] { verify_recording(feeder.path()); }),
              feeder.name() + ": verify reads the trace more than once (its metadata first)" + tail);
    EXPECT_EQ(testing::bad_input_of([&] { trace_metadata(feeder.path()); }),
              feeder.name() + ": its metadata is read before its events" + tail);
    EXPECT_FALSE(recorded_event_count(feeder.path()).has_value());
    EXPECT_EQ(feeder.rest(), content);
  }
  {
    // A file on standard input, named /dev/stdin, replays as the file does
    // (samples/request.trace by hand: 12 records; at the peak the dict's 64
    // bytes, the list's 56 and the raw buffer's 4096 are live; at the end
    // only the buffer).
    Feeder feeder(file, Via::StdinFile);
    ReplayJob job;
    job.input = "/dev/stdin";
    const ReplayResult r = replay_trace(job);
    EXPECT_EQ(r.trace, "/dev/stdin");
    EXPECT_EQ(r.events, 12u);
    EXPECT_EQ(r.peak_live_bytes, 4216u);
    EXPECT_EQ(r.final_live_bytes, 4096u);
  }
}

}  // namespace
}  // namespace heaplay
