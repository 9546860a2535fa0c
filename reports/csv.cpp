// csv.cpp: see csv.hpp.
#include "reports/csv.hpp"

#include <charconv>

#include "reports/json.hpp"  // utf8_step

namespace heaplay {

namespace {

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// s with every maximal ill-formed UTF-8 subpart replaced by U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    Utf8Step st = utf8_step(s, i);
    if (st.valid) out.append(s.data() + i, st.length);
    else out += "\xef\xbf\xbd";
    i += st.length;
  }
  return out;
}

}  // namespace

void append_csv_field(std::string& out, std::string_view field) {
  std::string fixed;
  if (!is_ascii(field)) field = fixed = valid_utf8(field);
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';  // "" inside a quoted field is one quote
    out += c;
  }
  out += '"';
}

CsvWriter& CsvWriter::field(std::string_view s) {
  if (!first_) out_ += ',';
  first_ = false;
  append_csv_field(out_, s);
  return *this;
}

CsvWriter& CsvWriter::field(uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return field(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}

CsvWriter& CsvWriter::end_row() {
  out_ += "\r\n";
  first_ = true;
  return *this;
}

}  // namespace heaplay
