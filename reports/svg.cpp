// svg.cpp: escaping, ticks and number text for the HTML report.
#include "reports/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "reports/table.hpp"

namespace heaplay::svg {

std::string escape(std::string_view s) {
  std::string p = printable(s);
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// v with `decimals` decimals, trailing zeros (and a trailing point) removed.
std::string trimmed(double v, int decimals) {
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// The smallest of 1, 2, 5, 10 times a power of ten that is >= raw (raw > 0).
double nice_step(double raw) {
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw * (1 - 1e-9)) return m * mag;
  return 10 * mag;
}

// Ticks k * step for k from lo to hi, labelled by label(value).
template <class Label>
std::vector<Tick> ticks_between(long lo, long hi, double step, Label label) {
  std::vector<Tick> t;
  for (long k = lo; k <= hi; ++k) {
    double v = static_cast<double>(k) * step;
    t.push_back({v, label(v)});
  }
  return t;
}

// A count with its k/M/G suffix and up to `decimals` decimals.
std::string count_label(double v, int decimals) {
  double a = std::fabs(v);
  if (a >= 1e9) return trimmed(v / 1e9, decimals) + "G";
  if (a >= 1e6) return trimmed(v / 1e6, decimals) + "M";
  if (a >= 1e3) return trimmed(v / 1e3, decimals) + "k";
  return trimmed(v, decimals);
}

constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};

}  // namespace

std::vector<Tick> byte_ticks(double max, int target) {
  if (!(max > 0)) return {{0, "0"}, {1024, "1 KiB"}};
  int u = 0;
  double unit = 1;
  while (u < 4 && max >= unit * 1024) {
    unit *= 1024;
    ++u;
  }
  double step = nice_step(max / unit / std::max(target, 1));
  long hi = static_cast<long>(std::ceil(max / unit / step - 1e-9));
  std::vector<Tick> t = ticks_between(0, std::max(hi, 1L), step, [&](double v) {
    return v == 0 ? std::string("0") : trimmed(v, 3) + " " + kUnits[u];
  });
  for (Tick& x : t) x.value *= unit;
  return t;
}

std::vector<Tick> count_ticks(double max, int target) {
  if (!(max > 0)) return {{0, "0"}, {1, "1"}};
  double step = nice_step(max / std::max(target, 1));
  if (step < 1) step = 1;
  long hi = static_cast<long>(std::ceil(max / step - 1e-9));
  return ticks_between(0, std::max(hi, 1L), step, [](double v) { return count_label(v, 3); });
}

std::vector<Tick> percent_ticks(double min, double max, int target) {
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  if (!(max - min > 0)) max = 1;
  double step = nice_step((max - min) / std::max(target, 1));
  long lo = static_cast<long>(std::floor(min / step + 1e-9));
  long hi = static_cast<long>(std::ceil(max / step - 1e-9));
  return ticks_between(lo, std::max(hi, lo + 1), step, [](double v) { return trimmed(v, 3) + "%"; });
}

std::string human_bytes(double bytes) {
  int u = 0;
  double v = bytes;
  while (u < 4 && std::fabs(v) >= 1024) {
    v /= 1024;
    ++u;
  }
  if (u == 0) return fmt::format("{:.0f} B", v);
  int decimals = std::fabs(v) >= 100 ? 0 : std::fabs(v) >= 10 ? 1 : 2;
  return fmt::format("{:.{}f} {}", v, decimals, kUnits[u]);
}

std::string human_count(double v) {
  double a = std::fabs(v);
  if (a < 1000) return fmt::format("{:.0f}", v);
  double scaled = a >= 1e9 ? a / 1e9 : a >= 1e6 ? a / 1e6 : a / 1e3;
  int decimals = scaled >= 100 ? 0 : scaled >= 10 ? 1 : 2;
  return fmt::format("{}{:.{}f}{}", v < 0 ? "-" : "", scaled, decimals, a >= 1e9 ? "G" : a >= 1e6 ? "M" : "k");
}

std::string coord(double v) {
  std::string s = fmt::format("{:.1f}", v);
  return s == "-0.0" ? "0.0" : s;
}

}  // namespace heaplay::svg
