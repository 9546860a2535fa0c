// json.hpp: a small streaming JSON writer (RFC 8259) for heaplay's reports.
//
// Appends pretty-printed JSON to a std::string: 2-space indent, one member or
// element per line, "key": value with one space, empty containers as {} and [],
// and no trailing newline until finish(). Output depends only on the calls
// made (no locale, no clock), so golden tests can pin it byte for byte.
//
// Strings: '"' and '\' are escaped, as are all control characters (U+0000 to
// U+001F, as \b \f \n \r \t or \u00XX) and DEL (\u007f, invisible on a
// terminal). Valid UTF-8 passes through unchanged. Bytes that are not valid
// UTF-8 (overlong forms, surrogates, > U+10FFFF, stray continuation bytes,
// truncated sequences) are replaced by the escape \ufffd (U+FFFD), one per
// maximal ill-formed subpart, which is what Unicode recommends and what
// Python's bytes.decode("utf-8", "replace") does. Trace strings are bytes,
// not text, so this can lose information; JSON cannot carry raw bytes.
//
// Numbers: unsigned and signed 64-bit integers are printed exactly (readers
// that parse into doubles lose precision past 2^53; that is theirs to handle).
// Doubles use the shortest text that reads back to the same value; NaN and
// infinities, which JSON cannot express, become null.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace heaplay {

// One step over UTF-8 text: at byte i of s, either a well-formed sequence
// (valid, length 1..4) or the maximal ill-formed subpart to replace (!valid,
// length >= 1). Shared with the table renderer, which measures display width.
struct Utf8Step {
  size_t length;
  bool valid;
};
Utf8Step utf8_step(std::string_view s, size_t i);

// Appends s as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  // The next value's member name; only inside an object, once per value.
  JsonWriter& key(std::string_view k);

  JsonWriter& string(std::string_view s);
  JsonWriter& uint(uint64_t v);
  JsonWriter& integer(int64_t v);
  JsonWriter& number(double v);
  JsonWriter& boolean(bool b);
  JsonWriter& null();

  // Shorthands for key(k).value(v).
  JsonWriter& field(std::string_view k, std::string_view v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, const char* v) { return key(k).string(v); }
  JsonWriter& field(std::string_view k, uint64_t v) { return key(k).uint(v); }
  JsonWriter& field(std::string_view k, bool v) { return key(k).boolean(v); }

  // Ends the document with a newline. Throws std::logic_error unless exactly
  // one complete value was written. Misuse elsewhere (a value without a key in
  // an object, a key in an array, unbalanced ends) throws std::logic_error too:
  // these are programming errors, never input errors.
  void finish();

 private:
  struct Level {
    bool object;
    bool key_pending;  // object: key() written, its value not yet
    uint64_t count;    // members or elements so far
  };
  void before_value();
  void newline_indent(size_t depth);
  JsonWriter& close(bool object);

  std::string& out_;
  std::vector<Level> stack_;
  bool top_written_ = false;
};

}  // namespace heaplay
