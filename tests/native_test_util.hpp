// native_test_util.hpp: helpers shared by the native format tests
// (native_format_test.cpp, native_damage_test.cpp).
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/test_util.hpp"
#include "traces/error.hpp"
#include "traces/formats.hpp"
#include "traces/lifetimes.hpp"
#include "traces/native_format.hpp"

namespace heaplay::native_test {

using testing::CollectingConsumer;
using namespace heaplay::native;

// A reader over a fixed list of records (slots as Lifetimes assigns them).
class ScriptSource : public TraceReader {
 public:
  struct Rec {
    Rec(EventKind k, uint32_t s = 0, uint32_t d = 0, uint64_t sz = 0, std::string text = {},
        Domain dom = Domain::None, uint8_t f = 0)
        : kind(k), slot(s), dst(d), size(sz), str(std::move(text)), domain(dom), flags(f) {}
    EventKind kind;
    uint32_t slot, dst;
    uint64_t size;
    std::string str;
    Domain domain;
    uint8_t flags;
  };
  ScriptSource(std::vector<Rec> recs, Metadata header, Metadata trailer = {})
      : recs_(std::move(recs)), trailer_(std::move(trailer)) {
    info_.path = "script";
    info_.metadata = std::move(header);
    info_.strings = &strings_;
  }
  const TraceInfo& info() const override { return info_; }
  ReadSummary read(EventConsumer& consumer) override {
    Lifetimes lt;
    EventBatch batch(consumer, 3);
    ReadSummary s;
    consumer.begin(info_);
    for (const Rec& r : recs_) {
      Event e;
      e.kind = r.kind;
      e.slot = SlotId{r.slot};
      e.dst = SlotId{r.dst};
      e.size = r.size;
      e.str = strings_.intern(r.str);
      e.domain = r.domain;
      e.flags = r.flags;
      if (lt.apply(e, batch) != Anomaly::None) throw std::logic_error("bad script");
      ++s.events;
      s.deaths += lt.died().size();
    }
    batch.flush();
    for (const auto& [k, v] : trailer_.items()) info_.metadata.set(k, v);
    consumer.end(info_, s);
    return s;
  }

 private:
  std::vector<Rec> recs_;
  Metadata trailer_;
  TraceInfo info_;
  StringTable strings_;
};

inline std::string write_native(TraceReader& source, const std::string& name, WriteOptions options = {}) {
  std::string path = testing::temp_path(name);
  auto writer = make_native_writer(path, options);
  source.read(*writer);
  writer->commit();
  return path;
}

// The reader stays alive with the events: it owns the string table they name.
struct NativeRead {
  std::unique_ptr<TraceReader> reader;
  CollectingConsumer c;
};
inline NativeRead read_native(const std::string& path, ReadOptions options = {}) {
  NativeRead r{open_native_trace(path, options), {}};
  r.reader->read(r.c);
  return r;
}

// The type or label text of e, from the table c copied at end(). (Not
// CollectingConsumer::str(): its ?: with "" yields a temporary std::string,
// so the view it returns dangles.)
inline std::string_view text_of(const CollectingConsumer& c, const Event& e) {
  if (e.str.value < c.names.size()) return c.names[e.str.value];
  return {};
}

// Event i of a and b agree in every field, strings compared by their text.
inline bool same_at(const CollectingConsumer& a, const CollectingConsumer& b, size_t i) {
  Event x = a.all[i], y = b.all[i];
  if (text_of(a, x) != text_of(b, y)) return false;
  x.str = y.str = kNoString;
  return testing::same_event(x, y);
}

inline void expect_same_stream(const CollectingConsumer& a, const CollectingConsumer& b) {
  ASSERT_EQ(a.all.size(), b.all.size());
  for (size_t i = 0; i < a.all.size(); ++i)
    ASSERT_TRUE(same_at(a, b, i)) << "event " << i << " kind " << kind_name(a.all[i].kind);
}

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::vector<ScriptSource::Rec> every_record_type() {
  using K = EventKind;
  return {
      {K::Alloc, 0, 0, 100, "buf", Domain::Mem},   // slot 0
      {K::Alloc, 0, 0, 24, "", Domain::Raw},       // slot 1
      {K::Realloc, 1, 0, 4096},
      {K::Free, 1, 0, 0, "", Domain::None, kFlagGc},
      {K::Object, 0, 0, 56, "tuple"},              // slot 1 again (LIFO reuse)
      {K::Object, 0, 0, 24, "float"},              // slot 2
      {K::Incref, 1},
      {K::Link, 1, 2},
      {K::Decref, 2},                              // float lives on through the edge
      {K::Unlink, 1, 2},                           // ... and dies here
      {K::Collect, 0, 0, 2},
      {K::Time, 0, 0, 1000},
      {K::Time, 0, 0, 999'999'999'999},
      {K::Mark, 0, 0, 0, "phase one"},
      {K::Object, 0, 0, 72, "list"},               // slot 2
      {K::Link, 2, 1},
      {K::Decref, 1},
      {K::Decref, 1},                              // tuple held by the list only
      {K::Alloc, 0, 0, (uint64_t{1} << 40) + 3, "huge", Domain::None},
      {K::Decref, 2},                              // list dies, tuple with it
      {K::Free, 0},
      {K::Mark, 0, 0, 0, "phase one"},
  };
}

// Block boundaries of a well-formed file: {offset, type, count}.
struct BlockPos {
  uint64_t at;
  char type;
  uint32_t count;
};
inline std::vector<BlockPos> block_positions(const std::string& bytes) {
  std::vector<BlockPos> out;
  for (uint64_t at = kFirstBlockOffset; at < bytes.size();) {
    auto u32 = [&](uint64_t p) {
      uint32_t v = 0;
      for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(bytes[p + i]);
      return v;
    };
    out.push_back({at, bytes[at], u32(at + 8)});
    at += kBlockHeaderBytes + u32(at + 4);
  }
  return out;
}

class QuietLogs {
 public:
  QuietLogs() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::off); }
  ~QuietLogs() { spdlog::set_level(level_); }

 private:
  spdlog::level::level_enum level_;
};

}  // namespace heaplay::native_test
