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

Figure str(std::string k, std::string v) { return {std::move(k), std::move(v), Figure::Text, 0, 0, {}}; }
Figure num(std::string k, uint64_t v) { return {std::move(k), decimal(v), Figure::Count, v, 0, {}}; }
// digits: decimals in the table and CSV (JSON prints the shortest exact text).
Figure dbl(std::string k, double v, int digits) {
  return {std::move(k), fmt::format("{:.{}f}", v, digits), Figure::Real, 0, v, {}};
}
Figure flag(std::string k, bool v) { return {std::move(k), v ? "true" : "false", Figure::Flag, v, 0, {}}; }
Figure counts(std::string k, std::vector<uint64_t> v) {
  std::string text;
  for (uint64_t x : v) text += (text.empty() ? "" : ", ") + decimal(x);
  return {std::move(k), std::move(text), Figure::Counts, 0, 0, std::move(v)};
}

std::string percent_key(const std::string& bytes_key) {
  return bytes_key.substr(0, bytes_key.size() - std::string_view("_bytes").size()) + "_percent";
}

// The figures of metrics.hpp, after the layers' own (docs/metrics.md).
void add_metrics(std::vector<Figure>& f, const ReplayResult& r) {
  const Metrics& m = r.metrics;
  const Footprint& fp = m.footprint;
  auto level = [&](const std::string& name, const Level& l) {
    f.push_back(num("peak_" + name + "_bytes", l.peak));
    f.push_back(num("final_" + name + "_bytes", l.final));
    f.push_back(dbl("mean_" + name + "_bytes", l.mean, 1));
  };
  f.push_back(dbl("mean_live_bytes", fp.live.mean, 1));
  level("allocated", fp.allocated);
  level("held", fp.held);
  if (fp.has_rss) level("rss", fp.rss);
  // Fragmentation at the end: bytes, and percent of final held.
  const Fragmentation& fr = m.fragmentation;
  std::vector<std::pair<std::string, uint64_t>> parts = {{"frag.internal_bytes", fr.internal_bytes}};
  if (r.has_objspec) parts.emplace_back("frag.freelist_bytes", fr.freelist_bytes);
  if (m.has_pooled) {
    parts.emplace_back("frag.pooled_bytes", fr.pooled_bytes);
    parts.emplace_back("frag.pooled.free_block_bytes", fr.pooled_free_block_bytes);
    parts.emplace_back("frag.pooled.empty_pool_bytes", fr.pooled_empty_pool_bytes);
    parts.emplace_back("frag.pooled.header_bytes", fr.pooled_header_bytes);
    parts.emplace_back("frag.pooled.quantization_bytes", fr.pooled_quantization_bytes);
    parts.emplace_back("frag.pooled.alignment_bytes", fr.pooled_alignment_bytes);
  }
  parts.emplace_back("frag.raw_bytes", fr.raw_bytes);
  parts.emplace_back("frag.other_bytes", fr.other_bytes);
  for (const auto& [key, bytes] : parts) f.push_back(num(key, bytes));
  for (const auto& [key, bytes] : parts)
    f.push_back(dbl(percent_key(key), Fragmentation::share(bytes, fr.held_bytes), 2));
  const JwMeasures& jw = m.jw;
  for (Figure x : {dbl("jw1_overhead_percent", jw.m1, 2), dbl("jw2_overhead_percent", jw.m2, 2),
                   dbl("jw3_overhead_percent", jw.m3, 2), dbl("jw4_overhead_percent", jw.m4, 2),
                   num("held_at_peak_live_bytes", jw.held_at_peak_live),
                   num("live_at_peak_held_bytes", jw.live_at_peak_held), num("peak_live_event", jw.peak_live_event),
                   num("peak_held_event", jw.peak_held_event)})
    f.push_back(std::move(x));
  for (const PinnedArenas& p : m.pinned) {
    f.push_back(num(fmt::format("pinned_arenas.k{}.final", p.k), p.final));
    f.push_back(num(fmt::format("pinned_arenas.k{}.at_peak_held", p.k), p.at_peak_held));
  }
  // Timing last: it is the only part that varies from run to run.
  f.push_back(dbl("cpu_seconds", m.cpu_seconds, 6));
  f.push_back(dbl("ns_per_event", m.ns_per_event, 2));
  f.push_back(dbl("ns_per_alloc", m.ns_per_alloc, 2));
  f.push_back(dbl("ns_per_free", m.ns_per_free, 2));
  f.push_back(num("alloc_timed_calls", m.alloc_samples));
  f.push_back(num("free_timed_calls", m.free_samples));
  f.push_back(dbl("timer_overhead_ns", m.timer_overhead_ns, 1));
  if (r.has_gc) f.push_back(dbl("gc.share_percent", m.gc_share, 2));
}

std::vector<Figure> summary(const ReplayResult& r) {
  std::vector<Figure> f = {str("trace", r.trace), str("stack", r.stack), str("python", r.python), str("raw", r.raw)};
  if (!r.touch.empty()) f.push_back(str("touch", r.touch));
  if (!r.raw_library.empty()) f.push_back(str("raw_library", r.raw_library));
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
  add_metrics(f, r);
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

// A cell of sizeclasses.csv or timeline.csv: a count, a percentage, or missing.
struct Cell {
  enum Kind { Count, Real, Missing } kind = Missing;
  uint64_t count = 0;
  double real = 0;
};
Cell count_cell(uint64_t v) { return {Cell::Count, v}; }
Cell real_cell(double v) { return {Cell::Real, 0, v}; }
Cell maybe(const std::optional<uint64_t>& v) { return v ? count_cell(*v) : Cell{}; }

void json_value(JsonWriter& w, const Cell& c) {
  if (c.kind == Cell::Count) w.uint(c.count);
  else if (c.kind == Cell::Real) w.number(c.real);
  else w.null();
}
void csv_value(CsvWriter& w, const Cell& c) {
  if (c.kind == Cell::Count) w.field(c.count);
  else if (c.kind == Cell::Real) w.field(fmt::format("{:.2f}", c.real));
  else w.empty();
}

double utilisation(uint64_t blocks, uint64_t pools, uint32_t per_pool) {
  return pools ? 100.0 * static_cast<double>(blocks) / static_cast<double>(pools * per_pool) : 0;
}

// The columns of sizeclasses.csv (after `stack`) and the members of the JSON's size_classes.
std::vector<std::pair<std::string, Cell>> size_class_fields(const SizeClassReport& c) {
  return {{"class", count_cell(c.index)},
          {"size_bytes", count_cell(c.size)},
          {"blocks_per_pool", count_cell(c.blocks_per_pool)},
          {"requests", count_cell(c.requests)},
          {"peak_blocks", count_cell(c.peak_blocks)},
          {"peak_pools", count_cell(c.peak_pools)},
          {"peak_utilisation_percent", real_cell(utilisation(c.peak_blocks, c.peak_pools, c.blocks_per_pool))},
          {"final_blocks", count_cell(c.final_blocks)},
          {"final_pools", count_cell(c.final_pools)},
          {"final_utilisation_percent", real_cell(utilisation(c.final_blocks, c.final_pools, c.blocks_per_pool))}};
}

// The columns of timeline.csv (after `stack`) and the members of the JSON's timeline.
std::vector<std::pair<std::string, Cell>> sample_fields(const Sample& s) {
  return {{"event", count_cell(s.event)},         {"time_ns", maybe(s.time_ns)},
          {"live_bytes", count_cell(s.live)},     {"allocated_bytes", count_cell(s.allocated)},
          {"held_bytes", count_cell(s.held)},     {"rss_bytes", maybe(s.rss)},
          {"arenas", count_cell(s.arenas)},       {"collections", count_cell(s.collections)}};
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

// An array of objects, one per row, members as fields(row) names them.
template <class Row, class Fields>
void json_rows(JsonWriter& w, const std::vector<Row>& rows, Fields fields) {
  w.begin_array();
  for (const Row& row : rows) {
    w.begin_object();
    for (const auto& [k, v] : fields(row)) json_value(w.key(k), v);
    w.end_object();
  }
  w.end_array();
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
  json_rows(w.key("size_classes"), r.metrics.size_classes, size_class_fields);
  json_rows(w.key("timeline"), r.metrics.timeline, sample_fields);
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
  if (!r.metrics.size_classes.empty()) {
    out += "\nsize classes\n";
    std::vector<Table::Column> columns;
    for (const auto& c : size_class_fields(r.metrics.size_classes.front())) columns.push_back({c.first, Align::Right});
    Table t(std::move(columns));
    for (const SizeClassReport& c : r.metrics.size_classes) {
      std::vector<std::string> cells;
      for (const auto& [k, v] : size_class_fields(c))
        cells.push_back(v.kind == Cell::Count ? decimal(v.count) : fmt::format("{:.2f}", v.real));
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

namespace {
// One header row (stack, raw, then fields(Row{})'s names), then one row per
// element, the stack's name and raw kind first (so that the files of
// `heaplay compare`'s stacks and raw kinds concatenate).
template <class Row, class Fields>
std::string render_rows_csv(const ReplayResult& r, const std::vector<Row>& rows, Fields fields) {
  std::string out;
  CsvWriter w(out);
  w.field("stack").field("raw");
  for (const auto& [k, v] : fields(Row{})) w.field(k);
  w.end_row();
  for (const Row& row : rows) {
    w.field(r.stack).field(r.raw);
    for (const auto& [k, v] : fields(row)) csv_value(w, v);
    w.end_row();
  }
  return out;
}
}  // namespace

std::string render_timeline_csv(const ReplayResult& r) {
  return render_rows_csv(r, r.metrics.timeline, sample_fields);
}

std::string render_sizeclasses_csv(const ReplayResult& r) {
  return render_rows_csv(r, r.metrics.size_classes, size_class_fields);
}

std::string render_replay(const ReplayResult& result, Format format) {
  switch (format) {
    case Format::Table: return render_table(result);
    case Format::Csv: return render_csv(result);
    case Format::Json: return render_json(result);
  }
  return {};
}

}  // namespace heaplay
