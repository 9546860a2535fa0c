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
  enum Kind { Text, Count, Real, Flag };
  std::string key;
  std::string text;  // as the table and CSV print it
  Kind kind = Text;  // how JSON writes it (Real: shortest exact text)
  uint64_t value = 0;
  double real_value = 0;
};

Figure str(std::string k, std::string v) { return {std::move(k), std::move(v)}; }
Figure num(std::string k, uint64_t v) { return {std::move(k), decimal(v), Figure::Count, v}; }
// digits: decimals in the table and CSV (JSON prints the shortest exact text).
Figure dbl(std::string k, double v, int digits) {
  return {std::move(k), fmt::format("{:.{}f}", v, digits), Figure::Real, 0, v};
}
Figure flag(std::string k, bool v) { return {std::move(k), v ? "true" : "false", Figure::Flag, v}; }

std::vector<Figure> summary(const ReplayResult& r) {
  std::vector<Figure> f = {str("trace", r.trace), str("stack", r.stack), str("python", r.python), str("raw", r.raw)};
  if (!r.touch.empty()) f.push_back(str("touch", r.touch));
  for (Figure x : {num("events", r.events), num("allocs", r.allocs), num("frees", r.frees),
                   num("reallocs", r.reallocs), num("collections", r.collections), num("peak_live_bytes", r.peak_live_bytes),
                   num("final_live_bytes", r.final_live_bytes), num("final_live_blocks", r.final_live_blocks),
                   num("final_live_objects", r.final_live_objects),
                   num("peak_footprint_bytes", r.peak_footprint_bytes),
                   num("final_footprint_bytes", r.final_footprint_bytes), dbl("replay_seconds", r.replay_seconds, 6),
                   dbl("events_per_second", r.events_per_second, 0), flag("truncated", r.truncated),
                   num("anomalies", r.anomalies)})
    f.push_back(std::move(x));
  // Object figures, when the trace has objects or the stack a collector.
  if (r.objects || r.has_gc || r.skipped_gc_frees)
    for (Figure x : {num("objects", r.objects), num("object_deaths", r.object_deaths),
                     num("unreclaimed_cyclic_objects", r.unreclaimed_cyclic_objects),
                     num("unreclaimed_cyclic_bytes", r.unreclaimed_cyclic_bytes),
                     num("skipped_gc_frees", r.skipped_gc_frees), num("stale_object_events", r.stale_object_events)})
      f.push_back(std::move(x));
  if (r.has_gc)
    for (Figure x : {num("gc_collections_gen0", r.gc.collections[0]), num("gc_collections_gen1", r.gc.collections[1]),
                     num("gc_collections_gen2", r.gc.collections[2]), num("gc_examined_objects", r.gc.examined_objects),
                     num("gc_collected_objects", r.gc.collected_objects),
                     num("gc_collected_bytes", r.gc.collected_bytes),
                     num("gc_cascade_freed_objects", r.gc.cascade_freed_objects), dbl("gc_seconds", r.gc.seconds, 6),
                     dbl("gc_max_pause_seconds", r.gc.max_pause_seconds, 6)})
      f.push_back(std::move(x));
  return f;
}

void json_figure(JsonWriter& w, const Figure& f) {
  w.key(f.key);
  switch (f.kind) {
    case Figure::Text: w.string(f.text); break;
    case Figure::Count: w.uint(f.value); break;
    case Figure::Real: w.number(f.real_value); break;
    case Figure::Flag: w.boolean(f.value != 0); break;
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
  for (const Figure& f : figures) header.field(f.key);
  for (const LayerReport& l : r.layers)
    for (const auto& c : l.counters) header.field(l.layer + "." + c.first);
  for (const auto& p : r.params) header.field("param." + p.first);
  header.end_row();
  CsvWriter row(out);
  for (const Figure& f : figures) row.field(f.text);
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
