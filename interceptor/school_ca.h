// The school's interception CA: `sluice-intercept ca init` makes it, `run` loads it. An ECDSA
// P-256 key (fast to sign with, accepted by every client a school runs) and a self-signed CA
// certificate limited to signing server certificates (pathlen 0).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "interceptor/openssl_handles.h"

namespace sluice::intercept {

inline constexpr char kCaCertFile[] = "ca.crt";
inline constexpr char kCaKeyFile[] = "ca.key";

struct SchoolCa {
  X509Ptr cert;
  PkeyPtr key;
};

struct CaInitResult {
  std::string cert_path;
  std::string key_path;
  std::string sha256_fingerprint;  // "AB:CD:..." as browsers show it
};

// Creates DIR (0755) if missing and writes ca.crt (0644) and ca.key (0600, created with O_EXCL
// so an existing key is never overwritten). Valid for `days` days from now.
absl::StatusOr<CaInitResult> init_school_ca(const std::string& dir, const std::string& name,
                                            int days = 3650);

// Loads DIR/ca.crt and DIR/ca.key; refuses a key readable by group or others, a key that does
// not match the certificate, and a certificate that is not a CA.
absl::StatusOr<SchoolCa> load_school_ca(const std::string& dir);

// What an administrator does with the certificate, for `ca init` to print.
std::string deployment_instructions(const CaInitResult& result);

// "AB:CD:..." SHA-256 of the DER certificate.
std::string sha256_fingerprint(X509* cert);

}  // namespace sluice::intercept
