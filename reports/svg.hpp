// svg.hpp: the small pieces the HTML report (render_html.hpp) draws with.
//
// Escaping for HTML and SVG text and attributes, axis ticks (bytes in
// B/KiB/MiB/GiB steps, counts in 1-2-5 steps) and number formatting that
// does not depend on the locale. Everything here is deterministic: the same
// inputs give the same text, byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heaplay::svg {

// s made printable (table.hpp's printable: control characters and invalid
// UTF-8 become \xNN) and then escaped for HTML text and quoted attribute
// values: & < > " ' become entities. Safe inside element text and "..." or
// '...' attributes, in HTML and in inline SVG.
std::string escape(std::string_view s);

// One tick of an axis: its value and its label.
struct Tick {
  double value = 0;
  std::string label;
};

// Ticks from 0 to at least max (the last tick >= max), about `target` of
// them, for a byte axis: the unit is the largest of B, KiB, MiB, GiB, TiB not
// above max, the step 1, 2 or 5 times a power of ten of that unit. Labels:
// "0", "512 B", "20 MiB", "1.5 GiB" (no trailing zeros). max <= 0: one tick
// at 0 and one at 1 KiB.
std::vector<Tick> byte_ticks(double max, int target = 5);

// The same for a plain count axis (events, events per second): steps of 1, 2
// or 5 times a power of ten; labels "0", "500", "20k", "1.5M", "2G".
std::vector<Tick> count_ticks(double max, int target = 5);

// A percent axis: ticks from min (<= 0) to max (>= 0) in 1-2-5 steps, labels "-5%", "0%", "25%".
std::vector<Tick> percent_ticks(double min, double max, int target = 5);

// Bytes for people: "0 B", "512 B", "1.50 KiB", "37.2 MiB" (three significant digits).
std::string human_bytes(double bytes);
// A count for people: "950", "12.3k", "4.56M" (three significant digits).
std::string human_count(double v);
// A coordinate: one decimal, no "-0.0".
std::string coord(double v);

}  // namespace heaplay::svg
