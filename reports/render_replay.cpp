// render_replay.cpp: ReplayResult as a table, CSV or JSON.
//
// The three formats draw the summary from one list (summary), so they carry
// the same figures under the same names and in the same order.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "reports/csv.hpp"
#include "reports/json.hpp"
#include "reports/replay_report.hpp"
#include "reports/table.hpp"

namespace heaplay {

namespace {

struct Figure {
  enum Kind { Text, Count, Real, Flag, Counts };
  std::string key;
  std::string text;  // as the table prints it (Counts: "a, b, c")
  Kind kind = Text;  // how JSON writes it (Real: shortest exact text; Counts: an array)
  uint64_t value = 0;
  double real_value = 0;
  std::vector<uint64_t> values;  // Counts: the elements (CSV: one column each, KEY.genI)
};

Figure str(std::string k, std::string v) { return {std::move(k), std::move(v)}; }
Figure num(std::string k, uint64_t v) { return {std::move(k), decimal(v), Figure::Count, v}; }
// digits: decimals in the table and CSV (JSON prints the shortest exact text).
Figure dbl(std::string k, double v, int digits) {
  return {std::move(k), fmt::format("{:.{}f}", v, digits), Figure::Real, 0, v};
}
Figure flag(std::string k, bool v) { return {std::move(k), v ? "true" : "false", Figure::Flag, v}; }
Figure counts(std::string k, std::vector<uint64_t> v) {
  std::string text;
  for (uint64_t x : v) text += (text.empty() ? "" : ", ") + decimal(x);
  return {std::move(k), std::move(text), Figure::Counts, 0, 0, std::move(v)};
}

std::vector<Figure> summary(const ReplayResult& r) {
  std::vector<Figure> f = {str("trace", r.trace), str("stack", r.stack), str("python", r.python), str("raw", r.raw)};
  if (!r.touch.empty()) f.push_back(str("touch", r.touch));
  for (Figure x : {num("events", r.events), num("allocs", r.allocs), num("frees", r.frees),
                   num("reallocs", r.reallocs), num("collections", r.collections), num("peak_live_bytes", r.peak_live_bytes),
                   num("final_live_bytes", r.final_live_bytes), num("final_live_blocks", r.final_live_blocks),
                   num("final_live_objects", r.final_live_objects), num("objects", r.objects),
                   num("object_deaths", r.object_deaths),
                   num("unreclaimed_cyclic_objects", r.unreclaimed_cyclic_objects),
                   num("unreclaimed_cyclic_bytes", r.unreclaimed_cyclic_bytes),
                   num("skipped_gc_frees", r.skipped_gc_frees), num("stale_object_events", r.stale_object_events),
                   num("peak_footprint_bytes", r.peak_footprint_bytes),
                   num("final_footprint_bytes", r.final_footprint_bytes), dbl("replay_seconds", r.replay_seconds, 6),
                   dbl("events_per_second", r.events_per_second, 0), flag("truncated", r.truncated),
                   num("anomalies", r.anomalies)})
    f.push_back(std::move(x));
  if (r.has_objspec) {
    f.push_back(num("freelist.hits", r.freelist_hits));
    f.push_back(num("freelist.misses", r.freelist_misses));
  }
  if (r.has_gc) {
    const GcSummary& g = r.gc;
    for (Figure x : {counts("gc.collections", {g.collections[0], g.collections[1], g.collections[2]}),
                     num("gc.examined_objects", g.examined_objects), num("gc.collected_objects", g.collected_objects),
                     num("gc.collected_bytes", g.collected_bytes),
                     num("gc.cascade_freed_objects", g.cascade_freed_objects), dbl("gc.seconds", g.seconds, 6),
                     dbl("gc.max_pause_seconds", g.max_pause_seconds, 6)})
      f.push_back(std::move(x));
  }
  return f;
}

// The columns of the free-list table and the members of its JSON objects, in one order.
std::vector<std::pair<std::string, uint64_t>> list_counts(const FreeListReport& l) {
  return {{"limit", l.limit},
          {"max_bytes", l.max_bytes},
          {"hits", l.hits},
          {"misses", l.misses},
          {"releases_below", l.releases_below},
          {"cleared", l.cleared},
          {"held_objects", l.held_objects},
          {"held_bytes", l.held_bytes},
          {"peak_held_bytes", l.peak_held_bytes}};
}

void json_figure(JsonWriter& w, const Figure& f) {
  w.key(f.key);
  switch (f.kind) {
    case Figure::Text: w.string(f.text); break;
    case Figure::Count: w.uint(f.value); break;
    case Figure::Real: w.number(f.real_value); break;
    case Figure::Flag: w.boolean(f.value != 0); break;
    case Figure::Counts:
      w.begin_array();
      for (uint64_t v : f.values) w.uint(v);
      w.end_array();
      break;
  }
}

std::string render_json(const ReplayResult& r) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  for (const Figure& f : summary(r)) json_figure(w, f);
  w.key("layers").begin_object();
  for (const LayerReport& l : r.layers) {
    w.key(l.layer).begin_object();
    for (const auto& [name, v] : l.counters) w.field(name, v);
    w.end_object();
  }
  w.end_object();
  if (r.has_objspec) {
    w.key("free_lists").begin_array();
    for (const FreeListReport& l : r.free_lists) {
      w.begin_object();
      w.field("name", l.name);
      w.field("kind", l.site ? "site" : "type");
      for (const auto& [k, v] : list_counts(l)) w.field(k, v);
      w.end_object();
    }
    w.end_array();
  }
  w.key("params").begin_object();
  for (const auto& [k, v] : r.params) w.field(k, v);
  w.end_object();
  w.end_object();
  w.finish();
  return out;
}

std::string render_csv(const ReplayResult& r) {
  std::string out;
  CsvWriter header(out);
  std::vector<Figure> figures = summary(r);
  for (const Figure& f : figures) {
    if (f.kind != Figure::Counts) header.field(f.key);
    for (size_t i = 0; i < f.values.size(); ++i) header.field(fmt::format("{}.gen{}", f.key, i));
  }
  for (const LayerReport& l : r.layers)
    for (const auto& c : l.counters) header.field(l.layer + "." + c.first);
  for (const auto& p : r.params) header.field("param." + p.first);
  header.end_row();
  CsvWriter row(out);
  for (const Figure& f : figures) {
    if (f.kind != Figure::Counts) row.field(f.text);
    for (uint64_t v : f.values) row.field(v);
  }
  for (const LayerReport& l : r.layers)
    for (const auto& c : l.counters) row.field(c.second);
  for (const auto& p : r.params) row.field(p.second);
  row.end_row();
  return out;
}

std::string render_table(const ReplayResult& r) {
  std::string out;
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const Figure& f : summary(r)) pairs.emplace_back(f.key, f.text);
  render_pairs(out, pairs);
  for (const LayerReport& l : r.layers) {
    out += "\nlayer " + l.layer + "\n";
    std::vector<std::pair<std::string, std::string>> counters;
    for (const auto& [name, v] : l.counters) counters.emplace_back(name, decimal(v));
    render_pairs(out, counters, "  ");
  }
  if (r.has_objspec && !r.free_lists.empty()) {
    out += "\nfree lists\n";
    std::vector<Table::Column> columns = {{"list", Align::Left}, {"kind", Align::Left}};
    for (const auto& c : list_counts(r.free_lists.front())) columns.push_back({c.first, Align::Right});
    Table t(std::move(columns));
    for (const FreeListReport& l : r.free_lists) {
      std::vector<std::string> cells = {l.name, l.site ? "site" : "type"};
      for (const auto& c : list_counts(l)) cells.push_back(decimal(c.second));
      t.add_row(std::move(cells));
    }
    t.render(out, "  ");
  }
  if (!r.params.empty()) {
    out += "\nparameters\n";
    render_pairs(out, r.params, "  ");
  }
  if (r.truncated) out += "\nwarning: the trace is truncated; this replay covers its readable part\n";
  return out;
}

}  // namespace

std::string render_replay(const ReplayResult& result, Format format) {
  switch (format) {
    case Format::Table: return render_table(result);
    case Format::Csv: return render_csv(result);
    case Format::Json: return render_json(result);
  }
  return {};
}

}  // namespace heaplay
