// A minimal streaming JSON writer for audit records: appends to a caller-owned std::string that
// is reused between records, so a busy replay or export formats without per-field allocation.
// (nlohmann::json builds a tree per record; at hundreds of thousands of records per second
// that tree is most of the cost.) Strings are escaped per RFC 8259; invalid UTF-8 is replaced.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

// Length of the UTF-8 sequence of two to four bytes that starts at s[i] (a lead byte and its
// continuation bytes, all present), or 0 when s[i] does not start one. Writers that must emit
// UTF-8 pass such sequences through and replace anything else.
size_t utf8_sequence_length(std::string_view s, size_t i);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array(std::string_view key) { this->key(key); open('['); }
  void end_array() { close(']'); }

  void field(std::string_view key, std::string_view value) {
    this->key(key);
    string(value);
    need_comma_ = true;
  }
  void field(std::string_view key, const char* value) { field(key, std::string_view(value)); }
  void field(std::string_view key, uint64_t value);
  void field(std::string_view key, bool value);
  void field_double(std::string_view key, double value, int decimals);
  void field_null(std::string_view key);
  // An array element.
  void element(std::string_view value) { comma(); string(value); }
  // Members written earlier by another JsonWriter (a "key":value,... list without braces).
  void raw_members(std::string_view members) {
    if (members.empty()) return;
    comma();
    out_ += members;
  }

 private:
  void key(std::string_view k);
  void string(std::string_view s);
  void comma() {
    if (need_comma_) out_ += ',';
    need_comma_ = true;
  }
  void open(char c) {
    comma();
    out_ += c;
    need_comma_ = false;
  }
  void close(char c) {
    out_ += c;
    need_comma_ = true;
  }

  std::string& out_;
  bool need_comma_ = false;
};

}  // namespace sluice
