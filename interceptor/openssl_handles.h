// unique_ptr owners for the OpenSSL objects the interceptor keeps, and the queue's error text.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace sluice::intercept {

struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct PkeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct SslCtxFree { void operator()(SSL_CTX* c) const { SSL_CTX_free(c); } };
struct SslFree { void operator()(SSL* s) const { SSL_free(s); } };

using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

// A shared, immutable certificate (the forged-certificate cache hands these to many connections).
using SharedX509 = std::shared_ptr<X509>;
inline SharedX509 share(X509Ptr x) { return SharedX509(x.release(), X509Free{}); }

// The OpenSSL error queue as one line ("a; b"), emptied; `fallback` when it is empty.
std::string take_openssl_errors(const std::string& fallback = "unknown OpenSSL error");

}  // namespace sluice::intercept
