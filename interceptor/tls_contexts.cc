#include "interceptor/tls_contexts.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice::intercept {
namespace {

constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

bool apply_floor(SSL_CTX* ctx) {
  SSL_CTX_set_security_level(ctx, 2);
  return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
         SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1 &&
         SSL_CTX_set_ciphersuites(ctx, kTls13Suites) == 1 &&
         (SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                       SSL_OP_CIPHER_SERVER_PREFERENCE),
          true) &&
         (SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS),
          true);
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  unsigned int i = 0;
  while (i < inlen) {
    const unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == 8 && std::memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = 8;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  // Only h2 (or something else) offered: no ALPN, so the client falls back to HTTP/1.1.
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

absl::StatusOr<SslCtxPtr> make_upstream_context(const std::vector<std::string>& extra_ca_files) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || !apply_floor(ctx.get())) return absl::InternalError(take_openssl_errors());
  if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return absl::InternalError(take_openssl_errors("cannot load the system CA store"));
  }
  for (const std::string& file : extra_ca_files) {
    if (SSL_CTX_load_verify_locations(ctx.get(), file.c_str(), nullptr) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("upstream.extra_ca_files: cannot load ", file,
                                                     ": ", take_openssl_errors()));
    }
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpnHttp11, sizeof kAlpnHttp11) != 0) {
    return absl::InternalError(take_openssl_errors());
  }
  // No resumption until UpstreamSessions::enable, which keys sessions by the name verified;
  // OpenSSL's own client cache is never used.
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  return ctx;
}

absl::StatusOr<SslCtxPtr> make_client_context() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || !apply_floor(ctx.get())) return absl::InternalError(take_openssl_errors());
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  return ctx;
}

bool prepare_upstream_ssl(SSL* ssl, const std::string& sni, const std::string& verify_name) {
  unsigned char buf[16];
  const bool ip = inet_pton(AF_INET, verify_name.c_str(), buf) == 1 ||
                  inet_pton(AF_INET6, verify_name.c_str(), buf) == 1;
  if (!sni.empty() && SSL_set_tlsext_host_name(ssl, sni.c_str()) != 1) return false;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(param, verify_name.c_str()) == 1;
  return SSL_set1_host(ssl, verify_name.c_str()) == 1;
}

std::string describe_upstream_failure(SSL* ssl) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return absl::StrCat("certificate: ", X509_verify_cert_error_string(verify));
  }
  unsigned long last = 0;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) last = e;
  if (last == 0) return "TLS: the server closed the connection during the handshake";
  const char* reason = ERR_reason_error_string(last);
  std::string text = reason != nullptr ? reason : "handshake failed";
  switch (ERR_GET_REASON(last)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      text += " (the server offers no TLS 1.2 or 1.3)";
      break;
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_WRONG_CIPHER_RETURNED:
      text += " (no modern AEAD cipher suite in common)";
      break;
    default:
      break;
  }
  return absl::StrCat("TLS: ", text);
}

}  // namespace sluice::intercept
