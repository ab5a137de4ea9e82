#include "interceptor/http1_forwarding.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::intercept {
namespace {

Http1Head head_of(std::string text, Http1Parser::Role role) {
  Http1Parser parser(role, 64 * 1024);
  Http1Parser::Event ev;
  parser.feed(text.data(), text.size(), ev);
  EXPECT_EQ(ev, Http1Parser::Event::kHead) << parser.error();
  return parser.head();
}

Http1Head response(std::string text) { return head_of(std::move(text), Http1Parser::Role::kResponse); }
Http1Head request(std::string text) { return head_of(std::move(text), Http1Parser::Role::kRequest); }

TEST(Http1Forwarding, ConnectionOptionsAreCommaSeparatedCaseInsensitiveAcrossHeaders) {
  const Http1Head h = request(
      "GET http://a/ HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nProxy-Connection:  CLOSE \r\n\r\n");
  EXPECT_TRUE(has_connection_option(h, "close"));
  EXPECT_TRUE(has_connection_option(h, "upgrade"));
  EXPECT_TRUE(has_connection_option(h, "Keep-Alive"));
  EXPECT_FALSE(has_connection_option(h, "keep"));
  EXPECT_FALSE(has_connection_option(request("GET http://a/ HTTP/1.1\r\nX-Close: close\r\n\r\n"), "close"));
}

TEST(Http1Forwarding, HopByHopHeadersAndTheOnesConnectionNamesAreDropped) {
  const Http1Head h = request(
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nConnection: close, X-Trace\r\nKeep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\nX-Trace: 1\r\n"
      "Content-Length: 3\r\nAccept: */*\r\n\r\n");
  std::string out;
  append_end_to_end_headers(h, out);
  EXPECT_EQ(out, "Host: a\r\nContent-Length: 3\r\nAccept: */*\r\n");
}

TEST(Http1Forwarding, FramingAndHostSurviveBeingNamedInConnection) {
  // A server that framed the body differently from us would read part of it as a request.
  const Http1Head h = request(
      "POST http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host, Transfer-Encoding\r\n"
      "Transfer-Encoding: chunked\r\n\r\n");
  std::string out;
  append_end_to_end_headers(h, out);
  EXPECT_EQ(out, "Host: a\r\nTransfer-Encoding: chunked\r\n");
}

TEST(Http1Forwarding, HostCanBeLeftToTheProxy) {
  const Http1Head h = request("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\nAccept: */*\r\n\r\n");
  std::string out;
  append_end_to_end_headers(h, out, /*drop_host=*/true);
  EXPECT_EQ(out, "Accept: */*\r\n");
}

TEST(Http1Forwarding, ResponseHeadStatesOurVersionAndWhetherTheConnectionEnds) {
  const Http1Head h = response(
      "HTTP/1.0 404 Not Found\r\nServer: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(forwarded_response_head(h, false),
            "HTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(forwarded_response_head(h, true),
            "HTTP/1.1 404 Not Found\r\nServer: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  // An empty reason phrase keeps its separating space (RFC 9112 4).
  EXPECT_EQ(forwarded_response_head(response("HTTP/1.1 204 \r\n\r\n"), false), "HTTP/1.1 204 \r\n\r\n");
}

TEST(Http1Forwarding, BodyUntilCloseIsKnownAtTheHead) {
  Http1Parser until_close(Http1Parser::Role::kResponse, 1024);
  Http1Parser::Event ev;
  std::string text = "HTTP/1.1 200 OK\r\n\r\n";
  until_close.feed(text.data(), text.size(), ev);
  ASSERT_EQ(ev, Http1Parser::Event::kHead);
  EXPECT_TRUE(until_close.body_until_close());
  Http1Parser framed(Http1Parser::Role::kResponse, 1024);
  text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  framed.feed(text.data(), text.size(), ev);
  ASSERT_EQ(ev, Http1Parser::Event::kHead);
  EXPECT_FALSE(framed.body_until_close());
}

}  // namespace
}  // namespace sluice::intercept
