// An incremental HTTP/1.1 message parser for the bytes a bumped flow carries, in either
// direction. The proxy forwards the bytes unchanged; this parser only finds where each message's
// head and body end, so every request can be audited and checked against URL rules before it is
// forwarded. The bytes are untrusted (fuzzed in tests/fuzz/http1_fuzz.cc), and a proxy that reads
// message boundaries differently from the server is a request-smuggling hole, so anything
// ambiguous is refused rather than guessed: bare LF line ends, obsolete line folding, both
// Content-Length and Transfer-Encoding, differing Content-Lengths, a Transfer-Encoding other than
// a final `chunked`, heads over the size cap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::intercept {

struct Http1Head {
  // Requests: method, target, version. Responses: version, status, reason.
  std::string method;
  std::string target;
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed

  // The first header with this name (case-insensitive), or "" (and `found` false).
  std::string_view header(std::string_view name, bool* found = nullptr) const;
};

class Http1Parser {
 public:
  enum class Role : uint8_t { kRequest, kResponse };
  enum class Event : uint8_t {
    kNone,             // all given bytes consumed, no boundary reached
    kHead,             // a message head ended; head() is valid until the next feed()
    kMessageComplete,  // the message (head and body) ended
    kError,            // the bytes are not acceptable HTTP/1.1; error() says why
  };

  Http1Parser(Role role, size_t max_head_bytes) : role_(role), max_head_bytes_(max_head_bytes) {}

  // Consumes bytes up to and including the next event, and returns how many. Call again with the
  // rest. After kError every call returns 0 and kError.
  size_t feed(const char* data, size_t size, Event& event);

  // The peer closed its side. Returns true when that ends the current message cleanly (a
  // response body delimited by the close, or no message in progress).
  bool finish() const;

  // Between kHead and the next feed(): this response has no body whatever its headers say (the
  // answer to HEAD, 1xx, 204, 304 are detected by the parser itself).
  void set_no_body() { body_mode_ = BodyMode::kNone; }
  // From now on the stream is not HTTP (101 Switching Protocols, a CONNECT tunnel): every byte is
  // consumed with no events.
  void set_opaque() { opaque_ = true; }
  // Between kHead and the next feed(): this message's body ends only when the peer closes (a
  // response with neither Content-Length nor chunked), so its connection cannot carry another.
  bool body_until_close() const { return body_mode_ == BodyMode::kUntilClose; }

  const Http1Head& head() const { return head_; }
  const std::string& error() const { return error_; }
  // The error was a head over max_head_bytes (limits.max_head_bytes: counted apart).
  bool head_too_large() const { return head_too_large_; }
  bool in_message() const { return state_ != State::kHead || !buffer_.empty(); }
  bool opaque() const { return opaque_; }
  // Part of a head has been read but not its end (bytes that must not be forwarded yet).
  bool mid_head() const { return state_ == State::kHead && !buffer_.empty(); }
  // Body bytes of the current (or just completed) message.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class State : uint8_t { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailer };
  enum class BodyMode : uint8_t { kNone, kLength, kChunked, kUntilClose };

  Event fail(std::string reason);
  bool parse_head(std::string_view text);
  bool choose_body_mode();
  Event finish_head();
  // Reads one CRLF-terminated line into buffer_; true when it is complete (buffer_ holds it
  // without the CRLF).
  bool take_line(const char*& p, const char* end, size_t cap, bool& bad);

  Role role_;
  size_t max_head_bytes_;
  State state_ = State::kHead;
  BodyMode body_mode_ = BodyMode::kNone;
  bool opaque_ = false;
  bool failed_ = false;
  bool head_too_large_ = false;
  std::string buffer_;  // the head (or a chunk line) read so far
  Http1Head head_;
  uint64_t remaining_ = 0;  // of a Content-Length body or the current chunk
  uint64_t body_bytes_ = 0;
  std::string error_;
};

}  // namespace sluice::intercept
