// table.cpp: see table.hpp.
#include "reports/table.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "reports/json.hpp"  // utf8_step

namespace heaplay {

namespace {

void append_hex_byte(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

void append_padded(std::string& out, std::string_view cell, size_t width, Align align) {
  size_t w = display_width(cell);
  size_t pad = width > w ? width - w : 0;
  if (align == Align::Right) out.append(pad, ' ');
  out += cell;
  if (align == Align::Left) out.append(pad, ' ');
}

// Trailing spaces come from padding the last column; drop them.
void end_line(std::string& out) {
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += '\n';
}

}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      Utf8Step st = utf8_step(s, i);
      if (st.valid) {
        out.append(s.data() + i, st.length);
      } else {
        for (size_t k = 0; k < st.length; ++k) append_hex_byte(out, static_cast<unsigned char>(s[i + k]));
      }
      i += st.length;
      continue;
    }
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7F) append_hex_byte(out, c);
    else out += static_cast<char>(c);
    ++i;
  }
  return out;
}

size_t display_width(std::string_view s) {
  // Count bytes that start a code point (everything but 10xxxxxx).
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string decimal(uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() > columns_.size()) throw std::logic_error("Table: more cells than columns");
  for (std::string& c : cells) c = printable(c);
  cells.resize(columns_.size());
  rows_.push_back(Row{std::move(cells), false});
}

void Table::add_note(std::string text) { rows_.push_back(Row{{printable(text)}, true}); }

void Table::render(std::string& out, std::string_view indent) const {
  std::vector<size_t> width(columns_.size(), 0);
  for (size_t c = 0; c < columns_.size(); ++c) width[c] = display_width(columns_[c].header);
  for (const Row& r : rows_) {
    if (r.note) continue;
    for (size_t c = 0; c < columns_.size(); ++c) width[c] = std::max(width[c], display_width(r.cells[c]));
  }
  const auto line = [&](const auto& cell_of) {
    out += indent;
    for (size_t c = 0; c < columns_.size(); ++c) {
      if (c) out += "  ";
      append_padded(out, cell_of(c), width[c], columns_[c].align);
    }
    end_line(out);
  };
  line([&](size_t c) -> std::string_view { return columns_[c].header; });
  out += indent;
  for (size_t c = 0; c < columns_.size(); ++c) {
    if (c) out += "  ";
    out.append(width[c], '-');
  }
  end_line(out);
  for (const Row& r : rows_) {
    if (r.note) {
      out += indent;
      out += r.cells[0];
      end_line(out);
    } else {
      line([&](size_t c) -> std::string_view { return r.cells[c]; });
    }
  }
}

void render_pairs(std::string& out, const std::vector<std::pair<std::string, std::string>>& pairs,
                  std::string_view indent) {
  std::vector<std::pair<std::string, std::string>> p;
  p.reserve(pairs.size());
  size_t width = 0;
  for (const auto& [label, value] : pairs) {
    p.emplace_back(printable(label) + ":", printable(value));
    width = std::max(width, display_width(p.back().first));
  }
  for (const auto& [label, value] : p) {
    out += indent;
    append_padded(out, label, width + 1, Align::Left);
    out += value;
    end_line(out);
  }
}

}  // namespace heaplay
