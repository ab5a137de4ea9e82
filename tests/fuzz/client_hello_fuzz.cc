// Fuzzes everything that reads a connection's first flight: the ClientHello parser (records,
// hello, extensions, JA4), the first-flight guess, the HTTP Host finder and the SNI peek that
// the worker's burst prefetch uses; and that the worker's JA4 cache changes no fingerprint.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "dataplane/core/first_flight.h"
#include "dataplane/core/ja4_cache.h"
#include "dataplane/core/sni_peek.h"
#include "dataplane/core/tls_client_hello.h"

namespace {

// As large as any first-flight cap we run with; static, as on the packet path.
uint8_t g_scratch[64 * 1024];
// A worker's JA4 cache, kept across inputs so that lists met before are served from it.
sluice::Ja4Cache g_ja4_cache;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::ByteSpan stream(data, size);
  sluice::ClientHelloInfo info;
  sluice::HelloStatus status = sluice::parse_client_hello(stream, g_scratch, info);

  // Invariants a caller relies on.
  check(info.sni_length <= sluice::kMaxSniLength);
  check(info.alpn_length <= sluice::kMaxAlpnBytes);
  check(info.version_count <= sluice::kMaxTlsVersions);
  check(std::strlen(info.ja4.data()) == 0 || std::strlen(info.ja4.data()) == sluice::kJa4Length);
  size_t alpn_bytes = 0;
  sluice::for_each_alpn(info, [&](std::string_view name) { alpn_bytes += 1 + name.size(); });
  check(alpn_bytes == info.alpn_length);

  // The JA4 cache is invisible: the same hello parsed through it gives the same fingerprint
  // (twice: once filling the entry, once served from it).
  for (int pass = 0; pass < 2; ++pass) {
    sluice::ClientHelloInfo cached;
    check(sluice::parse_client_hello(stream, g_scratch, cached, &g_ja4_cache) == status);
    check(std::strcmp(cached.ja4.data(), info.ja4.data()) == 0);
  }
  if (status == sluice::HelloStatus::kMalformed) {
    check(info.anomalies.has(sluice::Anomaly::kTlsMalformed));
  }
  for (size_t i = 0; i < info.sni_length; ++i) check(info.sni[i] > ' ' && info.sni[i] <= '~');

  // A stream cut short of a complete hello never parses as complete.
  if (status == sluice::HelloStatus::kComplete && size > 0) {
    sluice::ClientHelloInfo shorter;
    sluice::HelloStatus prefix =
        sluice::parse_client_hello(stream.first(size / 2), g_scratch, shorter);
    check(prefix != sluice::HelloStatus::kNotTls);
  }

  // The interceptor reads the records a hello may open with off the socket and lets OpenSSL
  // read the rest: that rest must be the same hello.
  if (status == sluice::HelloStatus::kComplete) {
    const size_t lead = sluice::leading_ignored_record_bytes(stream);
    check(lead <= size);
    sluice::ClientHelloInfo rest;
    check(sluice::parse_client_hello(stream.subspan(lead), g_scratch, rest) == status);
    check(rest.sni_view() == info.sni_view());
  }

  std::array<char, 8> buf;
  uint16_t version = size >= 2 ? static_cast<uint16_t>(data[0] << 8 | data[1]) : 0;
  check(!sluice::tls_version_name(version, buf).empty());

  // The peek reads only what it is given (the sanitizer build checks that).
  std::array<char, sluice::kMaxSniLength> peek_buf;
  const std::string_view peeked = sluice::peek_client_hello_sni(stream, peek_buf);
  check(peeked.size() <= sluice::kMaxSniLength);

  sluice::guess_first_flight(stream);
  char host[256];
  uint16_t host_length = 0;
  sluice::find_http_host(stream, host, host_length);
  check(host_length <= 255);
  return 0;
}
