// One way to add an X.509v3 extension written as OpenSSL's config text ("critical,CA:FALSE",
// "DNS:a.example,IP:10.0.0.1", "keyid:always"): the school CA, forged certificates and the
// tests' own certificates all make theirs with it.
#pragma once

#include <openssl/x509.h>

#include <string>

namespace sluice::intercept {

// `issuer` supplies the authority key identifier (the certificate itself when self-signed).
// False when OpenSSL refuses the text or the extension.
bool add_x509_extension(X509* cert, X509* issuer, int nid, const std::string& value);

}  // namespace sluice::intercept
