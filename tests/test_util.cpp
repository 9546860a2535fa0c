// test_util.cpp: see test_util.hpp.
#include "tests/test_util.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "traces/error.hpp"
#include "traces/trace_io.hpp"

namespace heaplay::testing {

namespace {
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "heaplay-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};
TempDir& temp_dir() {
  static TempDir dir;
  return dir;
}
}  // namespace

std::string temp_path(std::string_view name) {
  static int counter = 0;
  return (temp_dir().path / (std::to_string(++counter) + "-" + std::string(name))).string();
}

void write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

CollectingConsumer read_content(std::string_view content, bool lenient, std::string_view name,
                                size_t batch_events) {
  std::string path = temp_path(name);
  write_file(path, content);
  ReadOptions o;
  o.lenient = lenient;
  o.batch_events = batch_events;
  CollectingConsumer c;
  open_trace(path, o)->read(c);
  return c;
}

std::string error_of_content(std::string_view content, std::string_view name) {
  std::string path = temp_path(name);
  write_file(path, content);
  try {
    CollectingConsumer c;
    open_trace(path)->read(c);
  } catch (const Error& e) {
    std::string m = e.what();
    if (e.exit_status() != kExitBadInput || m.rfind(path, 0) != 0) return "(wrong error) " + m;
    return m.substr(path.size());
  }
  return "(no error)";
}

ReadOutcome read_outcome(const std::string& path, bool prefetch) {
  ReadOptions o;
  o.prefetch = prefetch;
  ReadOutcome out;
  CollectingConsumer c;
  try {
    auto reader = open_trace(path, o);
    out.path = reader->info().path;
    out.format = reader->info().format;
    out.compression = reader->info().compression;
    reader->read(c);
  } catch (const Error& e) {
    out.error = e.what();
    out.exit_status = e.exit_status();
  }
  out.events = std::move(c.all);
  out.strings = std::move(c.names);
  out.summary = c.summary;
  out.metadata = c.metadata.items();
  return out;
}

std::string convert_file(const std::string& in, OutputFormat format, std::string_view name, uint32_t frame_events) {
  std::string out = temp_path(name);
  WriteOptions w;
  w.frame_events = frame_events;
  auto writer = make_writer(out, format, w);
  open_trace(in)->read(*writer);
  writer->commit();
  return out;
}

std::string bad_input_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    // Not the message: a test that looks for a part of it must fail.
    if (e.exit_status() != kExitBadInput) return "(exit status " + std::to_string(e.exit_status()) + ", not 2)";
    return e.what();
  }
  return "(no error)";
}

uint64_t bench_events(uint64_t fallback) {
  const char* env = std::getenv("HEAPLAY_BENCH_EVENTS");
  return env ? std::strtoull(env, nullptr, 10) : fallback;
}

bool same_event(const Event& a, const Event& b) {
  return a.kind == b.kind && a.domain == b.domain && a.flags == b.flags && a.str == b.str &&
         a.slot == b.slot && a.dst == b.dst && a.size == b.size && a.old_size == b.old_size;
}

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[65536];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  int st = pclose(p);
  if (status) *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TraceStats stats_of(const std::string& path, bool lenient) {
  ReadOptions opt;
  opt.lenient = lenient;
  auto reader = open_trace(path, opt);
  StatsConsumer c;
  reader->read(c);
  return c.finish();
}

std::string meta(const TraceStats& s, std::string_view key) {
  for (const auto& [k, v] : s.metadata)
    if (k == key) return v;
  return "(absent)";
}

}  // namespace heaplay::testing
