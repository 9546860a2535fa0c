// format.hpp: the output formats every report can be rendered in.
//
// table: aligned text for people; csv: RFC 4180 rows in a long (tidy) layout
// for pandas/duckdb; json: one pretty-printed object for jq and scripts.
// The CLI spells them "table", "csv" and "json" (--format).
#pragma once

#include <string>
#include <string_view>

#include "traces/error.hpp"

namespace heaplay {

enum class Format { Table, Csv, Json };

inline std::string_view report_format_name(Format f) {
  switch (f) {
    case Format::Table: return "table";
    case Format::Csv: return "csv";
    case Format::Json: return "json";
  }
  return "?";
}

// "table", "csv" or "json" (exact, lower case) -> Format. Anything else is a
// usage error: throws Error with exit status 2 naming the accepted spellings.
inline Format parse_format(std::string_view name) {
  if (name == "table") return Format::Table;
  if (name == "csv") return Format::Csv;
  if (name == "json") return Format::Json;
  throw Error("unknown report format '" + std::string(name) + "' (expected table, csv or json)",
              kExitBadInput);
}

}  // namespace heaplay
