// text_parse.hpp: number and token scanning for line-oriented trace formats.
//
// No sscanf, no iostreams: traces run to billions of lines. Every number is
// checked for overflow; a caller learns what went wrong, not just that it did.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace heaplay {

enum class NumError { None, Empty, NotANumber, Overflow };

// Hexadecimal digits only (no prefix), as heaptrack and mtrace write them.
inline NumError parse_hex(std::string_view s, uint64_t& out) {
  if (s.empty()) return NumError::Empty;
  uint64_t v = 0;
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    unsigned d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (c | 0x20) - 'a' + 10;
    else return NumError::NotANumber;
    if (v >> 60) return NumError::Overflow;
    v = (v << 4) | d;
  }
  out = v;
  return NumError::None;
}

// Decimal, or hexadecimal with a 0x/0X prefix.
inline NumError parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return NumError::Empty;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return parse_hex(s.substr(2), out);
  uint64_t v = 0;
  for (char ch : s) {
    unsigned d = static_cast<unsigned char>(ch) - '0';
    if (d > 9) return NumError::NotANumber;
    if (__builtin_mul_overflow(v, 10u, &v) || __builtin_add_overflow(v, d, &v)) return NumError::Overflow;
  }
  out = v;
  return NumError::None;
}

// Hex digit values; 0xff for anything else.
inline constexpr std::array<uint8_t, 256> kHexValue = [] {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<uint8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<uint8_t>(c - 'A' + 10);
  return t;
}();

// excerpt(s): s as it may be quoted in a message: printable ASCII as is, any other byte
// as \xNN, and at most kQuoteBytes bytes of s (then "..."), so that a binary
// file cannot put control characters or megabytes into a terminal.
inline constexpr size_t kQuoteBytes = 40;
inline std::string excerpt(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < kQuoteBytes; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (s.size() > kQuoteBytes) out += "...";
  return out;
}
inline std::string excerpt(char c) { return excerpt(std::string_view(&c, 1)); }

inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Splits a line into blank-separated tokens, one at a time.
class Tokens {
 public:
  explicit Tokens(std::string_view line) : rest_(line) {}
  // The next token, or an empty view when none is left.
  std::string_view next() {
    size_t i = 0;
    while (i < rest_.size() && is_blank(rest_[i])) ++i;
    size_t j = i;
    while (j < rest_.size() && !is_blank(rest_[j])) ++j;
    std::string_view tok = rest_.substr(i, j - i);
    rest_ = rest_.substr(j);
    return tok;
  }
  // Everything not yet taken, without surrounding blanks.
  std::string_view rest() const {
    std::string_view r = rest_;
    while (!r.empty() && is_blank(r.front())) r.remove_prefix(1);
    while (!r.empty() && is_blank(r.back())) r.remove_suffix(1);
    return r;
  }
  bool done() const { return rest().empty(); }

 private:
  std::string_view rest_;
};

}  // namespace heaplay
