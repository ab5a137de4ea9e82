// The two TLS faces of the interceptor. Upstream (toward the real server): TLS 1.2 or 1.3 only,
// ECDHE with AEAD suites only, OpenSSL security level 2, the chain checked against the system
// store plus configured extra CAs and the host name checked, ALPN http/1.1 only. Toward the
// client: the same protocol floor, our forged certificate, and ALPN http/1.1 chosen only when the
// client offers it (h2 is not offered on either side because it is not inspected).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "interceptor/openssl_handles.h"

namespace sluice::intercept {

absl::StatusOr<SslCtxPtr> make_upstream_context(const std::vector<std::string>& extra_ca_files);
absl::StatusOr<SslCtxPtr> make_client_context();

// Sets SNI (when `sni` is a name) and the name or address the server's certificate must carry.
bool prepare_upstream_ssl(SSL* ssl, const std::string& sni, const std::string& verify_name);

// Why the upstream handshake failed, in words an administrator can act on, e.g.
// "certificate: certificate has expired" or "TLS: unsupported protocol (server offers no
// TLS 1.2+)". Takes (and clears) the thread's OpenSSL error queue.
std::string describe_upstream_failure(SSL* ssl);

}  // namespace sluice::intercept
