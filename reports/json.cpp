// json.cpp: see json.hpp.
#include "reports/json.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace heaplay {

namespace {

bool in(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

}  // namespace

// Well-formed sequences per the Unicode standard, table 3-7. The second byte's
// range depends on the lead (this is what rules out overlong forms, surrogates
// and code points past U+10FFFF); later bytes are plain continuations 80..BF.
Utf8Step utf8_step(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  if (c < 0x80) return {1, true};
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (in(c, 0xC2, 0xDF)) {
    need = 2;
  } else if (c == 0xE0) {
    need = 3, lo = 0xA0;
  } else if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF)) {
    need = 3;
  } else if (c == 0xED) {
    need = 3, hi = 0x9F;
  } else if (c == 0xF0) {
    need = 4, lo = 0x90;
  } else if (in(c, 0xF1, 0xF3)) {
    need = 4;
  } else if (c == 0xF4) {
    need = 4, hi = 0x8F;
  } else {
    return {1, false};  // 80..C1, F5..FF never start a sequence
  }
  size_t avail = s.size() - i;
  if (avail < 2 || !in(b(1), lo, hi)) return {1, false};
  for (size_t k = 2; k < need; ++k)
    if (k >= avail || !in(b(k), 0x80, 0xBF)) return {k, false};
  return {need, true};
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      Utf8Step st = utf8_step(s, i);
      if (st.valid) out.append(s.data() + i, st.length);
      else out += "\\ufffd";
      i += st.length;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void JsonWriter::newline_indent(size_t depth) {
  out_ += '\n';
  out_.append(2 * depth, ' ');
}

void JsonWriter::before_value() {
  if (stack_.empty()) {
    if (top_written_) throw std::logic_error("JsonWriter: more than one top-level value");
    top_written_ = true;
    return;
  }
  Level& l = stack_.back();
  if (l.object) {
    if (!l.key_pending) throw std::logic_error("JsonWriter: value in an object without a key");
    l.key_pending = false;  // key() already wrote the separator and indent
  } else {
    if (l.count++) out_ += ',';
    newline_indent(stack_.size());
  }
}

JsonWriter& JsonWriter::key(std::string_view k) {
  if (stack_.empty() || !stack_.back().object || stack_.back().key_pending)
    throw std::logic_error("JsonWriter: key outside an object or twice");
  Level& l = stack_.back();
  if (l.count++) out_ += ',';
  newline_indent(stack_.size());
  append_json_string(out_, k);
  out_ += ": ";
  l.key_pending = true;
  return *this;
}

JsonWriter& JsonWriter::begin_object() {
  before_value();
  out_ += '{';
  stack_.push_back(Level{true, false, 0});
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  before_value();
  out_ += '[';
  stack_.push_back(Level{false, false, 0});
  return *this;
}

JsonWriter& JsonWriter::close(bool object) {
  if (stack_.empty() || stack_.back().object != object || stack_.back().key_pending)
    throw std::logic_error("JsonWriter: unbalanced end");
  bool any = stack_.back().count != 0;
  stack_.pop_back();
  if (any) newline_indent(stack_.size());
  out_ += object ? '}' : ']';
  return *this;
}

JsonWriter& JsonWriter::end_object() { return close(true); }
JsonWriter& JsonWriter::end_array() { return close(false); }

JsonWriter& JsonWriter::string(std::string_view s) {
  before_value();
  append_json_string(out_, s);
  return *this;
}

JsonWriter& JsonWriter::uint(uint64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

JsonWriter& JsonWriter::integer(int64_t v) {
  before_value();
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

JsonWriter& JsonWriter::number(double v) {
  if (!std::isfinite(v)) return null();
  before_value();
  char buf[32];
  // Shortest round-trip form; std::to_chars ignores the locale.
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
  return *this;
}

JsonWriter& JsonWriter::boolean(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_ += "null";
  return *this;
}

void JsonWriter::finish() {
  if (!stack_.empty() || !top_written_) throw std::logic_error("JsonWriter: incomplete document");
  out_ += '\n';
}

}  // namespace heaplay
