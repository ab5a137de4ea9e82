// Fuzzes the HTTP/1.1 parser that reads the decrypted bytes of bumped flows
// (interceptor/http1_parser.h). Byte 0 picks the role and a chunk size; the rest is the stream.
// Besides not crashing, the parser must find the same boundaries however the stream is split
// into reads: a parser whose answer depends on segment boundaries is a smuggling hole. (Only the
// offset of a refusal may differ: the connection is closed there either way.) A response head
// must also survive the plain proxy's rewriting unchanged in meaning.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "interceptor/http1_forwarding.h"
#include "interceptor/http1_parser.h"

namespace {

using sluice::intercept::Http1Parser;

void check(bool ok) {
  if (!ok) std::abort();
}

// The head a plain proxy forwards (interceptor/http1_forwarding.h) must read back as the same
// response with the same framing: the client then finds the body where the proxy did.
void check_forwarded(const sluice::intercept::Http1Head& head, bool until_close) {
  for (const bool closing : {false, true}) {
    const std::string forwarded = sluice::intercept::forwarded_response_head(head, closing);
    Http1Parser again(Http1Parser::Role::kResponse, 1 << 20);
    Http1Parser::Event ev;
    const size_t n = again.feed(forwarded.data(), forwarded.size(), ev);
    // The added `Connection: close` can be one line over the parser's own cap, which clients
    // do not share.
    if (ev == Http1Parser::Event::kError && again.error() == "more than 128 header lines") continue;
    check(n == forwarded.size() && ev == Http1Parser::Event::kHead);
    check(again.head().status == head.status && again.head().version == "HTTP/1.1");
    check(again.body_until_close() == until_close);
    check(sluice::intercept::has_connection_option(again.head(), "close") == closing);
  }
}

std::vector<std::pair<int, size_t>> events(Http1Parser::Role role, const char* data, size_t size,
                                           size_t chunk) {
  Http1Parser parser(role, 4096);
  std::vector<std::pair<int, size_t>> out;
  size_t pos = 0;
  while (pos < size || pos == 0) {
    const size_t end = std::min(size, pos + chunk);
    size_t at = pos;
    for (;;) {
      Http1Parser::Event ev;
      const size_t n = parser.feed(data + at, end - at, ev);
      check(n <= end - at);
      at += n;
      if (ev == Http1Parser::Event::kNone) {
        check(at == end);
        break;
      }
      // Where a refused stream is refused may depend on the split (the connection is closed
      // either way); every boundary before it may not.
      out.emplace_back(static_cast<int>(ev), ev == Http1Parser::Event::kError ? 0 : at);
      if (ev == Http1Parser::Event::kError) {
        check(!parser.error().empty());
        Http1Parser::Event again;
        check(parser.feed(data, size, again) == 0 && again == Http1Parser::Event::kError);
        return out;
      }
      if (ev == Http1Parser::Event::kHead) {
        const auto& head = parser.head();
        check(head.version == "HTTP/1.1" || head.version == "HTTP/1.0");
        if (role == Http1Parser::Role::kResponse) check(head.status >= 100 && head.status <= 599);
        if (role == Http1Parser::Role::kRequest) check(!head.method.empty() && !head.target.empty());
        if (role == Http1Parser::Role::kResponse) check_forwarded(head, parser.body_until_close());
      }
    }
    if (size == 0) break;
    pos = end;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto role = (data[0] & 1) != 0 ? Http1Parser::Role::kResponse : Http1Parser::Role::kRequest;
  const size_t chunk = 1 + (data[0] >> 1);
  const char* stream = reinterpret_cast<const char*>(data + 1);
  const size_t n = size - 1;
  const auto whole = events(role, stream, n, n == 0 ? 1 : n);
  const auto split = events(role, stream, n, chunk);
  check(whole == split);
  return 0;
}
