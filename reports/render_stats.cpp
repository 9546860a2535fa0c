// render_stats.cpp: TraceStats as a table, CSV or JSON (schemas in docs/metrics.md).
//
// All three formats draw the summary figures from one list (summary_fields),
// so they always carry the same figures under the same names, in the same
// order: the table's labels and the CSV's field column are the JSON keys.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "reports/csv.hpp"
#include "reports/json.hpp"
#include "reports/stats.hpp"
#include "reports/table.hpp"

namespace heaplay {

namespace {

constexpr size_t kTableTypeRows = 20;  // the table lists this many types, then "... N more"

// One summary figure: text, number, boolean or missing (JSON null).
struct Scalar {
  enum Kind { Text, Number, Flag, Missing };
  std::string_view key;
  Kind kind;
  std::string_view text = {};
  uint64_t number = 0;
  bool flag = false;

  static Scalar str(std::string_view k, std::string_view v) { return {k, Text, v}; }
  static Scalar num(std::string_view k, uint64_t v) { return {k, Number, {}, v}; }
  static Scalar boolean(std::string_view k, bool v) { return {k, Flag, {}, 0, v}; }
  static Scalar opt(std::string_view k, const std::optional<uint64_t>& v) {
    return v ? num(k, *v) : Scalar{k, Missing};
  }
  // The value as the table and CSV print it; missing is "" (CSV) or "-" (table).
  std::string as_text(std::string_view missing) const {
    switch (kind) {
      case Text: return std::string(text);
      case Number: return decimal(number);
      case Flag: return flag ? "true" : "false";
      case Missing: break;
    }
    return std::string(missing);
  }
};

// The figures before "anomaly_counts" in JSON.
std::vector<Scalar> summary_head(const TraceStats& s) {
  return {Scalar::str("trace", s.trace),
          Scalar::str("format", s.format),
          Scalar::num("events", s.events),
          Scalar::num("allocs", s.allocs),
          Scalar::num("frees", s.frees),
          Scalar::num("reallocs", s.reallocs),
          Scalar::num("objects", s.objects),
          Scalar::num("deaths", s.deaths),
          Scalar::num("gc_frees", s.gc_frees),
          Scalar::num("incref", s.incref),
          Scalar::num("decref", s.decref),
          Scalar::num("links", s.links),
          Scalar::num("unlinks", s.unlinks),
          Scalar::num("collections", s.collections),
          Scalar::num("markers", s.markers),
          Scalar::num("threads", s.threads),
          Scalar::num("peak_live_bytes", s.peak_live_bytes),
          Scalar::num("peak_live_blocks", s.peak_live_blocks),
          Scalar::num("peak_live_objects", s.peak_live_objects),
          Scalar::num("final_live_bytes", s.final_live_bytes),
          Scalar::num("final_live_blocks", s.final_live_blocks),
          Scalar::num("final_live_objects", s.final_live_objects),
          Scalar::num("allocated_bytes_total", s.allocated_bytes_total),
          Scalar::num("temporary", s.temporary),
          Scalar::boolean("truncated", s.truncated),
          Scalar::num("anomalies", s.anomalies)};
}

// The figures after "anomaly_counts" in JSON.
std::vector<Scalar> summary_tail(const TraceStats& s) {
  return {Scalar::opt("first_time_ns", s.first_time_ns), Scalar::opt("last_time_ns", s.last_time_ns)};
}

std::string bucket_key(const HistogramBucket& b) { return decimal(b.min) + "-" + decimal(b.max); }

// ---- JSON -------------------------------------------------------------------

void json_scalar(JsonWriter& w, const Scalar& v) {
  w.key(v.key);
  switch (v.kind) {
    case Scalar::Text: w.string(v.text); break;
    case Scalar::Number: w.uint(v.number); break;
    case Scalar::Flag: w.boolean(v.flag); break;
    case Scalar::Missing: w.null(); break;
  }
}

void json_histogram(JsonWriter& w, std::string_view key, const std::vector<HistogramBucket>& h) {
  w.key(key).begin_array();
  for (const HistogramBucket& b : h)
    w.begin_object().field("min", b.min).field("max", b.max).field("count", b.count).field("bytes", b.bytes).end_object();
  w.end_array();
}

std::string render_json(const TraceStats& s) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  for (const Scalar& v : summary_head(s)) json_scalar(w, v);
  w.key("anomaly_counts").begin_object();
  for (const auto& [name, n] : s.anomaly_counts) w.field(name, n);
  w.end_object();
  for (const Scalar& v : summary_tail(s)) json_scalar(w, v);
  json_histogram(w, "size_histogram", s.size_histogram);
  json_histogram(w, "lifetime_histogram", s.lifetime_histogram);
  w.field("never_freed", s.never_freed);
  w.key("types").begin_array();
  for (const TypeStats& t : s.types)
    w.begin_object()
        .field("type", t.type)
        .field("allocs", t.allocs)
        .field("bytes", t.bytes)
        .field("frees", t.frees)
        .field("final_live", t.final_live)
        .field("final_live_bytes", t.final_live_bytes)
        .field("peak_live_bytes", t.peak_live_bytes)
        .end_object();
  w.end_array();
  w.key("domains").begin_array();
  for (const DomainStats& d : s.domains)
    w.begin_object()
        .field("domain", d.domain)
        .field("allocs", d.allocs)
        .field("bytes", d.bytes)
        .field("frees", d.frees)
        .field("final_live", d.final_live)
        .field("final_live_bytes", d.final_live_bytes)
        .field("peak_live_bytes", d.peak_live_bytes)
        .end_object();
  w.end_array();
  w.key("metadata").begin_object();
  for (const auto& [k, v] : s.metadata) w.field(k, v);
  w.end_object();
  w.end_object();
  w.finish();
  return out;
}

// ---- CSV --------------------------------------------------------------------

void csv_histogram(CsvWriter& w, std::string_view section, const std::vector<HistogramBucket>& h) {
  for (const HistogramBucket& b : h) {
    std::string key = bucket_key(b);
    w.row(section, key, "min", b.min);
    w.row(section, key, "max", b.max);
    w.row(section, key, "count", b.count);
    w.row(section, key, "bytes", b.bytes);
  }
}

template <class Row>
void csv_table_row(CsvWriter& w, std::string_view section, std::string_view key, const Row& r) {
  w.row(section, key, "allocs", r.allocs);
  w.row(section, key, "bytes", r.bytes);
  w.row(section, key, "frees", r.frees);
  w.row(section, key, "final_live", r.final_live);
  w.row(section, key, "final_live_bytes", r.final_live_bytes);
  w.row(section, key, "peak_live_bytes", r.peak_live_bytes);
}

std::string render_csv(const TraceStats& s) {
  std::string out;
  CsvWriter w(out);
  w.row("section", "key", "field", "value");
  for (const Scalar& v : summary_head(s)) w.row("summary", "", v.key, v.as_text(""));
  for (const Scalar& v : summary_tail(s)) w.row("summary", "", v.key, v.as_text(""));
  w.row("summary", "", "never_freed", s.never_freed);
  for (const auto& [name, n] : s.anomaly_counts) w.row("anomaly", name, "count", n);
  csv_histogram(w, "size_histogram", s.size_histogram);
  csv_histogram(w, "lifetime_histogram", s.lifetime_histogram);
  for (const TypeStats& t : s.types) csv_table_row(w, "type", t.type, t);
  for (const DomainStats& d : s.domains) csv_table_row(w, "domain", d.domain, d);
  for (const auto& [k, v] : s.metadata) w.row("metadata", k, "value", v);
  return out;
}

// ---- table ------------------------------------------------------------------

void table_histogram(std::string& out, std::string_view title, const std::vector<HistogramBucket>& h) {
  out += '\n';
  out += title;
  out += '\n';
  if (h.empty()) {
    out += "  (none)\n";
    return;
  }
  Table t({{"min", Align::Right}, {"max", Align::Right}, {"count", Align::Right}, {"bytes", Align::Right}});
  for (const HistogramBucket& b : h) t.add_row({decimal(b.min), decimal(b.max), decimal(b.count), decimal(b.bytes)});
  t.render(out, "  ");
}

template <class Row>
std::vector<std::string> table_cells(const std::string& name, const Row& r) {
  return {name,
          decimal(r.allocs),
          decimal(r.bytes),
          decimal(r.frees),
          decimal(r.final_live),
          decimal(r.final_live_bytes),
          decimal(r.peak_live_bytes)};
}

Table per_key_table(std::string first) {
  return Table({{std::move(first), Align::Left},
                {"allocs", Align::Right},
                {"bytes", Align::Right},
                {"frees", Align::Right},
                {"final_live", Align::Right},
                {"final_live_bytes", Align::Right},
                {"peak_live_bytes", Align::Right}});
}

std::string render_table(const TraceStats& s) {
  std::string out;
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const Scalar& v : summary_head(s)) pairs.emplace_back(std::string(v.key), v.as_text("-"));
  for (const Scalar& v : summary_tail(s)) pairs.emplace_back(std::string(v.key), v.as_text("-"));
  render_pairs(out, pairs);

  table_histogram(out, "size histogram (request bytes)", s.size_histogram);
  table_histogram(out, "lifetime histogram (events from allocation to release)", s.lifetime_histogram);
  out += "  never_freed: " + decimal(s.never_freed) + "\n";

  out += "\ntypes (by allocs)\n";
  if (s.types.empty()) {
    out += "  (none)\n";
  } else {
    Table t = per_key_table("type");
    for (size_t i = 0; i < s.types.size() && i < kTableTypeRows; ++i) t.add_row(table_cells(s.types[i].type, s.types[i]));
    if (s.types.size() > kTableTypeRows)
      t.add_note("... " + decimal(s.types.size() - kTableTypeRows) + " more (see --format csv or json)");
    t.render(out, "  ");
  }

  out += "\ndomains\n";
  Table d = per_key_table("domain");
  for (const DomainStats& row : s.domains) d.add_row(table_cells(row.domain, row));
  d.render(out, "  ");

  if (s.anomalies) {
    out += "\nanomalies (dropped events, lenient reading)\n";
    Table a({{"anomaly", Align::Left}, {"count", Align::Right}});
    for (const auto& [name, n] : s.anomaly_counts)
      if (n) a.add_row({name, decimal(n)});
    a.render(out, "  ");
  }
  if (!s.metadata.empty()) {
    // A value of several lines (a recording's pymalloc.stats) is shown whole
    // after the table, indented, rather than as one escaped line.
    std::vector<std::pair<std::string, std::string>> meta, blocks;
    for (const auto& [k, v] : s.metadata) {
      const size_t lines = static_cast<size_t>(std::count(v.begin(), v.end(), '\n'));
      if (lines > 1) {
        meta.emplace_back(k, fmt::format("({} lines, below)", lines + (v.back() != '\n')));
        blocks.emplace_back(k, v);
      } else {
        meta.emplace_back(k, v);
      }
    }
    out += "\nmetadata\n";
    render_pairs(out, meta, "  ");
    for (const auto& [k, v] : blocks) {
      out += "\n" + printable(k) + "\n";
      for (size_t at = 0; at < v.size();) {
        const size_t end = std::min(v.find('\n', at), v.size());
        out += end > at ? "  " + printable(std::string_view(v).substr(at, end - at)) + "\n" : "\n";
        at = end + 1;
      }
    }
  }
  if (s.truncated) out += "\nwarning: the trace is truncated; these figures cover its readable part\n";
  return out;
}

}  // namespace

std::string render_stats(const TraceStats& stats, Format format) {
  switch (format) {
    case Format::Table: return render_table(stats);
    case Format::Csv: return render_csv(stats);
    case Format::Json: return render_json(stats);
  }
  return {};
}

}  // namespace heaplay
