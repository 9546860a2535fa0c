// table.hpp: aligned plain-text tables for people (and, at a pinch, awk).
//
// Columns are separated by two spaces; text columns are left-aligned, number
// columns right-aligned. Numbers are printed plain and exact (no thousands
// separators, no rounding, no units), so `awk '{print $2}'` still reads them.
// Width is measured in code points, so UTF-8 type names line up (wide East
// Asian characters will not; that is accepted). Lines carry no trailing spaces.
//
// Cells are made printable first: control characters become C-style escapes
// (\n, \t, \r, \\ stays as is, others \xNN) and bytes that are not valid UTF-8
// become \xNN, so a hostile type name cannot break the layout or the terminal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace heaplay {

// s with control characters and invalid UTF-8 escaped as described above.
std::string printable(std::string_view s);
// Display width of already printable text: its number of code points.
size_t display_width(std::string_view s);
// Decimal text of v.
std::string decimal(uint64_t v);

enum class Align { Left, Right };

class Table {
 public:
  struct Column {
    std::string header;
    Align align;
  };
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // One row of cells (made printable here); missing cells are blank, extra
  // cells are an error (std::logic_error).
  void add_row(std::vector<std::string> cells);
  // A full-width line (e.g. "... 12 more") written as is after the rows added so far.
  void add_note(std::string text);
  size_t rows() const { return rows_.size(); }

  // Appends the header, a dashed rule under it, then the rows; every line is
  // prefixed by indent.
  void render(std::string& out, std::string_view indent = "") const;

 private:
  struct Row {
    std::vector<std::string> cells;
    bool note = false;
  };
  std::vector<Column> columns_;
  std::vector<Row> rows_;
};

// "label:  value" lines with the values aligned one column after the longest
// label. Labels and values are made printable; values are left-aligned.
void render_pairs(std::string& out, const std::vector<std::pair<std::string, std::string>>& pairs,
                  std::string_view indent = "");

}  // namespace heaplay
