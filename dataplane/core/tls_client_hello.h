// The TLS ClientHello, read from the reassembled first flight of a TCP connection (or, without
// records, from a QUIC Initial CRYPTO stream): TLS records
// are unwrapped (one handshake message may span several records), then the hello's fields are
// extracted. Pure functions over byte spans: no allocation, fuzzed in
// tests/fuzz/client_hello_fuzz.cc.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/bytes.h"

namespace sluice {

inline constexpr size_t kMaxSniLength = 255;
inline constexpr size_t kMaxAlpnBytes = 128;   // wire-format ALPN list kept, truncated beyond
inline constexpr size_t kMaxTlsVersions = 8;
inline constexpr size_t kJa4Length = 36;       // e.g. t13d1516h2_8daaf6152771_e5627efa2ab1

class Ja4Cache;

struct ClientHelloInfo {
  uint16_t sni_length = 0;
  bool sni_valid = true;  // false: present but not a valid host name (anomaly sni_invalid too)

  // ALPN protocol names in wire format (1-byte length, name, ...), in the client's order.
  std::array<uint8_t, kMaxAlpnBytes> alpn{};
  uint16_t alpn_length = 0;

  // Offered versions, highest first as offered: the supported_versions extension without GREASE
  // if present, else the legacy_version of the hello. 0x0303 = TLS 1.2, 0x0304 = TLS 1.3.
  std::array<uint16_t, kMaxTlsVersions> versions{};
  uint8_t version_count = 0;
  uint16_t legacy_version = 0;  // from the hello body
  uint16_t record_version = 0;  // from the first record header

  bool ech = false;          // encrypted_client_hello (0xfe0d) extension present
  bool sslv2 = false;        // SSLv2-compatible hello (no extensions, so no SNI)
  std::array<char, kJa4Length + 1> ja4{};  // NUL-terminated JA4 ("" if not computed)

  AnomalySet anomalies;

  // Server name: lower-cased, trailing dot removed. Empty when absent. Last, so that an event
  // carrying this hello is copied only as far as the name goes (AuditEvent::wire_size).
  std::array<char, kMaxSniLength + 1> sni{};

  std::string_view sni_view() const { return {sni.data(), sni_length}; }
  std::string_view ja4_view() const { return {ja4.data()}; }
};

enum class HelloStatus : uint8_t {
  kComplete,   // whole hello parsed (anomalies may still be set)
  kNeedMore,   // looks like TLS so far; more bytes of the first flight are needed
  kNotTls,     // the bytes are not a TLS handshake (plain HTTP, SSH, junk, ...)
  kMalformed,  // TLS framing, but the hello is broken; `info.anomalies` says how
};

// Parses `stream`: the client's first-flight bytes from the start of the connection, in order.
// `scratch` holds the handshake message while it is unwrapped from records; it must be at least
// as large as the first-flight byte cap. Called again with a longer stream on kNeedMore.
// `ja4_cache` (a worker's own) saves recomputing JA4 digests of lists seen before.
HelloStatus parse_client_hello(ByteSpan stream, MutableByteSpan scratch, ClientHelloInfo& info,
                               Ja4Cache* ja4_cache = nullptr);

// Bytes of the records that parse_client_hello() skips at the start of `stream` (warning alerts,
// ChangeCipherSpec; 0 when it starts otherwise). A proxy that hands the socket to OpenSSL, which
// refuses them, reads these off first.
size_t leading_ignored_record_bytes(ByteSpan stream);

// The same for QUIC (RFC 9001 4): `crypto_stream` is the client's Initial CRYPTO stream from
// offset 0, contiguous, which carries the handshake message without TLS records. The JA4
// fingerprint gets protocol 'q'. kNotTls is never returned: a stream that does not start with a
// ClientHello is kMalformed.
HelloStatus parse_quic_client_hello(ByteSpan crypto_stream, ClientHelloInfo& info,
                                    Ja4Cache* ja4_cache = nullptr);

// Iterates ALPN names of an info's wire-format list.
template <typename Fn>
void for_each_alpn(const ClientHelloInfo& info, Fn&& fn) {
  size_t i = 0;
  while (i < info.alpn_length) {
    size_t n = info.alpn[i];
    if (i + 1 + n > info.alpn_length) break;
    fn(std::string_view(reinterpret_cast<const char*>(info.alpn.data() + i + 1), n));
    i += 1 + n;
  }
}

// "TLSv1.3", "TLSv1.2", ..., "SSLv3", "SSLv2", or "0x7f1c" for anything else.
std::string_view tls_version_name(uint16_t version, std::array<char, 8>& buf);

}  // namespace sluice
