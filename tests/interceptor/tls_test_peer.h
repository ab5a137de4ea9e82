// Test helpers for the interceptor's upstream side against a real OpenSSL server: certificates
// under a private root, and a client SSL handshaken with a server SSL through an in-memory BIO
// pair (every byte real TLS).
#pragma once

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <utility>

#include "interceptor/openssl_handles.h"
#include "interceptor/x509_extension.h"

namespace sluice::intercept::test {

// A certificate for `cn` (with `san` when given), signed by `issuer` (self-signed when null).
inline X509Ptr make_cert(const char* cn, const char* san, EVP_PKEY* key, X509* issuer,
                         EVP_PKEY* issuer_key, long serial, long days = 30) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x.get(), X509_get_subject_name(issuer != nullptr ? issuer : x.get()));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -86400);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), days * 86400);
  X509_set_pubkey(x.get(), key);
  if (san != nullptr) {
    EXPECT_TRUE(add_x509_extension(x.get(), issuer, NID_subject_alt_name, san));
  } else {
    EXPECT_TRUE(add_x509_extension(x.get(), x.get(), NID_basic_constraints, "critical,CA:TRUE"));
    EXPECT_TRUE(add_x509_extension(x.get(), x.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  }
  X509_sign(x.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

// Handshakes `client` (prepared by the caller) with a new server SSL of `server_ctx`, then reads
// one byte from the server so that the tickets a TLS 1.3 server sends after its handshake are
// taken in. False when either side failed.
inline bool handshake_with(SSL* client, SSL_CTX* server_ctx) {
  SslPtr server(SSL_new(server_ctx));
  BIO* cb = nullptr;
  BIO* sb = nullptr;
  BIO_new_bio_pair(&cb, 0, &sb, 0);
  SSL_set_bio(client, cb, cb);
  SSL_set_bio(server.get(), sb, sb);
  SSL_set_connect_state(client);
  SSL_set_accept_state(server.get());
  bool client_done = false, server_done = false;
  for (int i = 0; i < 50 && !(client_done && server_done); ++i) {
    for (auto [ssl, done] : {std::pair{client, &client_done}, std::pair{server.get(), &server_done}}) {
      if (*done) continue;
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        *done = true;
      } else if (const int e = SSL_get_error(ssl, r); e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return false;
      }
    }
  }
  if (!client_done || !server_done) return false;
  char byte = 'x';
  size_t n = 0;
  EXPECT_EQ(SSL_write_ex(server.get(), &byte, 1, &n), 1);
  EXPECT_EQ(SSL_read_ex(client, &byte, 1, &n), 1);
  return true;
}

}  // namespace sluice::intercept::test
