#include "dataplane/core/first_flight.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/dataplane/core/client_hello_builder.h"

namespace sluice {
namespace {

ByteSpan span(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

FlightGuess guess(std::string_view s) { return guess_first_flight(span(s)); }

TEST(FirstFlightTest, Names) {
  EXPECT_EQ(first_flight_name(FirstFlightKind::kNone), "none");
  EXPECT_EQ(first_flight_name(FirstFlightKind::kIncomplete), "incomplete");
  EXPECT_EQ(first_flight_name(FirstFlightKind::kTls), "tls");
  EXPECT_EQ(first_flight_name(FirstFlightKind::kQuic), "quic");
  EXPECT_EQ(first_flight_name(FirstFlightKind::kHttp), "http");
  EXPECT_EQ(first_flight_name(FirstFlightKind::kNonTls), "non_tls");
  EXPECT_EQ(first_flight_name(FirstFlightKind::kServerFirst), "server_first");
}

TEST(FirstFlightTest, TlsRecords) {
  for (char minor = 0; minor <= 4; ++minor) {
    EXPECT_EQ(guess(std::string("\x16\x03", 2) + minor), FlightGuess::kTls);
  }
  // Servers accept any 3.x record version on the first record, so it is TLS to us too.
  EXPECT_EQ(guess("\x16\x03\x05"), FlightGuess::kTls);
  EXPECT_EQ(guess("\x16\x03\xff"), FlightGuess::kTls);
  // Go's servers accept any version below 0x1000 (tls_client_hello.cc).
  EXPECT_EQ(guess("\x16\x02\x01"), FlightGuess::kTls);
  EXPECT_EQ(guess("\x16\x10\x01"), FlightGuess::kNonTls);
  // A warning alert may come first (Go's servers skip it).
  EXPECT_EQ(guess("\x15\x03\x01"), FlightGuess::kTls);
  EXPECT_EQ(guess("\x17\x03\x03"), FlightGuess::kNonTls);
  EXPECT_EQ(guess("\x16"), FlightGuess::kNeedMore);
  EXPECT_EQ(guess("\x16\x03"), FlightGuess::kNeedMore);
  HelloSpec spec;
  EXPECT_EQ(guess_first_flight(build_client_hello_records(spec)), FlightGuess::kTls);
}

TEST(FirstFlightTest, Sslv2Hello) {
  Bytes hello = build_sslv2_client_hello(Sslv2HelloSpec{});
  EXPECT_EQ(guess_first_flight(hello), FlightGuess::kTls);
  for (size_t n = 1; n < 5; ++n) {
    EXPECT_EQ(guess_first_flight(ByteSpan(hello).first(n)), FlightGuess::kNeedMore) << n;
  }
  hello[2] = 0x02;
  EXPECT_EQ(guess_first_flight(hello), FlightGuess::kNonTls);
}

TEST(FirstFlightTest, HttpMethods) {
  for (std::string method : {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH",
                             "TRACE", "PRI"}) {
    EXPECT_EQ(guess(method + " / HTTP/1.1\r\n"), FlightGuess::kHttp) << method;
    EXPECT_EQ(guess(method + " "), FlightGuess::kHttp) << method;
    for (size_t n = 1; n <= method.size(); ++n) {
      EXPECT_EQ(guess(method.substr(0, n)), FlightGuess::kNeedMore) << method << n;
    }
  }
  EXPECT_EQ(guess("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), FlightGuess::kHttp);
  EXPECT_EQ(guess("get / HTTP/1.1\r\n"), FlightGuess::kNonTls);  // methods are capitals
  EXPECT_EQ(guess("GE/"), FlightGuess::kNonTls);
}

// Servers skip empty lines before a request line (RFC 9112 2.2), so a request behind them is
// HTTP, its Host read; a TLS record never starts so and is not looked for behind them.
TEST(FirstFlightTest, EmptyLinesBeforeARequestLineAreSkipped) {
  EXPECT_EQ(guess("\r\nGET / HTTP/1.1\r\n"), FlightGuess::kHttp);
  EXPECT_EQ(guess("\r\n\n\r\nPROPFIND /x HTTP/1.1\r\n"), FlightGuess::kHttp);
  EXPECT_EQ(guess("\r\n"), FlightGuess::kNeedMore);
  EXPECT_EQ(guess("\r\nGE"), FlightGuess::kNeedMore);
  EXPECT_EQ(guess("\r\n\x16\x03\x01\x02\x00"), FlightGuess::kNonTls);
  EXPECT_EQ(guess("\r\nSSH-2.0-x"), FlightGuess::kNonTls);
  char buf[256];
  uint16_t n = 0;
  ASSERT_EQ(find_http_host(span("\r\n\r\nGET / HTTP/1.1\r\nHost: games.example\r\n\r\n"), buf, n),
            HttpHostStatus::kFound);
  EXPECT_EQ(std::string(buf, n), "games.example");
  EXPECT_EQ(leading_empty_line_bytes(span("\r\n\nX")), 3u);
}

// WebDAV and other methods are HTTP to a server: its Host must be read.
TEST(FirstFlightTest, OtherMethodsByTheirRequestLine) {
  for (std::string method : {"PROPFIND", "MKCOL", "M-SEARCH", "GETX", "VERSION-CONTROL"}) {
    const std::string line = method + " /x HTTP/1.1\r\n";
    EXPECT_EQ(guess(line), FlightGuess::kHttp) << method;
    EXPECT_EQ(guess(method + " /x HTTP/1.0\n"), FlightGuess::kHttp) << method;
    for (size_t n = 1; n < line.size() - 1; ++n)
      EXPECT_EQ(guess(line.substr(0, n)), FlightGuess::kNeedMore) << method << " " << n;
  }
  EXPECT_EQ(guess("PROPFIND /x SIP/2.0\r\n"), FlightGuess::kNonTls);
  EXPECT_EQ(guess("PING\r\n"), FlightGuess::kNonTls);
  EXPECT_EQ(guess(std::string(33, 'A')), FlightGuess::kNonTls);
  EXPECT_EQ(guess("PROPFIND " + std::string(9000, 'x')), FlightGuess::kNonTls);
}

TEST(FirstFlightTest, OtherProtocols) {
  EXPECT_EQ(guess("SSH-2.0-OpenSSH_9.2p1\r\n"), FlightGuess::kNonTls);
  EXPECT_EQ(guess(std::string("\x00\x00\x00\x10", 4)), FlightGuess::kNonTls);
  EXPECT_EQ(guess("hello"), FlightGuess::kNonTls);
  EXPECT_EQ(guess(""), FlightGuess::kNeedMore);
  EXPECT_EQ(guess("P"), FlightGuess::kNeedMore);  // POST, PUT, PATCH, PRI
  EXPECT_EQ(guess("Px"), FlightGuess::kNonTls);
}

struct Host {
  HttpHostStatus status;
  std::string host;
};

Host host_of(std::string_view request) {
  char buf[256];
  uint16_t n = 0;
  Host h;
  h.status = find_http_host(span(request), buf, n);
  h.host.assign(buf, n);
  return h;
}

TEST(HttpHostTest, FindsHost) {
  auto h = host_of("GET / HTTP/1.1\r\nHost: www.bbc.co.uk\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(h.status, HttpHostStatus::kFound);
  EXPECT_EQ(h.host, "www.bbc.co.uk");
}

TEST(HttpHostTest, NormalisesTheName) {
  struct Case {
    std::string header;
    std::string host;
  };
  for (const auto& c : std::vector<Case>{
           {"hOsT: Example.COM", "example.com"},
           {"Host:example.com", "example.com"},
           {"Host: \t example.com \t ", "example.com"},
           {"Host: example.com:8080", "example.com"},
           {"Host: example.com.", "example.com"},
           {"Host: example.com.:443", "example.com"},
           {"Host: [::1]:8080", "::1"},
           {"Host: [2001:DB8::1]", "2001:db8::1"},
           {"Host: 192.0.2.1:80", "192.0.2.1"},
       }) {
    auto h = host_of("GET / HTTP/1.1\r\n" + c.header + "\r\n\r\n");
    EXPECT_EQ(h.status, HttpHostStatus::kFound) << c.header;
    EXPECT_EQ(h.host, c.host) << c.header;
  }
}

TEST(HttpHostTest, NeedsTheWholeHead) {
  std::string request = "GET / HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  for (size_t n = 0; n < request.size(); ++n) {
    EXPECT_EQ(host_of(request.substr(0, n)).status, HttpHostStatus::kNeedMore) << n;
  }
  EXPECT_EQ(host_of(request).status, HttpHostStatus::kFound);
}

TEST(HttpHostTest, BareLineFeedsAreAccepted) {
  auto h = host_of("GET / HTTP/1.1\nHost: example.com\n\n");
  EXPECT_EQ(h.status, HttpHostStatus::kFound);
  EXPECT_EQ(h.host, "example.com");
}

TEST(HttpHostTest, Absent) {
  EXPECT_EQ(host_of("GET / HTTP/1.0\r\n\r\n").status, HttpHostStatus::kAbsent);
  EXPECT_EQ(host_of("GET / HTTP/1.0\r\nX-Host: a.com\r\n\r\n").status, HttpHostStatus::kAbsent);
  EXPECT_EQ(host_of("GET / HTTP/1.0\r\nHostname: a.com\r\n\r\n").status, HttpHostStatus::kAbsent);
  EXPECT_EQ(host_of("GET / HTTP/1.0\r\nHost :a.com\r\n\r\n").status, HttpHostStatus::kAbsent);
  EXPECT_EQ(host_of("GET / HTTP/1.0\r\nHost:\r\n\r\n").status, HttpHostStatus::kAbsent);
  EXPECT_EQ(host_of("GET /Host: HTTP/1.0\r\n\r\n").status, HttpHostStatus::kAbsent);
  // After the head it is body, not a header.
  EXPECT_EQ(host_of("POST / HTTP/1.1\r\n\r\nHost: a.com\r\n\r\n").status, HttpHostStatus::kAbsent);
}

// A server takes the authority of an absolute-form target and ignores Host (RFC 9112 3.2.2).
TEST(HttpHostTest, AnAbsoluteFormTargetNamesTheServer) {
  for (const char* request :
       {"GET http://blocked.example/ HTTP/1.1\r\nHost: allowed.example\r\n\r\n",
        "GET HTTP://user:pw@Blocked.Example:8080/a?b HTTP/1.1\r\nHost: allowed.example\r\n\r\n",
        "PROPFIND https://blocked.example HTTP/1.1\r\n\r\n"}) {
    auto h = host_of(request);
    EXPECT_EQ(h.status, HttpHostStatus::kFound) << request;
    EXPECT_EQ(h.host, "blocked.example") << request;
  }
  EXPECT_EQ(host_of("GET /http://blocked.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n").host, "a.example");
  EXPECT_EQ(host_of("GET ftp://blocked.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n").host, "a.example");
}

TEST(HttpHostTest, FirstHostWins) {
  auto h = host_of("GET / HTTP/1.1\r\nHost: one.example\r\nHost: two.example\r\n\r\n");
  EXPECT_EQ(h.status, HttpHostStatus::kFound);
  EXPECT_EQ(h.host, "one.example");
}

TEST(HttpHostTest, LongNamesAreCut) {
  auto h = host_of("GET / HTTP/1.1\r\nHost: " + std::string(400, 'A') + "\r\n\r\n");
  EXPECT_EQ(h.status, HttpHostStatus::kFound);
  EXPECT_EQ(h.host, std::string(255, 'a'));
}

TEST(HttpHostTest, RealRequest) {
  // The request of nontls-http-on-443.pcap in the real-clients corpus.
  auto h = host_of("GET / HTTP/1.1\r\nHost: www.bbc.co.uk\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(guess("GET / HTTP/1.1\r\nHost: www.bbc.co.uk\r\n"), FlightGuess::kHttp);
  EXPECT_EQ(h.host, "www.bbc.co.uk");
}

}  // namespace
}  // namespace sluice
