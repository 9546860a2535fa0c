// render_html_test.cpp: the HTML report (reports/render_html.hpp) and its SVG helpers.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "reports/render_html.hpp"
#include "reports/svg.hpp"

namespace heaplay {
namespace {

ReplayResult make_run(std::string stack, uint64_t scale = 1) {
  ReplayResult r;
  r.trace = "samples/x.heaplay";
  r.stack = std::move(stack);
  r.python = "3.11";
  r.raw = "sim";
  r.params = {{"raw.page", "4096"}, {"pooled.pool_size", "16384"}};
  r.events = 1000;
  r.events_per_second = 2.5e6;
  for (uint64_t e = 200; e <= 1000; e += 200) {
    Sample s;
    s.event = e;
    s.live = e * 2048 * scale;           // up to 2000 KiB
    s.held = e * 3 * 1024 * 1024 / 1000 * scale;  // up to 3 MiB
    r.metrics.timeline.push_back(s);
  }
  r.metrics.footprint.live.peak = 1000 * 2048 * scale;
  r.metrics.footprint.held.peak = r.metrics.footprint.held.final = 3 * 1024 * 1024 * scale;
  Fragmentation& f = r.metrics.fragmentation;
  f.held_bytes = 3 * 1024 * 1024;
  f.live_bytes = 2 * 1024 * 1024;
  f.internal_bytes = 512 * 1024;
  f.raw_bytes = 256 * 1024;
  f.other_bytes = 256 * 1024;
  r.metrics.jw = {10, 20, 30, 53.6};
  return r;
}

// The text between <svg id="ID" and its </svg>.
std::string chart(const std::string& page, const std::string& id) {
  size_t b = page.find("<svg id=\"" + id + "\"");
  if (b == std::string::npos) return "";
  return page.substr(b, page.find("</svg>", b) - b);
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(RenderHtml, EscapesHostileNames) {
  ReplayResult r = make_run("<script>alert('x')</script>");
  r.trace = "/tmp/a&b\"<img src=x onerror=alert(1)>.heaplay";
  r.params.emplace_back("<b>key</b>", "v\"al'ue&");
  r.has_objspec = true;
  std::vector<ReplayResult> runs = {r};
  std::string page = render_html(runs);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<b>key"), std::string::npos);
  EXPECT_NE(page.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(page.find("/tmp/a&amp;b&quot;&lt;img src=x onerror=alert(1)&gt;.heaplay"), std::string::npos);
  EXPECT_NE(page.find("v&quot;al&#39;ue&amp;"), std::string::npos);
  // Control characters are made visible, never passed through.
  EXPECT_EQ(svg::escape("a\x01" "b"), "a\\x01b");
}

TEST(RenderHtml, Deterministic) {
  std::vector<ReplayResult> runs = {make_run("pooled"), make_run("gc", 2)};
  runs[1].has_gc = true;
  runs[1].metrics.gc_share = 12.5;
  EXPECT_EQ(render_html(runs), render_html(runs));
  HtmlOptions o;
  o.generated = "2024-01-01 12:00";
  std::string page = render_html(runs, o);
  EXPECT_NE(page.find("2024-01-01 12:00"), std::string::npos);
  EXPECT_EQ(render_html(runs).find("2024-01-01"), std::string::npos);
}

TEST(RenderHtml, OnePolylinePerStackAndSeries) {
  // Live series differ (scale): one held and one live line per stack.
  std::vector<ReplayResult> runs = {make_run("raw"), make_run("pooled", 2), make_run("gc", 3)};
  std::string fp = chart(render_html(runs), "chart-footprint");
  ASSERT_FALSE(fp.empty());
  EXPECT_EQ(count(fp, "<polyline"), 6u);
  for (const char* stack : {"raw", "pooled", "gc"})
    for (const char* series : {"held", "live"})
      EXPECT_EQ(count(fp, fmt::format("data-stack=\"{}\" data-series=\"{}\"", stack, series)), 1u)
          << stack << " " << series;
  // Live dashed, held solid; each line has five points.
  EXPECT_EQ(count(fp, "class=\"series live\""), 3u);
  std::regex live("<polyline class=\"series live\"[^>]*stroke-dasharray");
  EXPECT_EQ(std::distance(std::sregex_iterator(fp.begin(), fp.end(), live), std::sregex_iterator()), 3);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(fp, m, std::regex("points=\"([^\"]*)\"")));
  EXPECT_EQ(count(m[1].str(), ","), 5u);
  EXPECT_EQ(fp.find("every stack"), std::string::npos);
}

TEST(RenderHtml, RunsOnSeveralRawLayersAreLabelledWithTheirRaw) {
  // compare --raw sim,jemalloc: one stack twice; each run is "STACK / RAW".
  std::vector<ReplayResult> runs = {make_run("pooled"), make_run("pooled", 2)};
  runs[1].raw = "jemalloc";
  std::string fp = chart(render_html(runs), "chart-footprint");
  EXPECT_EQ(count(fp, "data-stack=\"pooled / sim\" data-series=\"held\""), 1u) << fp;
  EXPECT_EQ(count(fp, "data-stack=\"pooled / jemalloc\" data-series=\"held\""), 1u);
  // One raw layer: the stacks' own names.
  runs[1].raw = "sim";
  EXPECT_EQ(count(render_html(runs), "pooled / sim"), 0u);
}

TEST(RenderHtml, IdenticalLiveSeriesDrawOneSharedLine) {
  // The same live series on every stack (compare's usual case): held per
  // stack, one dark-grey dashed live line, and its own legend entry.
  std::vector<ReplayResult> runs = {make_run("raw"), make_run("pooled"), make_run("gc")};
  runs[1].metrics.timeline[2].held += 4096;  // held differs; live does not
  std::string fp = chart(render_html(runs), "chart-footprint");
  EXPECT_EQ(count(fp, "<polyline"), 4u);
  EXPECT_EQ(count(fp, "class=\"series held\""), 3u);
  EXPECT_EQ(count(fp, "class=\"series live\""), 1u);
  EXPECT_EQ(count(fp, "data-stack=\"*\" data-series=\"live\" stroke=\"#555555\" stroke-dasharray"), 1u);
  EXPECT_EQ(count(fp, "live (every stack)"), 1u);
  EXPECT_EQ(count(fp, "held / live"), 0u);
  // One stack: its own live line, as before.
  std::vector<ReplayResult> one = {make_run("pooled")};
  std::string single = chart(render_html(one), "chart-footprint");
  EXPECT_EQ(count(single, "data-stack=\"pooled\" data-series=\"live\""), 1u);
  EXPECT_EQ(single.find("every stack"), std::string::npos);
  // One sample apart: per stack again.
  runs[2].metrics.timeline[4].live += 1;
  EXPECT_EQ(count(chart(render_html(runs), "chart-footprint"), "class=\"series live\""), 3u);
}

TEST(RenderHtml, AxisTicksForAHandMadeTimeline) {
  std::vector<ReplayResult> runs = {make_run("pooled")};
  std::string fp = chart(render_html(runs), "chart-footprint");
  std::vector<std::string> labels;
  std::regex tick("class=\"tick\">([^<]*)</text>");
  for (auto it = std::sregex_iterator(fp.begin(), fp.end(), tick); it != std::sregex_iterator(); ++it)
    labels.push_back((*it)[1]);
  // y: held reaches 3 MiB; x: 1000 events.
  std::vector<std::string> expected = {"0", "1 MiB", "2 MiB", "3 MiB", "0", "200", "400", "600", "800", "1k"};
  EXPECT_EQ(labels, expected);
}

TEST(RenderHtml, Ticks) {
  auto labels = [](const std::vector<svg::Tick>& t) {
    std::vector<std::string> l;
    for (const svg::Tick& x : t) l.push_back(x.label);
    return l;
  };
  EXPECT_EQ(labels(svg::byte_ticks(1500)), (std::vector<std::string>{"0", "0.5 KiB", "1 KiB", "1.5 KiB"}));
  EXPECT_EQ(labels(svg::byte_ticks(900)), (std::vector<std::string>{"0", "200 B", "400 B", "600 B", "800 B", "1000 B"}));
  EXPECT_EQ(labels(svg::byte_ticks(37.0 * 1024 * 1024 * 1024)),
            (std::vector<std::string>{"0", "10 GiB", "20 GiB", "30 GiB", "40 GiB"}));
  EXPECT_EQ(svg::byte_ticks(37.0 * 1024 * 1024).back().value, 40.0 * 1024 * 1024);
  EXPECT_EQ(labels(svg::count_ticks(2.4e6, 5)), (std::vector<std::string>{"0", "500k", "1M", "1.5M", "2M", "2.5M"}));
  EXPECT_EQ(labels(svg::percent_ticks(-3, 12, 5)), (std::vector<std::string>{"-5%", "0%", "5%", "10%", "15%"}));
  EXPECT_EQ(svg::human_bytes(512), "512 B");
  EXPECT_EQ(svg::human_bytes(1536), "1.50 KiB");
  EXPECT_EQ(svg::human_count(2.5e6), "2.50M");
}

TEST(RenderHtml, NoExternalReferences) {
  std::vector<ReplayResult> runs = {make_run("pooled"), make_run("gc")};
  runs[1].has_gc = true;
  std::string page = render_html(runs);
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href="), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);
}

TEST(RenderHtml, HasTheChartsAndTheTable) {
  std::vector<ReplayResult> runs = {make_run("pooled"), make_run("gc")};
  runs[1].has_gc = true;
  runs[1].has_objspec = true;
  runs[1].freelist_hits = 4242;
  std::string page = render_html(runs);
  for (const char* id : {"chart-footprint", "chart-jw4", "chart-fragmentation", "chart-throughput"}) {
    std::string c = chart(page, id);
    EXPECT_FALSE(c.empty()) << id;
    EXPECT_NE(c.find("role=\"img\""), std::string::npos) << id;
    EXPECT_NE(c.find("<title id=\"" + std::string(id) + "-title\">"), std::string::npos) << id;
  }
  EXPECT_NE(page.find("<table id=\"summary\""), std::string::npos);
  EXPECT_NE(page.find("<td class=\"num\">4242</td>"), std::string::npos);
  EXPECT_NE(page.find("53.60%"), std::string::npos);  // J&W #4 bar label and table cell
  // Fragmentation: live, internal, raw, other for each stack; shares of held.
  std::string fr = chart(page, "chart-fragmentation");
  EXPECT_EQ(count(fr, "<rect class=\"part\""), 8u);
  EXPECT_NE(fr.find("internal 512 KiB (16.67% of held)"), std::string::npos);
  // Throughput: the gc share panel appears with the gc stack.
  EXPECT_NE(chart(page, "chart-throughput").find("collector share"), std::string::npos);
}

TEST(RenderHtml, EmptyTimelineAndNoRuns) {
  ReplayResult r;
  r.stack = "raw";
  std::vector<ReplayResult> runs = {r};
  std::string page = render_html(runs);
  EXPECT_EQ(count(chart(page, "chart-footprint"), "<polyline"), 0u);
  EXPECT_NE(page.find("no timeline samples"), std::string::npos);
  EXPECT_NE(page.find("nothing held"), std::string::npos);
  EXPECT_FALSE(std::regex_search(page, std::regex("[-\" ,>](nan|inf)[\" ,<%]")));
  std::string none = render_html({});
  EXPECT_NE(none.find("chart-footprint"), std::string::npos);
  EXPECT_NE(none.find("</html>"), std::string::npos);
}

}  // namespace
}  // namespace heaplay
