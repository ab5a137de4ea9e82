#include "control/json_writer.h"

#include <charconv>
#include <cstdio>

namespace sluice {

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return 0;
  return n;
}

void JsonWriter::key(std::string_view k) {
  comma();
  string(k);
  out_ += ':';
  need_comma_ = false;
}

void JsonWriter::field(std::string_view k, uint64_t value) {
  key(k);
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out_.append(buf, end);
  need_comma_ = true;
}

void JsonWriter::field(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
  need_comma_ = true;
}

void JsonWriter::field_double(std::string_view k, double value, int decimals) {
  key(k);
  char buf[40];
  const int n = std::snprintf(buf, sizeof(buf), "%.*f", decimals, value);
  out_.append(buf, n > 0 ? static_cast<size_t>(n) : 0);
  need_comma_ = true;
}

void JsonWriter::field_null(std::string_view k) {
  key(k);
  out_ += "null";
  need_comma_ = true;
}

void JsonWriter::string(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out_ += '"';
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out_ += '\\';
      out_ += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out_ += "\\u00";
      out_ += kHex[c >> 4];
      out_ += kHex[c & 15];
    } else if (c < 0x80) {
      out_ += static_cast<char>(c);
    } else {
      // Pass a well-formed UTF-8 sequence through; replace anything else with U+FFFD.
      if (const size_t n = utf8_sequence_length(s, i); n != 0) {
        out_.append(s.data() + i, n);
        i += n;
        continue;
      }
      out_ += "\\ufffd";
    }
    ++i;
  }
  out_ += '"';
}

}  // namespace sluice
