// compare_report.cpp: `heaplay compare`'s rows as a table, CSV or JSON (compare_report.hpp).
#include "reports/compare_report.hpp"

#include <fmt/format.h>

#include <functional>
#include <utility>

#include "reports/csv.hpp"
#include "reports/json.hpp"
#include "reports/replay_report.hpp"
#include "reports/table.hpp"

namespace heaplay {

namespace {

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

// One column of the summary CSV: its name and its text for a result ("" when
// the stack does not have that figure).
struct Column {
  std::string name;
  std::function<std::string(const ReplayResult&)> text;
};

std::vector<Column> make_columns() {
  std::vector<Column> c;
  auto count = [&](std::string name, std::function<uint64_t(const ReplayResult&)> get) {
    c.push_back({std::move(name), [get](const ReplayResult& r) { return decimal(get(r)); }});
  };
  auto real = [&](std::string name, int digits, std::function<double(const ReplayResult&)> get) {
    c.push_back({std::move(name), [get, digits](const ReplayResult& r) { return fixed(get(r), digits); }});
  };
  // A figure only some stacks have.
  auto when = [&](std::string name, std::function<bool(const ReplayResult&)> has,
                  std::function<std::string(const ReplayResult&)> text) {
    c.push_back({std::move(name), [has, text](const ReplayResult& r) { return has(r) ? text(r) : std::string(); }});
  };
  c.push_back({"python", [](const ReplayResult& r) { return r.python; }});
  c.push_back({"raw", [](const ReplayResult& r) { return r.raw; }});
  c.push_back({"raw_library", [](const ReplayResult& r) { return r.raw_library; }});
  count("events", [](const ReplayResult& r) { return r.events; });
  count("allocs", [](const ReplayResult& r) { return r.allocs; });
  count("frees", [](const ReplayResult& r) { return r.frees; });
  count("reallocs", [](const ReplayResult& r) { return r.reallocs; });
  count("objects", [](const ReplayResult& r) { return r.objects; });
  count("object_deaths", [](const ReplayResult& r) { return r.object_deaths; });
  count("final_live_objects", [](const ReplayResult& r) { return r.final_live_objects; });
  count("unreclaimed_cyclic_objects", [](const ReplayResult& r) { return r.unreclaimed_cyclic_objects; });
  count("unreclaimed_cyclic_bytes", [](const ReplayResult& r) { return r.unreclaimed_cyclic_bytes; });
  using LevelOf = const Level& (*)(const ReplayResult&);
  auto level = [&](const std::string& what, LevelOf get, std::function<bool(const ReplayResult&)> has) {
    when("peak_" + what + "_bytes", has, [get](const ReplayResult& r) { return decimal(get(r).peak); });
    when("final_" + what + "_bytes", has, [get](const ReplayResult& r) { return decimal(get(r).final); });
    when("mean_" + what + "_bytes", has, [get](const ReplayResult& r) { return fixed(get(r).mean, 1); });
  };
  auto always = [](const ReplayResult&) { return true; };
  level("live", [](const ReplayResult& r) -> const Level& { return r.metrics.footprint.live; }, always);
  level("allocated", [](const ReplayResult& r) -> const Level& { return r.metrics.footprint.allocated; }, always);
  level("held", [](const ReplayResult& r) -> const Level& { return r.metrics.footprint.held; }, always);
  level("rss", [](const ReplayResult& r) -> const Level& { return r.metrics.footprint.rss; },
        [](const ReplayResult& r) { return r.metrics.footprint.has_rss; });
  using PartOf = uint64_t (*)(const Fragmentation&);
  std::vector<std::pair<std::string, PartOf>> parts = {
      {"internal", [](const Fragmentation& f) { return f.internal_bytes; }},
      {"freelist", [](const Fragmentation& f) { return f.freelist_bytes; }},
      {"pooled", [](const Fragmentation& f) { return f.pooled_bytes; }},
      {"raw", [](const Fragmentation& f) { return f.raw_bytes; }},
      {"other", [](const Fragmentation& f) { return f.other_bytes; }}};
  auto has_part = [](const std::string& part) -> std::function<bool(const ReplayResult&)> {
    if (part == "freelist") return [](const ReplayResult& r) { return r.has_objspec; };
    if (part == "pooled") return [](const ReplayResult& r) { return r.metrics.has_pooled; };
    return [](const ReplayResult&) { return true; };
  };
  // [get = get]: clang before 16 cannot capture a structured binding by name.
  for (const auto& [part, get] : parts)
    when("frag." + part + "_bytes", has_part(part),
         [get = get](const ReplayResult& r) { return decimal(get(r.metrics.fragmentation)); });
  for (const auto& [part, get] : parts)
    when("frag." + part + "_percent", has_part(part), [get = get](const ReplayResult& r) {
      const Fragmentation& f = r.metrics.fragmentation;
      return fixed(Fragmentation::share(get(f), f.held_bytes), 2);
    });
  real("jw1_overhead_percent", 2, [](const ReplayResult& r) { return r.metrics.jw.m1; });
  real("jw2_overhead_percent", 2, [](const ReplayResult& r) { return r.metrics.jw.m2; });
  real("jw3_overhead_percent", 2, [](const ReplayResult& r) { return r.metrics.jw.m3; });
  real("jw4_overhead_percent", 2, [](const ReplayResult& r) { return r.metrics.jw.m4; });
  auto objspec = [](const ReplayResult& r) { return r.has_objspec; };
  when("freelist.hits", objspec, [](const ReplayResult& r) { return decimal(r.freelist_hits); });
  when("freelist.misses", objspec, [](const ReplayResult& r) { return decimal(r.freelist_misses); });
  auto gc = [](const ReplayResult& r) { return r.has_gc; };
  when("gc.collections", gc, [](const ReplayResult& r) {
    return decimal(r.gc.collections[0] + r.gc.collections[1] + r.gc.collections[2]);
  });
  when("gc.collected_objects", gc, [](const ReplayResult& r) { return decimal(r.gc.collected_objects); });
  when("gc.collected_bytes", gc, [](const ReplayResult& r) { return decimal(r.gc.collected_bytes); });
  when("gc.seconds", gc, [](const ReplayResult& r) { return fixed(r.gc.seconds, 6); });
  when("gc.max_pause_seconds", gc, [](const ReplayResult& r) { return fixed(r.gc.max_pause_seconds, 6); });
  c.push_back({"truncated", [](const ReplayResult& r) { return std::string(r.truncated ? "true" : "false"); }});
  count("anomalies", [](const ReplayResult& r) { return r.anomalies; });
  // Timing last: the only columns that vary from run to run.
  real("replay_seconds", 6, [](const ReplayResult& r) { return r.replay_seconds; });
  real("events_per_second", 0, [](const ReplayResult& r) { return r.events_per_second; });
  real("cpu_seconds", 6, [](const ReplayResult& r) { return r.metrics.cpu_seconds; });
  // Sampled per-call times (replay's ns_per_alloc, ns_per_free): empty without a timed call.
  when("mean_alloc_ns", [](const ReplayResult& r) { return r.metrics.alloc_samples > 0; },
       [](const ReplayResult& r) { return fixed(r.metrics.ns_per_alloc, 2); });
  when("mean_free_ns", [](const ReplayResult& r) { return r.metrics.free_samples > 0; },
       [](const ReplayResult& r) { return fixed(r.metrics.ns_per_free, 2); });
  count("alloc_timed_calls", [](const ReplayResult& r) { return r.metrics.alloc_samples; });
  count("free_timed_calls", [](const ReplayResult& r) { return r.metrics.free_samples; });
  return c;
}

const std::vector<Column>& columns() {
  static const std::vector<Column> c = make_columns();
  return c;
}

// The row's raw kind: its own, else its result's.
std::string row_raw(const CompareRow& row) {
  if (!row.raw.empty() || !row.result) return row.raw;
  return row.result->raw;
}

std::string render_csv(const std::string& trace, const std::vector<CompareRow>& rows) {
  std::string out;
  CsvWriter w(out);
  for (const std::string& name : compare_summary_columns()) w.field(name);
  w.end_row();
  for (const CompareRow& row : rows) {
    w.field(trace).field(row.stack).field(row.result ? std::string() : row.error);
    for (const Column& c : columns())
      w.field(row.result ? c.text(*row.result) : c.name == "raw" ? row_raw(row) : std::string());
    w.end_row();
  }
  return out;
}

// text, each line after the first indented by `indent` more.
std::string indent_lines(std::string_view text, std::string_view indent) {
  std::string out;
  for (char ch : text) {
    out.push_back(ch);
    if (ch == '\n') out.append(indent);
  }
  return out;
}

std::string render_json(const std::string& trace, const std::vector<CompareRow>& rows) {
  // Each stack's object is `heaplay replay --format json`'s, indented into the array.
  std::string out = "{\n  \"trace\": ";
  append_json_string(out, trace);
  out += ",\n  \"stacks\": [";
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string object;
    if (rows[i].result) {
      object = render_replay(*rows[i].result, Format::Json);
      while (!object.empty() && object.back() == '\n') object.pop_back();
    } else {
      JsonWriter w(object);
      w.begin_object();
      w.field("stack", rows[i].stack);
      if (!row_raw(rows[i]).empty()) w.field("raw", row_raw(rows[i]));
      w.field("error", rows[i].error);
      w.end_object();
      w.finish();
      while (!object.empty() && object.back() == '\n') object.pop_back();
    }
    out += i ? ",\n    " : "\n    ";
    out += indent_lines(object, "    ");
  }
  out += rows.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return out;
}

// Bytes for people: B below 1 KiB, else KiB, MiB or GiB with one decimal.
std::string human_bytes(double v) {
  if (v < 1024) return fmt::format("{:.0f} B", v);
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  v /= 1024;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string render_table(const std::string& trace, const std::vector<CompareRow>& rows) {
  std::string out = "trace " + printable(trace) + "\n\n";
  Table t({{"stack", Align::Left},
           {"raw", Align::Left},
           {"peak live", Align::Right},
           {"peak held", Align::Right},
           {"final held", Align::Right},
           {"mean held", Align::Right},
           {"peak rss", Align::Right},
           {"jw4 %", Align::Right},
           {"internal %", Align::Right},
           {"pooled %", Align::Right},
           {"raw %", Align::Right},
           {"gc runs", Align::Right},
           {"fl hits", Align::Right},
           {"events/s", Align::Right},
           {"cpu s", Align::Right},
           {"ns/alloc", Align::Right},
           {"ns/free", Align::Right}});
  size_t stack_width = display_width("stack"), raw_width = display_width("raw");
  for (const CompareRow& row : rows)
    if (row.result) {
      stack_width = std::max(stack_width, display_width(printable(row.stack)));
      raw_width = std::max(raw_width, display_width(printable(row_raw(row))));
    }
  // A cell padded to a column's width and the two spaces between columns.
  auto padded = [](const std::string& text, size_t width) {
    return text + std::string(std::max(width, display_width(text)) - display_width(text) + 2, ' ');
  };
  for (const CompareRow& row : rows) {
    if (!row.result) {
      t.add_note(padded(printable(row.stack), stack_width) + padded(printable(row_raw(row)), raw_width) +
                 "error: " + row.error);
      continue;
    }
    const ReplayResult& r = *row.result;
    const Metrics& m = r.metrics;
    const Fragmentation& f = m.fragmentation;
    t.add_row({row.stack, row_raw(row), human_bytes(static_cast<double>(m.footprint.live.peak)),
               human_bytes(static_cast<double>(m.footprint.held.peak)),
               human_bytes(static_cast<double>(m.footprint.held.final)), human_bytes(m.footprint.held.mean),
               m.footprint.has_rss ? human_bytes(static_cast<double>(m.footprint.rss.peak)) : "-",
               fixed(m.jw.m4, 1), fixed(Fragmentation::share(f.internal_bytes, f.held_bytes), 1),
               m.has_pooled ? fixed(Fragmentation::share(f.pooled_bytes, f.held_bytes), 1) : "-",
               fixed(Fragmentation::share(f.raw_bytes, f.held_bytes), 1),
               r.has_gc ? decimal(r.gc.collections[0] + r.gc.collections[1] + r.gc.collections[2]) : "-",
               r.has_objspec ? decimal(r.freelist_hits) : "-", fixed(r.events_per_second, 0),
               fixed(m.cpu_seconds, 2), m.alloc_samples ? fixed(m.ns_per_alloc, 1) : "-",
               m.free_samples ? fixed(m.ns_per_free, 1) : "-"});
  }
  t.render(out);
  return out;
}

// The per-stack CSV of each finished row, one header kept.
std::string concat_csv(const std::vector<CompareRow>& rows, std::string (*render)(const ReplayResult&)) {
  std::string out = render(ReplayResult{});  // the header alone
  for (const CompareRow& row : rows) {
    if (!row.result) continue;
    std::string part = render(*row.result);
    out.append(part, part.find('\n') + 1);
  }
  return out;
}

}  // namespace

const std::vector<std::string>& compare_summary_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n = {"trace", "stack", "error"};
    for (const Column& c : columns()) n.push_back(c.name);
    return n;
  }();
  return names;
}

std::string render_compare(const std::string& trace, const std::vector<CompareRow>& rows, Format format) {
  switch (format) {
    case Format::Table: return render_table(trace, rows);
    case Format::Csv: return render_csv(trace, rows);
    case Format::Json: return render_json(trace, rows);
  }
  return {};
}

std::string render_compare_timeline_csv(const std::vector<CompareRow>& rows) {
  return concat_csv(rows, render_timeline_csv);
}

std::string render_compare_sizeclasses_csv(const std::vector<CompareRow>& rows) {
  return concat_csv(rows, render_sizeclasses_csv);
}

}  // namespace heaplay
