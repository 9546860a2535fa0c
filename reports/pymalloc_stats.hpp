// pymalloc_stats.hpp: the pooled layer's statistics as CPython prints them.
//
// render_pymalloc_stats() writes the pymalloc section of CPython's
// _PyObject_DebugMallocStats (sys._debugmallocstats()) character for
// character, from "Small block threshold = ..." through the first "Total"
// line: the size-class table, arena counts, and where the arena bytes go.
// The same text lets a heaplay model be diffed against a real interpreter's
// output (`heaplay replay --pymalloc-stats`, tests/pooled_oracle_test.cpp).
// The format has been the same from 3.8 to 3.13 on 64-bit builds; the radix
// tree's "arena map counts" that 3.10+ print after it are not part of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/pooled_stats.hpp"

namespace heaplay {

std::string render_pymalloc_stats(const PymallocStats& stats);

// One line of CPython's printone(): msg padded with spaces to 35 columns,
// '=', then value with thousands commas right-aligned in 21 columns (a value
// needing more keeps only its last 21 characters, as CPython's buffer does).
std::string pymalloc_stats_line(std::string_view msg, uint64_t value);

}  // namespace heaplay
