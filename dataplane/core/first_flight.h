// What kind of first flight a connection carries, and the plain-HTTP Host header.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/core/bytes.h"

namespace sluice {

enum class FirstFlightKind : uint8_t {
  kNone,         // the connection carried no application bytes at all
  kIncomplete,   // client sent bytes but they stopped (or hit a cap) before they could be judged
  kTls,
  kQuic,
  kHttp,         // plain HTTP request
  kNonTls,       // other bytes from the client
  kServerFirst,  // the server sent application bytes before the client did
};
std::string_view first_flight_name(FirstFlightKind kind);

// Kinds judged from a TLS ClientHello: over TCP, or in QUIC Initial packets.
inline bool carries_client_hello(FirstFlightKind kind) {
  return kind == FirstFlightKind::kTls || kind == FirstFlightKind::kQuic;
}

enum class FlightGuess : uint8_t {
  kTls,       // starts like a TLS handshake record or an SSLv2 hello
  kHttp,      // starts with an HTTP method and a space
  kNonTls,    // neither
  kNeedMore,  // too few bytes to tell
};

// An absolute-form request target ("http://user@host:port/path?q"; http or https, the scheme
// in any case): its authority, userinfo removed and port kept, and the rest from the path on
// (empty when there is none). False for any other form. The authority, not Host, names the
// server (RFC 9112 3.2.2).
bool split_absolute_form(std::string_view target, std::string_view& authority, std::string_view& rest);

// Ports whose protocol is TLS from the first byte (IANA: https, smtps, nntps, ldaps, dns over
// TLS, ftps, telnets, imaps, ircs, pop3s, and the common alternative https port). Plain HTTP on
// one is judged as non_tls: that, not "a web request", is what policy for the port must see.
bool is_tls_port(uint16_t port);

// Guesses from the first bytes the client sent. Empty lines before an HTTP request line are
// skipped, as servers skip them.
FlightGuess guess_first_flight(ByteSpan stream);

// How many CR and LF bytes `stream` starts with (the empty lines a server skips before a
// request line).
size_t leading_empty_line_bytes(ByteSpan stream);

enum class HttpHostStatus : uint8_t { kFound, kAbsent, kNeedMore };

// Finds the Host header in a plain HTTP request head, after any empty lines that precede its
// request line (case-insensitive name, whitespace trimmed,
// port removed, lower-cased into `host`, trailing dot removed). kNeedMore until the end of the
// head (CRLF CRLF) has been seen. `host` must have room for 255 chars; longer names are cut.
HttpHostStatus find_http_host(ByteSpan stream, char* host, uint16_t& host_length);

}  // namespace sluice
