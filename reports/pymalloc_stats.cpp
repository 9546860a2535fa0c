// pymalloc_stats.cpp: CPython's _PyObject_DebugMallocStats text, from the model.
//
// The formats below are CPython's printf formats spelled for fmt: the class
// rows are "%5u %6u %11zu %15zu %13zu", the arena line "%zu arenas * %d
// bytes/arena", the pools line "%u unused pools * %d bytes".
#include "reports/pymalloc_stats.hpp"

#include <fmt/format.h>

namespace heaplay {

std::string pymalloc_stats_line(std::string_view msg, uint64_t value) {
  constexpr int kMsgColumns = 35;    // msg is padded to this width (never cut)
  constexpr int kValueColumns = 21;  // printone's buffer: 21 characters, then "\n"
  std::string line(msg);
  if (line.size() < kMsgColumns) line.append(kMsgColumns - line.size(), ' ');
  line += '=';
  // Digits from the right, a comma before every third one while digits remain
  // and room is left; the loop stops when the buffer is full.
  char buf[kValueColumns];
  int i = kValueColumns - 1, k = 3;
  do {
    buf[i--] = static_cast<char>('0' + value % 10);
    value /= 10;
    if (--k == 0 && value && i >= 0) {
      k = 3;
      buf[i--] = ',';
    }
  } while (value && i >= 0);
  while (i >= 0) buf[i--] = ' ';
  line.append(buf, kValueColumns);
  line += '\n';
  return line;
}

std::string render_pymalloc_stats(const PymallocStats& s) {
  std::string out = fmt::format("Small block threshold = {}, in {} size classes.\n", s.small_threshold,
                                s.size_classes);
  out +=
      "\n"
      "class   size   num pools   blocks in use  avail blocks\n"
      "-----   ----   ---------   -------------  ------------\n";
  for (const auto& c : s.classes)
    out += fmt::format("{:5} {:6} {:11} {:15} {:13}\n", c.index, c.size, c.pools, c.blocks_in_use,
                       c.available_blocks);
  out += '\n';
  out += pymalloc_stats_line("# arenas allocated total", s.arenas_allocated_total);
  out += pymalloc_stats_line("# arenas reclaimed", s.arenas_reclaimed);
  out += pymalloc_stats_line("# arenas highwater mark", s.arenas_highwater);
  out += pymalloc_stats_line("# arenas allocated current", s.arenas_current);
  out += pymalloc_stats_line(fmt::format("{} arenas * {} bytes/arena", s.arenas_current, s.arena_size),
                             s.arena_bytes());
  out += '\n';
  out += pymalloc_stats_line("# bytes in allocated blocks", s.allocated_bytes);
  out += pymalloc_stats_line("# bytes in available blocks", s.available_bytes);
  out += pymalloc_stats_line(fmt::format("{} unused pools * {} bytes", s.unused_pools, s.pool_size),
                             s.unused_pool_bytes());
  out += pymalloc_stats_line("# bytes lost to pool headers", s.pool_header_bytes);
  out += pymalloc_stats_line("# bytes lost to quantization", s.quantization_bytes);
  out += pymalloc_stats_line("# bytes lost to arena alignment", s.arena_alignment_bytes);
  out += pymalloc_stats_line("Total", s.total_bytes());
  return out;
}

}  // namespace heaplay
