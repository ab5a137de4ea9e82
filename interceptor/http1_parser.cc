#include "interceptor/http1_parser.h"

#include <cstring>

namespace sluice::intercept {
namespace {

constexpr size_t kMaxHeaders = 128;
constexpr size_t kMaxChunkLine = 1024;
constexpr uint64_t kMaxLength = 1ull << 62;

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// RFC 9110 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > kMaxLength) return false;
  out = v;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view Http1Head::header(std::string_view name, bool* found) const {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) {
      if (found != nullptr) *found = true;
      return v;
    }
  }
  if (found != nullptr) *found = false;
  return {};
}

Http1Parser::Event Http1Parser::fail(std::string reason) {
  failed_ = true;
  error_ = std::move(reason);
  return Event::kError;
}

bool Http1Parser::take_line(const char*& p, const char* end, size_t cap, bool& bad) {
  const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
  const size_t take = nl != nullptr ? static_cast<size_t>(static_cast<const char*>(nl) - p) + 1
                                    : static_cast<size_t>(end - p);
  if (buffer_.size() + take > cap) {
    bad = true;
    return false;
  }
  buffer_.append(p, take);
  p += take;
  if (nl == nullptr) return false;
  if (buffer_.size() < 2 || buffer_[buffer_.size() - 2] != '\r') {
    bad = true;
    return false;
  }
  buffer_.resize(buffer_.size() - 2);
  return true;
}

bool Http1Parser::parse_head(std::string_view text) {
  head_ = Http1Head{};
  size_t eol = text.find("\r\n");
  std::string_view start = text.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 2);
  for (char c : start) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      error_ = "control character in the start line";
      return false;
    }
  }
  const size_t sp1 = start.find(' ');
  if (sp1 == std::string_view::npos) {
    error_ = "start line has no space";
    return false;
  }
  if (role_ == Role::kRequest) {
    const size_t sp2 = start.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || start.find(' ', sp2 + 1) != std::string_view::npos) {
      error_ = "request line is not METHOD TARGET VERSION";
      return false;
    }
    head_.method = std::string(start.substr(0, sp1));
    head_.target = std::string(start.substr(sp1 + 1, sp2 - sp1 - 1));
    head_.version = std::string(start.substr(sp2 + 1));
    if (!is_token(head_.method)) {
      error_ = "method is not a token";
      return false;
    }
    if (head_.target.empty()) {
      error_ = "empty request target";
      return false;
    }
  } else {
    head_.version = std::string(start.substr(0, sp1));
    std::string_view after = start.substr(sp1 + 1);
    const size_t sp2 = after.find(' ');
    std::string_view code = after.substr(0, sp2);
    if (code.size() != 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' ||
        code[2] < '0' || code[2] > '9') {
      error_ = "status code is not three digits 100-599";
      return false;
    }
    head_.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (sp2 != std::string_view::npos) head_.reason = std::string(after.substr(sp2 + 1));
  }
  if (head_.version != "HTTP/1.1" && head_.version != "HTTP/1.0") {
    error_ = "version is not HTTP/1.1 or HTTP/1.0";
    return false;
  }
  while (!rest.empty()) {
    eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 2);
    if (line.empty()) continue;  // only the final CRLF pair can produce this
    if (line.front() == ' ' || line.front() == '\t') {
      error_ = "obsolete header line folding";
      return false;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      error_ = "header line is not NAME: VALUE";
      return false;
    }
    std::string_view value = trim(line.substr(colon + 1));
    for (char c : value) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
        error_ = "control character in a header value";
        return false;
      }
    }
    if (head_.headers.size() == kMaxHeaders) {
      error_ = "more than 128 header lines";
      return false;
    }
    head_.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return true;
}

bool Http1Parser::choose_body_mode() {
  bool has_te = false;
  std::string_view te;
  uint64_t length = 0;
  bool has_length = false;
  for (const auto& [name, value] : head_.headers) {
    if (iequals(name, "transfer-encoding")) {
      if (has_te) {
        error_ = "more than one Transfer-Encoding header";
        return false;
      }
      has_te = true;
      te = value;
    } else if (iequals(name, "content-length")) {
      uint64_t v = 0;
      if (!parse_decimal(value, v)) {
        error_ = "Content-Length is not a decimal number";
        return false;
      }
      if (has_length && v != length) {
        error_ = "two different Content-Length values";
        return false;
      }
      has_length = true;
      length = v;
    }
  }
  if (has_te && has_length) {
    error_ = "both Transfer-Encoding and Content-Length";
    return false;
  }
  if (role_ == Role::kResponse &&
      ((head_.status >= 100 && head_.status < 200) || head_.status == 204 || head_.status == 304)) {
    body_mode_ = BodyMode::kNone;
    return true;
  }
  if (has_te) {
    if (iequals(te, "chunked")) {
      body_mode_ = BodyMode::kChunked;
      return true;
    }
    if (role_ == Role::kRequest) {
      error_ = "request Transfer-Encoding other than chunked";
      return false;
    }
    // A response whose final coding is not chunked runs until the server closes.
    const size_t comma = te.rfind(',');
    std::string_view last = trim(comma == std::string_view::npos ? te : te.substr(comma + 1));
    body_mode_ = iequals(last, "chunked") ? BodyMode::kChunked : BodyMode::kUntilClose;
    return true;
  }
  if (has_length) {
    body_mode_ = length == 0 ? BodyMode::kNone : BodyMode::kLength;
    remaining_ = length;
    return true;
  }
  body_mode_ = role_ == Role::kRequest ? BodyMode::kNone : BodyMode::kUntilClose;
  return true;
}

Http1Parser::Event Http1Parser::finish_head() {
  std::string_view text(buffer_);
  text.remove_suffix(4);  // the empty line
  if (!parse_head(text) || !choose_body_mode()) return fail(error_);
  buffer_.clear();
  body_bytes_ = 0;
  state_ = State::kBody;
  return Event::kHead;
}

size_t Http1Parser::feed(const char* data, size_t size, Event& event) {
  event = Event::kNone;
  if (failed_) {
    event = Event::kError;
    return 0;
  }
  if (opaque_) return size;
  const char* p = data;
  const char* end = data + size;
  for (;;) {
    switch (state_) {
      case State::kHead: {
        if (p == end) return size;
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        const size_t take = nl != nullptr
                                ? static_cast<size_t>(static_cast<const char*>(nl) - p) + 1
                                : static_cast<size_t>(end - p);
        if (buffer_.size() + take > max_head_bytes_) {
          head_too_large_ = true;
          event = fail("message head larger than " + std::to_string(max_head_bytes_) + " bytes");
          return static_cast<size_t>(p - data);
        }
        buffer_.append(p, take);
        p += take;
        if (nl == nullptr) break;
        const size_t n = buffer_.size();
        if (n < 2 || buffer_[n - 2] != '\r') {
          event = fail("a line ends with a bare LF");
          return static_cast<size_t>(p - data);
        }
        if (n == 2) {  // an empty line before the start line is ignored (RFC 9112 2.2)
          buffer_.clear();
          break;
        }
        if (n >= 4 && buffer_.compare(n - 4, 4, "\r\n\r\n") == 0) {
          event = finish_head();
          return static_cast<size_t>(p - data);
        }
        break;
      }
      case State::kBody:
        switch (body_mode_) {
          case BodyMode::kNone:
            state_ = State::kHead;
            event = Event::kMessageComplete;
            return static_cast<size_t>(p - data);
          case BodyMode::kLength: {
            const uint64_t take = std::min<uint64_t>(remaining_, static_cast<uint64_t>(end - p));
            p += take;
            remaining_ -= take;
            body_bytes_ += take;
            if (remaining_ == 0) {
              state_ = State::kHead;
              event = Event::kMessageComplete;
              return static_cast<size_t>(p - data);
            }
            return size;
          }
          case BodyMode::kChunked:
            state_ = State::kChunkSize;
            break;
          case BodyMode::kUntilClose:
            body_bytes_ += static_cast<uint64_t>(end - p);
            return size;
        }
        break;
      case State::kChunkSize: {
        if (p == end) return size;
        bool bad = false;
        const char* before = p;
        const bool line = take_line(p, end, kMaxChunkLine, bad);
        body_bytes_ += static_cast<uint64_t>(p - before);
        if (bad) {
          event = fail("chunk size line is malformed or too long");
          return static_cast<size_t>(p - data);
        }
        if (!line) return size;
        std::string_view text(buffer_);
        const size_t semi = text.find(';');
        std::string_view digits = text.substr(0, semi);
        if (digits.empty() || digits.size() > 15) {
          event = fail("chunk size is not 1-15 hex digits");
          return static_cast<size_t>(p - data);
        }
        uint64_t v = 0;
        for (char c : digits) {
          const int h = hex_value(c);
          if (h < 0) {
            event = fail("chunk size is not hexadecimal");
            return static_cast<size_t>(p - data);
          }
          v = v * 16 + static_cast<uint64_t>(h);
        }
        buffer_.clear();
        remaining_ = v;
        state_ = v == 0 ? State::kTrailer : State::kChunkData;
        break;
      }
      case State::kChunkData: {
        if (p == end) return size;
        const uint64_t take = std::min<uint64_t>(remaining_, static_cast<uint64_t>(end - p));
        p += take;
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd:
      case State::kTrailer: {
        if (p == end) return size;
        bool bad = false;
        const char* before = p;
        const bool line = take_line(p, end, state_ == State::kTrailer ? max_head_bytes_ : 2, bad);
        body_bytes_ += static_cast<uint64_t>(p - before);
        if (bad) {
          event = fail(state_ == State::kTrailer ? "trailer is malformed or too long"
                                                 : "chunk data is not followed by CRLF");
          return static_cast<size_t>(p - data);
        }
        if (!line) return size;
        const bool empty = buffer_.empty();
        buffer_.clear();
        if (state_ == State::kChunkDataEnd) {
          if (!empty) {
            event = fail("chunk data is not followed by CRLF");
            return static_cast<size_t>(p - data);
          }
          state_ = State::kChunkSize;
        } else if (empty) {
          state_ = State::kHead;
          event = Event::kMessageComplete;
          return static_cast<size_t>(p - data);
        }
        break;
      }
    }
  }
}

bool Http1Parser::finish() const {
  if (failed_) return false;
  if (state_ == State::kHead) return buffer_.empty();
  return state_ == State::kBody && body_mode_ == BodyMode::kUntilClose;
}

}  // namespace sluice::intercept
