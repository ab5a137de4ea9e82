#include "interceptor/http1_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::intercept {
namespace {

using Event = Http1Parser::Event;

struct Seen {
  std::vector<Event> events;
  std::vector<std::string> targets;
  std::string error;
};

Seen parse(Http1Parser::Role role, const std::string& text, size_t chunk = 0) {
  Http1Parser p(role, 1024);
  Seen seen;
  size_t pos = 0;
  const size_t step = chunk == 0 ? text.size() : chunk;
  while (pos < text.size()) {
    const size_t end = std::min(text.size(), pos + step);
    size_t at = pos;
    for (;;) {
      Event ev;
      at += p.feed(text.data() + at, end - at, ev);
      if (ev == Event::kNone) break;
      seen.events.push_back(ev);
      if (ev == Event::kHead) seen.targets.push_back(role == Http1Parser::Role::kRequest ? p.head().target : std::to_string(p.head().status));
      if (ev == Event::kError) {
        seen.error = p.error();
        return seen;
      }
    }
    pos = end;
  }
  return seen;
}

TEST(Http1ParserTest, PipelinedRequestsWithBodiesAreSplitAtTheirBoundariesHoweverTheBytesArrive) {
  const std::string text =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
      "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
  for (size_t chunk : {0u, 1u, 2u, 7u, 64u}) {
    const Seen s = parse(Http1Parser::Role::kRequest, text, chunk);
    EXPECT_EQ(s.targets, (std::vector<std::string>{"/a", "/b", "/c"})) << chunk;
    EXPECT_EQ(s.events.size(), 6u) << chunk;
    EXPECT_TRUE(s.error.empty()) << s.error;
  }
}

TEST(Http1ParserTest, ResponsesWithoutBodiesAndInterimResponses) {
  const Seen s = parse(Http1Parser::Role::kResponse,
                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(s.targets, (std::vector<std::string>{"100", "204", "200"}));
  EXPECT_EQ(s.events.size(), 6u);
}

TEST(Http1ParserTest, ResponseToHeadHasNoBodyWhenTheCallerSaysSo) {
  Http1Parser p(Http1Parser::Role::kResponse, 1024);
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  Event ev;
  size_t at = p.feed(text.data(), text.size(), ev);
  ASSERT_EQ(ev, Event::kHead);
  p.set_no_body();
  at += p.feed(text.data() + at, text.size() - at, ev);
  EXPECT_EQ(ev, Event::kMessageComplete);
  at += p.feed(text.data() + at, text.size() - at, ev);
  EXPECT_EQ(ev, Event::kHead);
  EXPECT_EQ(at, text.size());
}

TEST(Http1ParserTest, BodyUntilCloseEndsCleanlyOnlyWhenTheResponseHasNoLength) {
  Http1Parser p(Http1Parser::Role::kResponse, 1024);
  const std::string text = "HTTP/1.0 200 OK\r\n\r\nall of it";
  Event ev;
  size_t at = p.feed(text.data(), text.size(), ev);
  ASSERT_EQ(ev, Event::kHead);
  at += p.feed(text.data() + at, text.size() - at, ev);
  EXPECT_EQ(ev, Event::kNone);
  EXPECT_EQ(at, text.size());
  EXPECT_TRUE(p.finish());
  EXPECT_EQ(p.body_bytes(), 9u);

  Http1Parser q(Http1Parser::Role::kResponse, 1024);
  const std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  q.feed(cut.data(), cut.size(), ev);
  q.feed(cut.data() + 38, cut.size() - 38, ev);
  EXPECT_FALSE(q.finish());
}

TEST(Http1ParserTest, AmbiguousFramingIsRefusedWithAReason) {
  struct Case {
    const char* text;
    const char* reason;
  } cases[] = {
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "both Transfer-Encoding and Content-Length"},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "two different Content-Length values"},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "request Transfer-Encoding other than chunked"},
      {"GET / HTTP/1.1\nHost: x\n\n", "bare LF"},
      {"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "obsolete header line folding"},
      {"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n", "NAME: VALUE"},
      {"GET / HTTP/2.0\r\n\r\n", "version"},
      {"GET  / HTTP/1.1\r\n\r\n", "request line"},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "not a decimal"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hexadecimal"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "not followed by CRLF"},
  };
  for (const Case& c : cases) {
    const Seen s = parse(Http1Parser::Role::kRequest, c.text);
    ASSERT_FALSE(s.events.empty()) << c.text;
    EXPECT_EQ(s.events.back(), Event::kError) << c.text;
    EXPECT_NE(s.error.find(c.reason), std::string::npos) << c.text << " -> " << s.error;
  }
}

TEST(Http1ParserTest, HeadOverTheCapIsRefused) {
  Http1Parser p(Http1Parser::Role::kRequest, 64);
  const std::string text = "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n\r\n";
  Event ev;
  p.feed(text.data(), text.size(), ev);
  EXPECT_EQ(ev, Event::kError);
  EXPECT_NE(p.error().find("larger than 64"), std::string::npos);
}

TEST(Http1ParserTest, OpaqueAfterUpgradeConsumesEverything) {
  Http1Parser p(Http1Parser::Role::kResponse, 1024);
  const std::string text = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
  Event ev;
  const size_t at = p.feed(text.data(), text.size(), ev);
  ASSERT_EQ(ev, Event::kHead);
  p.set_opaque();
  EXPECT_EQ(p.feed(text.data() + at, text.size() - at, ev), text.size() - at);
  EXPECT_EQ(ev, Event::kNone);
}

TEST(Http1ParserTest, HeaderLookupIsCaseInsensitive) {
  Http1Parser p(Http1Parser::Role::kRequest, 1024);
  const std::string text = "GET / HTTP/1.1\r\nhOsT:  example.org \r\n\r\n";
  Event ev;
  p.feed(text.data(), text.size(), ev);
  ASSERT_EQ(ev, Event::kHead);
  EXPECT_EQ(p.head().header("Host"), "example.org");
  bool found = true;
  EXPECT_EQ(p.head().header("cookie", &found), "");
  EXPECT_FALSE(found);
}

}  // namespace
}  // namespace sluice::intercept
