// render_replay_test.cpp: the object-layer figures of a replay (collector,
// free lists) in each format, on a hand-made ReplayResult.
#include <gtest/gtest.h>

#include "reports/replay_report.hpp"

namespace heaplay {
namespace {

ReplayResult with_object_layers() {
  ReplayResult r;
  r.trace = "t";
  r.stack = "gc";
  r.objects = 9;
  r.unreclaimed_cyclic_objects = 2;
  r.unreclaimed_cyclic_bytes = 112;
  r.has_gc = true;
  r.gc.collections[0] = 5;
  r.gc.collections[1] = 1;
  r.gc.collected_objects = 4;
  r.gc.seconds = 0.5;
  r.has_objspec = true;
  r.freelist_hits = 7;
  r.freelist_misses = 3;
  FreeListReport f;
  f.name = "float";
  f.limit = 100;
  f.hits = 7;
  f.misses = 3;
  f.held_objects = 2;
  f.held_bytes = 48;
  f.peak_held_bytes = 72;
  r.free_lists.push_back(f);
  return r;
}

TEST(ReplayReport, JsonHasTheCollectorAndFreeListFigures) {
  std::string json = render_replay(with_object_layers(), Format::Json);
  EXPECT_NE(json.find("\"gc.collections\": [\n    5,\n    1,\n    0\n  ]"), std::string::npos) << json;
  EXPECT_NE(json.find("\"gc.collected_objects\": 4,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"gc.seconds\": 0.5,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"freelist.hits\": 7,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"freelist.misses\": 3,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"unreclaimed_cyclic_bytes\": 112,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"free_lists\": [\n    {\n      \"name\": \"float\",\n      \"kind\": \"type\",\n      \"limit\": 100,"),
            std::string::npos)
      << json;
}

TEST(ReplayReport, CsvSpreadsTheCollectionsOverOneColumnPerGeneration) {
  std::string csv = render_replay(with_object_layers(), Format::Csv);
  size_t nl = csv.find('\n');
  std::string header = csv.substr(0, nl), row = csv.substr(nl + 1);
  EXPECT_NE(header.find(",gc.collections.gen0,gc.collections.gen1,gc.collections.gen2,gc.examined_objects,"),
            std::string::npos)
      << header;
  EXPECT_NE(row.find(",5,1,0,0,4,"), std::string::npos) << row;  // collections, examined, collected
  EXPECT_EQ(header.find("free_lists"), std::string::npos);          // per list: table and JSON only
}

TEST(ReplayReport, TableListsEachFreeList) {
  std::string table = render_replay(with_object_layers(), Format::Table);
  EXPECT_NE(table.find("gc.collections:             5, 1, 0\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\nfree lists\n  list   kind  limit  max_bytes  hits  misses  releases_below  cleared  "
                       "held_objects  held_bytes  peak_held_bytes\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("  float  type    100          0     7       3               0        0             2          48  "
                       "             72\n"),
            std::string::npos)
      << table;
}

TEST(ReplayReport, NoCollectorFiguresWithoutTheLayers) {
  ReplayResult r;
  std::string json = render_replay(r, Format::Json);
  EXPECT_EQ(json.find("gc."), std::string::npos);
  EXPECT_EQ(json.find("freelist."), std::string::npos);
  EXPECT_NE(json.find("\"skipped_gc_frees\": 0"), std::string::npos);
}

}  // namespace
}  // namespace heaplay
