// render_test.cpp: the JSON, CSV and table writers, and render_stats() output
// pinned byte for byte on a small hand-made TraceStats.
#include <gtest/gtest.h>

#include <limits>

#include "reports/csv.hpp"
#include "reports/format.hpp"
#include "reports/json.hpp"
#include "reports/stats.hpp"
#include "reports/table.hpp"
#include "traces/error.hpp"

namespace heaplay {
namespace {

std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(Format, Parse) {
  EXPECT_EQ(parse_format("table"), Format::Table);
  EXPECT_EQ(parse_format("csv"), Format::Csv);
  EXPECT_EQ(parse_format("json"), Format::Json);
  for (const char* bad : {"JSON", "", "tsv", "json "}) {
    try {
      parse_format(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_status(), kExitBadInput);
      EXPECT_NE(std::string(e.what()).find("table, csv or json"), std::string::npos);
    }
  }
  EXPECT_EQ(report_format_name(Format::Csv), "csv");
}

TEST(Json, EscapesQuotesBackslashAndControls) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c/"), "\"a\\\"b\\\\c/\"");
  EXPECT_EQ(json_string("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(json_string(std::string_view("\0\x01\x1f\x7f ~", 6)), "\"\\u0000\\u0001\\u001f\\u007f ~\"");
}

TEST(Json, Utf8PassesThroughAndInvalidBytesBecomeReplacement) {
  EXPECT_EQ(json_string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");  // é € 😀
  EXPECT_EQ(json_string("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(json_string("a\x80z"), "\"a\\ufffdz\"");           // stray continuation byte
  EXPECT_EQ(json_string("\xc3"), "\"\\ufffd\"");               // truncated at the end
  EXPECT_EQ(json_string("\xe2\x82"), "\"\\ufffd\"");           // one maximal subpart, one U+FFFD
  EXPECT_EQ(json_string("\xe2\x82z"), "\"\\ufffdz\"");
  EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"");    // overlong '/'
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate U+D800
  EXPECT_EQ(json_string("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // > U+10FFFF
  EXPECT_EQ(json_string("\xf0\x9f\x98"), "\"\\ufffd\"");
  EXPECT_EQ(json_string("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF itself is fine
}

TEST(Json, WriterLayoutAndNumbers) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("u", std::numeric_limits<uint64_t>::max());
  w.key("i").integer(std::numeric_limits<int64_t>::min());
  w.key("d").number(0.1);
  w.key("big").number(1e300);
  w.key("nan").number(std::numeric_limits<double>::quiet_NaN());
  w.field("t", true).field("s", "x");
  w.key("e").begin_array().end_array();
  w.key("o").begin_object().end_object();
  w.key("a").begin_array().uint(1).begin_object().field("k", false).end_object().null().end_array();
  w.end_object();
  w.finish();
  EXPECT_EQ(out,
            "{\n"
            "  \"u\": 18446744073709551615,\n"
            "  \"i\": -9223372036854775808,\n"
            "  \"d\": 0.1,\n"
            "  \"big\": 1e+300,\n"
            "  \"nan\": null,\n"
            "  \"t\": true,\n"
            "  \"s\": \"x\",\n"
            "  \"e\": [],\n"
            "  \"o\": {},\n"
            "  \"a\": [\n"
            "    1,\n"
            "    {\n"
            "      \"k\": false\n"
            "    },\n"
            "    null\n"
            "  ]\n"
            "}\n");
}

TEST(Json, MisuseIsALogicError) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  EXPECT_THROW(w.uint(1), std::logic_error);  // no key
  EXPECT_THROW(w.end_array(), std::logic_error);
  EXPECT_THROW(w.finish(), std::logic_error);  // still open
  w.end_object();
  EXPECT_THROW(w.uint(1), std::logic_error);  // a second top-level value
  std::string o2;
  JsonWriter a(o2);
  a.begin_array();
  EXPECT_THROW(a.key("k"), std::logic_error);
}

TEST(Csv, QuotesOnlyWhenNeeded) {
  std::string out;
  CsvWriter w(out);
  w.row("plain", "a,b", "say \"hi\"", "cr\rlf\n", "", uint64_t{18446744073709551615u});
  w.field("x").end_row();
  EXPECT_EQ(out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"cr\rlf\n\",,18446744073709551615\r\n"
            "x\r\n");
  std::string f;
  append_csv_field(f, "\"");
  EXPECT_EQ(f, "\"\"\"\"");
  // Output stays valid UTF-8: valid sequences kept, ill-formed ones become U+FFFD.
  f.clear();
  append_csv_field(f, "\xc3\xa9\xff,\xe2\x82");
  EXPECT_EQ(f, "\"\xc3\xa9\xef\xbf\xbd,\xef\xbf\xbd\"");
}

TEST(Table, AlignsAndEscapes) {
  Table t({{"name", Align::Left}, {"n", Align::Right}});
  t.add_row({"int", "5"});
  t.add_row({"\xc3\xa9t\xc3\xa9", "12345"});  // 3 code points wide
  // 12 wide once printable: a \n b \x01 \xff
  t.add_row({"a\nb\x01\xff", "0"});
  t.add_row({"short"});  // missing cells are blank
  t.add_note("... 2 more");
  std::string out;
  t.render(out, "  ");
  EXPECT_EQ(out,
            "  name              n\n"
            "  ------------  -----\n"
            "  int               5\n"
            "  \xc3\xa9t\xc3\xa9           12345\n"
            "  a\\nb\\x01\\xff      0\n"
            "  short\n"
            "  ... 2 more\n");
  EXPECT_THROW(t.add_row({"a", "b", "c"}), std::logic_error);
  EXPECT_EQ(printable("tab\there\\"), "tab\\there\\");
  EXPECT_EQ(display_width("\xe2\x82\xac" "x"), 2u);
}

TEST(Table, Pairs) {
  std::string out;
  render_pairs(out, {{"events", "12"}, {"peak_live_bytes", "3"}, {"empty", ""}});
  EXPECT_EQ(out,
            "events:          12\n"
            "peak_live_bytes: 3\n"
            "empty:\n");
}

// A small model with one of everything that needs care: a type name with a
// comma and a quote, a null field, a metadata value with a newline.
TraceStats sample() {
  TraceStats s;
  s.trace = "runs/a.trace";
  s.format = "text";
  s.events = 9;
  s.allocs = 5;
  s.frees = 3;
  s.reallocs = 1;
  s.objects = 1;
  s.deaths = 1;
  s.decref = 1;
  s.markers = 1;
  s.threads = 2;
  s.peak_live_bytes = 136;
  s.peak_live_blocks = 3;
  s.peak_live_objects = 1;
  s.final_live_bytes = 72;
  s.final_live_blocks = 2;
  s.allocated_bytes_total = 168;
  s.temporary = 1;
  s.anomalies = 2;
  // The renderers print whatever rows the model holds; two of each keep this short.
  s.anomaly_counts = {{"unknown_id", 0}, {"double_free", 2}};
  s.first_time_ns = 1000;
  s.size_histogram = {{0, 0, 1, 0}, {64, 127, 2, 128}};
  s.lifetime_histogram = {{2, 3, 1, 16}};
  s.never_freed = 2;
  s.types = {{"a,\"b\"", 3, 104, 2, 1, 8, 104}, {"-", 2, 64, 1, 1, 64, 64}};
  s.domains = {{"-", 2, 64, 1, 1, 64, 64}, {"raw", 3, 104, 2, 1, 8, 104}};
  s.metadata = {{"python.version", "3.11"}, {"cmd", "x\ny"}, {"raw", "\xff\x01"}};
  return s;
}

TEST(RenderStats, Json) {
  EXPECT_EQ(render_stats(sample(), Format::Json), R"JSON({
  "trace": "runs/a.trace",
  "format": "text",
  "events": 9,
  "allocs": 5,
  "frees": 3,
  "reallocs": 1,
  "objects": 1,
  "deaths": 1,
  "gc_frees": 0,
  "incref": 0,
  "decref": 1,
  "links": 0,
  "unlinks": 0,
  "collections": 0,
  "markers": 1,
  "threads": 2,
  "peak_live_bytes": 136,
  "peak_live_blocks": 3,
  "peak_live_objects": 1,
  "final_live_bytes": 72,
  "final_live_blocks": 2,
  "final_live_objects": 0,
  "allocated_bytes_total": 168,
  "temporary": 1,
  "truncated": false,
  "anomalies": 2,
  "anomaly_counts": {
    "unknown_id": 0,
    "double_free": 2
  },
  "first_time_ns": 1000,
  "last_time_ns": null,
  "size_histogram": [
    {
      "min": 0,
      "max": 0,
      "count": 1,
      "bytes": 0
    },
    {
      "min": 64,
      "max": 127,
      "count": 2,
      "bytes": 128
    }
  ],
  "lifetime_histogram": [
    {
      "min": 2,
      "max": 3,
      "count": 1,
      "bytes": 16
    }
  ],
  "never_freed": 2,
  "types": [
    {
      "type": "a,\"b\"",
      "allocs": 3,
      "bytes": 104,
      "frees": 2,
      "final_live": 1,
      "final_live_bytes": 8,
      "peak_live_bytes": 104
    },
    {
      "type": "-",
      "allocs": 2,
      "bytes": 64,
      "frees": 1,
      "final_live": 1,
      "final_live_bytes": 64,
      "peak_live_bytes": 64
    }
  ],
  "domains": [
    {
      "domain": "-",
      "allocs": 2,
      "bytes": 64,
      "frees": 1,
      "final_live": 1,
      "final_live_bytes": 64,
      "peak_live_bytes": 64
    },
    {
      "domain": "raw",
      "allocs": 3,
      "bytes": 104,
      "frees": 2,
      "final_live": 1,
      "final_live_bytes": 8,
      "peak_live_bytes": 104
    }
  ],
  "metadata": {
    "python.version": "3.11",
    "cmd": "x\ny",
    "raw": "\ufffd\u0001"
  }
}
)JSON");
}

// Records joined with CRLF, the CSV record separator.
std::string crlf_records(std::initializer_list<std::string_view> records) {
  std::string out;
  for (std::string_view r : records) (out += r) += "\r\n";
  return out;
}

TEST(RenderStats, Csv) {
  EXPECT_EQ(render_stats(sample(), Format::Csv),
            crlf_records({
      "section,key,field,value",
      "summary,,trace,runs/a.trace",
      "summary,,format,text",
      "summary,,events,9",
      "summary,,allocs,5",
      "summary,,frees,3",
      "summary,,reallocs,1",
      "summary,,objects,1",
      "summary,,deaths,1",
      "summary,,gc_frees,0",
      "summary,,incref,0",
      "summary,,decref,1",
      "summary,,links,0",
      "summary,,unlinks,0",
      "summary,,collections,0",
      "summary,,markers,1",
      "summary,,threads,2",
      "summary,,peak_live_bytes,136",
      "summary,,peak_live_blocks,3",
      "summary,,peak_live_objects,1",
      "summary,,final_live_bytes,72",
      "summary,,final_live_blocks,2",
      "summary,,final_live_objects,0",
      "summary,,allocated_bytes_total,168",
      "summary,,temporary,1",
      "summary,,truncated,false",
      "summary,,anomalies,2",
      "summary,,first_time_ns,1000",
      "summary,,last_time_ns,",
      "summary,,never_freed,2",
      "anomaly,unknown_id,count,0",
      "anomaly,double_free,count,2",
      "size_histogram,0-0,min,0",
      "size_histogram,0-0,max,0",
      "size_histogram,0-0,count,1",
      "size_histogram,0-0,bytes,0",
      "size_histogram,64-127,min,64",
      "size_histogram,64-127,max,127",
      "size_histogram,64-127,count,2",
      "size_histogram,64-127,bytes,128",
      "lifetime_histogram,2-3,min,2",
      "lifetime_histogram,2-3,max,3",
      "lifetime_histogram,2-3,count,1",
      "lifetime_histogram,2-3,bytes,16",
      "type,\"a,\"\"b\"\"\",allocs,3",
      "type,\"a,\"\"b\"\"\",bytes,104",
      "type,\"a,\"\"b\"\"\",frees,2",
      "type,\"a,\"\"b\"\"\",final_live,1",
      "type,\"a,\"\"b\"\"\",final_live_bytes,8",
      "type,\"a,\"\"b\"\"\",peak_live_bytes,104",
      "type,-,allocs,2",
      "type,-,bytes,64",
      "type,-,frees,1",
      "type,-,final_live,1",
      "type,-,final_live_bytes,64",
      "type,-,peak_live_bytes,64",
      "domain,-,allocs,2",
      "domain,-,bytes,64",
      "domain,-,frees,1",
      "domain,-,final_live,1",
      "domain,-,final_live_bytes,64",
      "domain,-,peak_live_bytes,64",
      "domain,raw,allocs,3",
      "domain,raw,bytes,104",
      "domain,raw,frees,2",
      "domain,raw,final_live,1",
      "domain,raw,final_live_bytes,8",
      "domain,raw,peak_live_bytes,104",
      "metadata,python.version,value,3.11",
      "metadata,cmd,value,\"x\ny\"",
      "metadata,raw,value,\xef\xbf\xbd\x01",
            }));
}

TEST(RenderStats, Table) {
  EXPECT_EQ(render_stats(sample(), Format::Table), R"TXT(trace:                 runs/a.trace
format:                text
events:                9
allocs:                5
frees:                 3
reallocs:              1
objects:               1
deaths:                1
gc_frees:              0
incref:                0
decref:                1
links:                 0
unlinks:               0
collections:           0
markers:               1
threads:               2
peak_live_bytes:       136
peak_live_blocks:      3
peak_live_objects:     1
final_live_bytes:      72
final_live_blocks:     2
final_live_objects:    0
allocated_bytes_total: 168
temporary:             1
truncated:             false
anomalies:             2
first_time_ns:         1000
last_time_ns:          -

size histogram (request bytes)
  min  max  count  bytes
  ---  ---  -----  -----
    0    0      1      0
   64  127      2    128

lifetime histogram (events from allocation to release)
  min  max  count  bytes
  ---  ---  -----  -----
    2    3      1     16
  never_freed: 2

types (by allocs)
  type   allocs  bytes  frees  final_live  final_live_bytes  peak_live_bytes
  -----  ------  -----  -----  ----------  ----------------  ---------------
  a,"b"       3    104      2           1                 8              104
  -           2     64      1           1                64               64

domains
  domain  allocs  bytes  frees  final_live  final_live_bytes  peak_live_bytes
  ------  ------  -----  -----  ----------  ----------------  ---------------
  -            2     64      1           1                64               64
  raw          3    104      2           1                 8              104

anomalies (dropped events, lenient reading)
  anomaly      count
  -----------  -----
  double_free      2

metadata
  python.version: 3.11
  cmd:            x\ny
  raw:            \xff\x01
)TXT");
}

TEST(RenderStats, TableCapsTypesAndFlagsTruncation) {
  TraceStats s = sample();
  s.types.clear();
  for (int i = 0; i < 23; ++i) s.types.push_back({"t" + std::to_string(100 + i), 1, 1, 0, 1, 1, 1});
  s.truncated = true;
  s.anomalies = 0;
  std::string out = render_stats(s, Format::Table);
  EXPECT_NE(out.find("  t119 "), std::string::npos);
  EXPECT_EQ(out.find("  t120 "), std::string::npos);
  EXPECT_NE(out.find("  ... 3 more (see --format csv or json)\n"), std::string::npos);
  EXPECT_EQ(out.find("\nanomalies ("), std::string::npos);  // no section without anomalies
  EXPECT_TRUE(out.ends_with("\nwarning: the trace is truncated; these figures cover its readable part\n"));
}

}  // namespace
}  // namespace heaplay
