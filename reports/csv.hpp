// csv.hpp: RFC 4180 CSV rows, appended to a std::string.
//
// Records end with CRLF ("\r\n"), as RFC 4180 specifies; pandas, duckdb,
// Python's csv module and spreadsheets all accept it. A field is quoted when
// it contains a comma, a double quote, CR or LF, and inner quotes are doubled;
// every other field is written as is (no trimming). Output is always valid
// UTF-8, so pandas and duckdb read it with their defaults: ill-formed bytes
// are replaced by U+FFFD as in json.hpp; other control characters pass
// through unquoted (RFC 4180 needs quotes only for CR and LF). An empty field
// stands for "no value" (JSON null); an empty string looks the same.
// The writer does not check that rows have equal lengths: callers with a
// fixed header keep to it themselves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace heaplay {

// Appends one field, quoted only if it must be.
void append_csv_field(std::string& out, std::string_view field);

class CsvWriter {
 public:
  explicit CsvWriter(std::string& out) : out_(out) {}

  CsvWriter& field(std::string_view s);
  CsvWriter& field(const char* s) { return field(std::string_view(s)); }
  CsvWriter& field(uint64_t v);
  CsvWriter& empty() { return field(std::string_view()); }
  // Ends the current record with CRLF.
  CsvWriter& end_row();

  // A whole record at once.
  template <class... Fields>
  CsvWriter& row(const Fields&... fields) {
    (field(fields), ...);
    return end_row();
  }

 private:
  std::string& out_;
  bool first_ = true;  // no separator before the record's first field
};

}  // namespace heaplay
