// render_html.cpp: the HTML report: a header, four inline SVG charts, the summary table.
//
// Charts are drawn in a fixed coordinate space (kWidth wide, viewBox) and
// scale down with the page. Colours: one per stack (kStackColours, by
// position), held solid and live dashed.
#include "reports/render_html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "reports/svg.hpp"

namespace heaplay {

namespace {

using svg::coord;
using svg::escape;

constexpr double kWidth = 1120;
constexpr const char* kStackColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                         "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

std::string stack_colour(size_t i) { return kStackColours[i % std::size(kStackColours)]; }

// <svg ...> with its <title> and <desc>; close with "</svg>\n".
void open_svg(std::string& out, const std::string& id, double height, const std::string& title,
              const std::string& desc) {
  out += fmt::format(
      "<svg id=\"{0}\" class=\"chart\" role=\"img\" aria-labelledby=\"{0}-title {0}-desc\" "
      "viewBox=\"0 0 {1} {2}\" width=\"{1}\" height=\"{2}\" preserveAspectRatio=\"xMinYMin meet\">\n"
      "<title id=\"{0}-title\">{3}</title>\n<desc id=\"{0}-desc\">{4}</desc>\n",
      id, coord(kWidth), coord(height), escape(title), escape(desc));
}

void text(std::string& out, double x, double y, const std::string& anchor, const std::string& s,
          const std::string& cls = "") {
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"{}\"{}>{}</text>\n", coord(x), coord(y), anchor,
                     cls.empty() ? "" : " class=\"" + cls + "\"", escape(s));
}

void line(std::string& out, double x1, double y1, double x2, double y2, const std::string& cls) {
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"{}\"/>\n", coord(x1), coord(y1),
                     coord(x2), coord(y2), cls);
}

// ---- (1) held and live bytes over events ----

void footprint_chart(std::string& out, std::span<const ReplayResult> runs) {
  constexpr double left = 90, right = 24, top = 16, plot_h = 340;
  const double plot_w = kWidth - left - right;
  uint64_t max_event = 0, max_bytes = 0;
  for (const ReplayResult& r : runs)
    for (const Sample& s : r.metrics.timeline) {
      max_event = std::max(max_event, s.event);
      max_bytes = std::max({max_bytes, s.held, s.live});
    }
  std::vector<svg::Tick> xt = svg::count_ticks(static_cast<double>(max_event), 8);
  std::vector<svg::Tick> yt = svg::byte_ticks(static_cast<double>(max_bytes), 5);
  const double xmax = xt.back().value, ymax = yt.back().value;
  auto px = [&](double e) { return left + plot_w * e / xmax; };
  auto py = [&](double b) { return top + plot_h - plot_h * b / ymax; };

  // Live is the program's view, the same on every stack of one trace: when
  // every stack's live series is identical (two stacks or more), one
  // dark-grey dashed line for all of them, else one per stack.
  auto live_series = [](const ReplayResult& r) {
    std::vector<std::pair<uint64_t, uint64_t>> v;
    for (const Sample& s : r.metrics.timeline) v.emplace_back(s.event, s.live);
    return v;
  };
  bool shared_live = runs.size() >= 2 && !runs[0].metrics.timeline.empty();
  for (size_t i = 1; shared_live && i < runs.size(); ++i) shared_live = live_series(runs[i]) == live_series(runs[0]);
  constexpr int per_row = 4;
  const size_t legend_rows = (runs.size() + (shared_live ? 1 : 0) + per_row - 1) / per_row;
  const double legend_top = top + plot_h + 56;
  const double height = legend_top + 22.0 * static_cast<double>(std::max<size_t>(legend_rows, 1)) + 6;
  open_svg(out, "chart-footprint", height, "Held and live bytes over the replay",
           "Held bytes (solid) and live bytes (dashed) after each sampled event, one colour per stack.");
  // Grid and axes.
  for (const svg::Tick& t : yt) {
    line(out, left, py(t.value), left + plot_w, py(t.value), "grid");
    text(out, left - 8, py(t.value) + 4, "end", t.label, "tick");
  }
  for (const svg::Tick& t : xt) {
    line(out, px(t.value), top + plot_h, px(t.value), top + plot_h + 5, "axis");
    text(out, px(t.value), top + plot_h + 20, "middle", t.label, "tick");
  }
  line(out, left, top, left, top + plot_h, "axis");
  line(out, left, top + plot_h, left + plot_w, top + plot_h, "axis");
  text(out, left + plot_w / 2, top + plot_h + 40, "middle", "events replayed", "axis-title");
  out += fmt::format("<text x=\"18\" y=\"{}\" text-anchor=\"middle\" class=\"axis-title\" transform=\"rotate(-90 18 {})\">bytes</text>\n",
                     coord(top + plot_h / 2), coord(top + plot_h / 2));
  // One polyline per stack and series: held solid, live dashed (or shared).
  constexpr const char* kSharedColour = "#555555";
  auto polyline = [&](const ReplayResult& r, bool held, const std::string& stack, const std::string& colour,
                      const std::string& title) {
    std::string points;
    for (const Sample& s : r.metrics.timeline) {
      if (!points.empty()) points += ' ';
      points += coord(px(static_cast<double>(s.event))) + "," + coord(py(static_cast<double>(held ? s.held : s.live)));
    }
    const char* series = held ? "held" : "live";
    out += fmt::format(
        "<polyline class=\"series {0}\" data-stack=\"{1}\" data-series=\"{0}\" stroke=\"{2}\"{3} points=\"{4}\">"
        "<title>{5}: {0} bytes</title></polyline>\n",
        series, stack, colour, held ? "" : " stroke-dasharray=\"7 4\"", points, title);
  };
  bool any = false;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReplayResult& r = runs[i];
    if (r.metrics.timeline.empty()) continue;
    any = true;
    polyline(r, true, escape(r.stack), stack_colour(i), escape(r.stack));
    if (!shared_live) polyline(r, false, escape(r.stack), stack_colour(i), escape(r.stack));
  }
  if (shared_live) polyline(runs[0], false, "*", kSharedColour, "every stack");
  if (!any) text(out, left + plot_w / 2, top + plot_h / 2, "middle", "no timeline samples", "note");
  // Legend: per stack, a solid and a dashed swatch; with one shared live
  // line, a solid swatch per stack and one dashed entry for the live line.
  const size_t entries = runs.size() + (shared_live ? 1 : 0);
  for (size_t i = 0; i < entries; ++i) {
    double x = left + 260.0 * static_cast<double>(i % per_row);
    double y = legend_top + 22.0 * static_cast<double>(i / per_row);
    if (i == runs.size()) {
      out += "<g class=\"legend-entry\" data-stack=\"*\">";
      out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"swatch\" stroke=\"{}\" stroke-dasharray=\"7 4\"/>",
                         coord(x), coord(y), coord(x + 48), coord(y), kSharedColour);
      out += fmt::format("<text x=\"{}\" y=\"{}\">live (every stack)</text></g>\n", coord(x + 56), coord(y + 4));
      continue;
    }
    std::string c = stack_colour(i);
    out += fmt::format("<g class=\"legend-entry\" data-stack=\"{}\">", escape(runs[i].stack));
    if (shared_live) {
      out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"swatch\" stroke=\"{}\"/>", coord(x),
                         coord(y), coord(x + 48), coord(y), c);
      out += fmt::format("<text x=\"{}\" y=\"{}\">{} <tspan class=\"muted\">held</tspan></text></g>\n",
                         coord(x + 56), coord(y + 4), escape(runs[i].stack));
      continue;
    }
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"swatch\" stroke=\"{}\"/>", coord(x),
                       coord(y), coord(x + 22), coord(y), c);
    out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"swatch\" stroke=\"{}\" stroke-dasharray=\"7 4\"/>",
                       coord(x + 26), coord(y), coord(x + 48), coord(y), c);
    out += fmt::format("<text x=\"{}\" y=\"{}\">{} <tspan class=\"muted\">held / live</tspan></text></g>\n",
                       coord(x + 56), coord(y + 4), escape(runs[i].stack));
  }
  out += "</svg>\n";
}

// ---- horizontal bars, one row per stack ----

struct Bar {
  std::string label;  // the stack
  double value = 0;
  std::string text;   // printed after the bar
  std::string colour;
};

constexpr double kRowH = 30, kLabelW = 200;

// A panel of horizontal bars at (x, y), w wide; returns its height.
double bar_panel(std::string& out, double x, double y, double w, const std::string& heading,
                 const std::vector<Bar>& bars, const std::vector<svg::Tick>& ticks) {
  const double plot_x = x + kLabelW, plot_w = w - kLabelW - 90;
  const double lo = ticks.front().value, hi = ticks.back().value;
  auto px = [&](double v) { return plot_x + plot_w * (v - lo) / (hi - lo); };
  text(out, x, y + 14, "start", heading, "panel-title");
  const double top = y + 26, plot_h = kRowH * static_cast<double>(std::max<size_t>(bars.size(), 1));
  for (const svg::Tick& t : ticks) {
    line(out, px(t.value), top, px(t.value), top + plot_h, t.value == 0 ? "axis" : "grid");
    text(out, px(t.value), top + plot_h + 16, "middle", t.label, "tick");
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    double row = top + kRowH * static_cast<double>(i);
    double x0 = px(std::min(0.0, b.value)), x1 = px(std::max(0.0, b.value));
    text(out, plot_x - 8, row + kRowH / 2 + 4, "end", b.label, "label");
    out += fmt::format(
        "<rect class=\"bar\" data-stack=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect>\n",
        escape(b.label), coord(x0), coord(row + 6), coord(std::max(x1 - x0, 0.5)), coord(kRowH - 12), b.colour,
        escape(b.label), escape(b.text));
    text(out, x1 + 6, row + kRowH / 2 + 4, "start", b.text, "value");
  }
  return 26 + plot_h + 24;
}

double bar_panel_height(size_t bars) { return 26 + kRowH * static_cast<double>(std::max<size_t>(bars, 1)) + 24; }

std::vector<svg::Tick> percent_axis(const std::vector<Bar>& bars) {
  double lo = 0, hi = 0;
  for (const Bar& b : bars) lo = std::min(lo, b.value), hi = std::max(hi, b.value);
  return svg::percent_ticks(lo, hi, 5);
}

// ---- (2) fragmentation ----

void jw4_chart(std::string& out, std::span<const ReplayResult> runs) {
  std::vector<Bar> bars;
  for (size_t i = 0; i < runs.size(); ++i)
    bars.push_back({runs[i].stack, runs[i].metrics.jw.m4, fmt::format("{:.2f}%", runs[i].metrics.jw.m4),
                    stack_colour(i)});
  open_svg(out, "chart-jw4", bar_panel_height(bars.size()) + 8, "J&W #4: peak held over peak live",
           "Johnstone and Wilson's measure 4, peak held bytes over peak live bytes minus one, in percent, per stack.");
  bar_panel(out, 0, 4, kWidth, "overhead: peak held / peak live - 1", bars, percent_axis(bars));
  out += "</svg>\n";
}

struct Part {
  const char* name;
  const char* colour;
  uint64_t Fragmentation::*bytes;
};

constexpr Part kParts[] = {
    {"live", "#59a14f", &Fragmentation::live_bytes},
    {"internal", "#f28e2b", &Fragmentation::internal_bytes},
    {"free lists", "#edc948", &Fragmentation::freelist_bytes},
    {"pooled: free blocks", "#1d4e89", &Fragmentation::pooled_free_block_bytes},
    {"pooled: empty pools", "#3a75b0", &Fragmentation::pooled_empty_pool_bytes},
    {"pooled: pool headers", "#6a9bcf", &Fragmentation::pooled_header_bytes},
    {"pooled: quantization", "#9dc0e6", &Fragmentation::pooled_quantization_bytes},
    {"pooled: arena alignment", "#c9dcf2", &Fragmentation::pooled_alignment_bytes},
    {"raw: free", "#b07aa1", &Fragmentation::raw_bytes},
    {"other", "#bab0ac", &Fragmentation::other_bytes},
};

void fragmentation_chart(std::string& out, std::span<const ReplayResult> runs) {
  constexpr double top = 30, plot_x = kLabelW, plot_w = kWidth - kLabelW - 24;
  const double rows_h = kRowH * static_cast<double>(std::max<size_t>(runs.size(), 1));
  // The legend lists the parts some stack has.
  std::vector<const Part*> shown;
  for (const Part& p : kParts) {
    bool any = false;
    for (const ReplayResult& r : runs) any = any || r.metrics.fragmentation.*p.bytes > 0;
    if (any) shown.push_back(&p);
  }
  constexpr int per_row = 5;
  const double legend_top = top + rows_h + 40;
  const double height =
      legend_top + 20.0 * static_cast<double>((std::max<size_t>(shown.size(), 1) + per_row - 1) / per_row) + 6;
  open_svg(out, "chart-fragmentation", height, "Where the final held bytes go",
           "Per stack, the final held bytes split into live bytes and fragmentation parts, as shares of held.");
  text(out, 0, 18, "start", "share of final held bytes", "panel-title");
  for (int pct = 0; pct <= 100; pct += 20) {
    double x = plot_x + plot_w * pct / 100.0;
    line(out, x, top, x, top + rows_h, pct == 0 ? "axis" : "grid");
    text(out, x, top + rows_h + 16, "middle", fmt::format("{}%", pct), "tick");
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReplayResult& r = runs[i];
    const Fragmentation& f = r.metrics.fragmentation;
    double row = top + kRowH * static_cast<double>(i);
    text(out, plot_x - 8, row + kRowH / 2 + 4, "end", r.stack, "label");
    // other is 0 when negative, so the parts can pass held: scale to the larger.
    uint64_t sum = 0;
    for (const Part& p : kParts) sum += f.*p.bytes;
    double whole = static_cast<double>(std::max(sum, f.held_bytes));
    double x = plot_x;
    for (const Part& p : kParts) {
      uint64_t b = f.*p.bytes;
      if (b == 0 || whole == 0) continue;
      double w = plot_w * static_cast<double>(b) / whole;
      double share = Fragmentation::share(b, f.held_bytes);
      out += fmt::format(
          "<rect class=\"part\" data-stack=\"{}\" data-part=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
          "<title>{}: {} {} ({:.2f}% of held)</title></rect>\n",
          escape(r.stack), p.name, coord(x), coord(row + 5), coord(w), coord(kRowH - 10), p.colour, escape(r.stack),
          p.name, svg::human_bytes(static_cast<double>(b)), share);
      if (w >= 44) text(out, x + w / 2, row + kRowH / 2 + 4, "middle", fmt::format("{:.1f}%", share), "in-bar");
      x += w;
    }
    if (whole == 0) text(out, plot_x + 6, row + kRowH / 2 + 4, "start", "nothing held", "note");
  }
  for (size_t i = 0; i < shown.size(); ++i) {
    double x = plot_x + 175.0 * static_cast<double>(i % per_row);
    double y = legend_top + 20.0 * static_cast<double>(i / per_row);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/>", coord(x), coord(y - 11),
                       shown[i]->colour);
    text(out, x + 20, y, "start", shown[i]->name);
  }
  out += "</svg>\n";
}

// ---- (3) throughput ----

void throughput_chart(std::string& out, std::span<const ReplayResult> runs) {
  std::vector<Bar> speed, gc;
  double max_speed = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReplayResult& r = runs[i];
    speed.push_back({r.stack, r.events_per_second, svg::human_count(r.events_per_second) + " events/s",
                     stack_colour(i)});
    max_speed = std::max(max_speed, r.events_per_second);
    if (r.has_gc) gc.push_back({r.stack, r.metrics.gc_share, fmt::format("{:.1f}%", r.metrics.gc_share), stack_colour(i)});
  }
  const double half = kWidth / 2;
  double h = std::max(bar_panel_height(speed.size()), gc.empty() ? 0.0 : bar_panel_height(gc.size()));
  open_svg(out, "chart-throughput", h + 8, "Replay throughput",
           "Events replayed per second per stack, and the share of the replay time spent collecting where "
           "the stack has the gc layer.");
  bar_panel(out, 0, 4, gc.empty() ? kWidth : half - 10, "events per second", speed,
            svg::count_ticks(max_speed, gc.empty() ? 6 : 4));
  if (!gc.empty()) {
    std::vector<svg::Tick> t = percent_axis(gc);
    bar_panel(out, half + 10, 4, half - 10, "collector share of replay time", gc, t);
  }
  out += "</svg>\n";
}

// ---- (4) the summary table ----

std::string bytes_cell(uint64_t b) {
  return fmt::format("<td class=\"num\" title=\"{} bytes\">{}</td>", b, svg::human_bytes(static_cast<double>(b)));
}
std::string mean_bytes_cell(double b) {
  return fmt::format("<td class=\"num\" title=\"{:.1f} bytes\">{}</td>", b, svg::human_bytes(b));
}

void summary_table(std::string& out, std::span<const ReplayResult> runs) {
  out += "<table id=\"summary\" class=\"summary\">\n<thead><tr>";
  for (const char* h : {"stack", "peak live", "peak held", "final held", "mean held", "J&amp;W #1", "J&amp;W #2",
                        "J&amp;W #3", "J&amp;W #4", "events/s", "CPU s", "gc collections", "free-list hits"})
    out += fmt::format("<th scope=\"col\">{}</th>", h);
  out += "</tr></thead>\n<tbody>\n";
  for (size_t i = 0; i < runs.size(); ++i) {
    const ReplayResult& r = runs[i];
    const Metrics& m = r.metrics;
    out += fmt::format("<tr><th scope=\"row\"><span class=\"dot\" style=\"background:{}\"></span>{}</th>",
                       stack_colour(i), escape(r.stack));
    out += bytes_cell(m.footprint.live.peak) + bytes_cell(m.footprint.held.peak) + bytes_cell(m.footprint.held.final) +
           mean_bytes_cell(m.footprint.held.mean);
    for (double jw : {m.jw.m1, m.jw.m2, m.jw.m3, m.jw.m4}) out += fmt::format("<td class=\"num\">{:.2f}%</td>", jw);
    out += fmt::format("<td class=\"num\" title=\"{:.0f}\">{}</td>", r.events_per_second,
                       svg::human_count(r.events_per_second));
    out += fmt::format("<td class=\"num\">{:.3f}</td>", m.cpu_seconds);
    if (r.has_gc)
      out += fmt::format("<td class=\"num\" title=\"generations 0, 1, 2: {}, {}, {}\">{}</td>", r.gc.collections[0],
                         r.gc.collections[1], r.gc.collections[2],
                         r.gc.collections[0] + r.gc.collections[1] + r.gc.collections[2]);
    else
      out += "<td class=\"num muted\">&#8212;</td>";
    if (r.has_objspec)
      out += fmt::format("<td class=\"num\">{}</td>", r.freelist_hits);
    else
      out += "<td class=\"num muted\">&#8212;</td>";
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
}

// ---- (5) the header ----

// The distinct values of field over runs, in order of first appearance, joined by ", ".
template <class F>
std::string distinct(std::span<const ReplayResult> runs, F field) {
  std::vector<std::string> seen;
  for (const ReplayResult& r : runs) {
    std::string v = field(r);
    if (std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
  }
  std::string s;
  for (const std::string& v : seen) s += (s.empty() ? "" : ", ") + v;
  return s;
}

void header(std::string& out, std::span<const ReplayResult> runs, const HtmlOptions& o, const std::string& title) {
  out += fmt::format("<header>\n<h1>{}</h1>\n<dl class=\"facts\">\n", escape(title));
  auto fact = [&](const char* k, const std::string& v) {
    out += fmt::format("<div><dt>{}</dt><dd>{}</dd></div>\n", k, escape(v));
  };
  fact("trace", distinct(runs, [](const ReplayResult& r) { return r.trace; }));
  fact("stacks", distinct(runs, [](const ReplayResult& r) { return r.stack; }));
  fact("python", distinct(runs, [](const ReplayResult& r) { return r.python; }));
  fact("raw backend", distinct(runs, [](const ReplayResult& r) {
         return r.touch.empty() ? r.raw : r.raw + " (touch " + r.touch + ")";
       }));
  fact("events", distinct(runs, [](const ReplayResult& r) { return fmt::format("{}", r.events); }));
  if (std::any_of(runs.begin(), runs.end(), [](const ReplayResult& r) { return r.truncated || r.anomalies; }))
    fact("warnings", distinct(runs, [](const ReplayResult& r) {
           return fmt::format("{}: {}{} anomalies", r.stack, r.truncated ? "truncated, " : "", r.anomalies);
         }));
  if (!o.generated.empty()) fact("generated", o.generated);
  out += "</dl>\n";
  // Parameters. One stack: a grid of key = value; several: one row per key
  // (in order of first appearance), one column per stack.
  std::vector<std::string> keys;
  for (const ReplayResult& r : runs)
    for (const auto& [k, v] : r.params)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  out += fmt::format("<details class=\"params\" open><summary>parameters ({})</summary>\n", keys.size());
  if (runs.size() == 1) {
    out += "<dl id=\"parameters\" class=\"param-grid\">\n";
    for (const auto& [k, v] : runs[0].params)
      out += fmt::format("<div{}><dt>{}</dt><dd>{}</dd></div>\n", v.size() > 24 ? " class=\"long\"" : "", escape(k),
                         escape(v));
    out += "</dl>\n</details>\n</header>\n";
    return;
  }
  out += "<table id=\"parameters\"><thead><tr><th scope=\"col\">parameter</th>";
  for (const ReplayResult& r : runs) out += fmt::format("<th scope=\"col\">{}</th>", escape(r.stack));
  out += "</tr></thead>\n<tbody>\n";
  for (const std::string& k : keys) {
    out += fmt::format("<tr><th scope=\"row\">{}</th>", escape(k));
    for (const ReplayResult& r : runs) {
      auto it = std::find_if(r.params.begin(), r.params.end(), [&](const auto& p) { return p.first == k; });
      out += it == r.params.end() ? std::string("<td class=\"muted\">&#8212;</td>")
                                  : fmt::format("<td>{}</td>", escape(it->second));
    }
    out += "</tr>\n";
  }
  out += "</tbody></table>\n</details>\n</header>\n";
}

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       background: #fafafa; margin: 0; }
main, header { max-width: 1160px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 16px; }
h1 { font-size: 22px; margin: 8px 0 12px; word-break: break-all; }
h2 { font-size: 17px; margin: 0 0 8px; }
section { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 14px 16px; margin: 16px 0; }
dl.facts { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0 0 10px; }
dl.facts div { display: flex; gap: 8px; }
dt { color: #666; }
dd { margin: 0; font-weight: 600; word-break: break-all; }
details.params { margin-bottom: 8px; }
details.params summary { cursor: pointer; color: #444; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
#parameters { font-size: 12px; margin-top: 6px; }
dl.param-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 1px 16px; }
dl.param-grid div { display: flex; gap: 8px; min-width: 0; }
dl.param-grid dt { flex: none; }
dl.param-grid div.long { grid-column: span 2; }
dl.param-grid dd { font-weight: normal; overflow-wrap: anywhere; word-break: normal; }
#parameters th, #parameters td { padding: 1px 12px 1px 0; text-align: left; font-weight: normal; vertical-align: top; }
#parameters td { max-width: 240px; overflow-wrap: anywhere; }
#parameters thead th { font-weight: 600; }
table.summary { width: 100%; font-size: 13px; }
table.summary th, table.summary td { padding: 5px 8px; border-bottom: 1px solid #e6e6e6; white-space: nowrap; }
table.summary thead th { text-align: right; background: #f3f3f3; font-weight: 600; }
table.summary thead th:first-child, table.summary tbody th { text-align: left; }
td.num { text-align: right; }
.muted { color: #999; }
.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 6px; }
svg.chart { display: block; width: 100%; height: auto; font-size: 12px; }
svg.chart text { fill: #333; }
svg.chart .tick { fill: #555; font-size: 11px; }
svg.chart .axis-title, svg.chart .panel-title { fill: #444; font-weight: 600; }
svg.chart .note { fill: #999; font-style: italic; }
svg.chart .in-bar { fill: #fff; font-size: 11px; }
svg.chart .muted { fill: #888; }
svg.chart .grid { stroke: #e8e8e8; stroke-width: 1; }
svg.chart .axis { stroke: #888; stroke-width: 1; }
svg.chart .series, svg.chart .swatch { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg.chart .part { stroke: #fff; stroke-width: 0.5; }
.wide { overflow-x: auto; }
)";

}  // namespace

std::string render_html(std::span<const ReplayResult> given, const HtmlOptions& options) {
  // Runs on several raw layers (compare --raw A,B): each is labelled
  // "STACK / RAW" wherever the page names its stack.
  std::vector<ReplayResult> relabelled;
  std::span<const ReplayResult> runs = given;
  if (distinct(given, [](const ReplayResult& r) { return r.raw; }).find(", ") != std::string::npos) {
    relabelled.assign(given.begin(), given.end());
    for (ReplayResult& r : relabelled) r.stack += " / " + r.raw;
    runs = relabelled;
  }
  std::string title = options.title;
  if (title.empty()) {
    std::string traces = distinct(runs, [](const ReplayResult& r) { return r.trace; });
    title = traces.empty() ? "heaplay report" : "heaplay: " + traces;
  }
  std::string out;
  out.reserve(64 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n", escape(title), kStyle);
  header(out, runs, options, title);
  out += "<main>\n<section id=\"footprint\">\n<h2>Held and live bytes over the replay</h2>\n";
  footprint_chart(out, runs);
  out += "</section>\n<section id=\"fragmentation\">\n<h2>Fragmentation</h2>\n";
  jw4_chart(out, runs);
  fragmentation_chart(out, runs);
  out += "</section>\n<section id=\"throughput\">\n<h2>Throughput</h2>\n";
  throughput_chart(out, runs);
  out += "</section>\n<section id=\"summary-section\">\n<h2>Summary</h2>\n<div class=\"wide\">\n";
  summary_table(out, runs);
  out += "</div>\n</section>\n</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace heaplay
