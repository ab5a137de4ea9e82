// Certificate mimicry: a certificate for the client that says what the real server's says
// (subject, subject alternative names, validity), with a new serial and our own key, signed by
// the school CA. Forged certificates are cached in a bounded LRU keyed by (SHA-256 of the
// upstream certificate, SNI), shared by all loop threads behind one mutex (a hit costs a hash
// lookup; a miss an ECDSA signature).
//
// One leaf key is made at start and used for every forged certificate: what protects a session
// is its ephemeral key exchange, and the key never leaves the process.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "interceptor/intercept_stats.h"
#include "interceptor/openssl_handles.h"
#include "interceptor/school_ca.h"

namespace sluice::intercept {

class CertForger {
 public:
  static absl::StatusOr<std::unique_ptr<CertForger>> create(SchoolCa ca, size_t cache_entries,
                                                            InterceptStats& stats);

  // The school-CA-signed mimic of `upstream` for a client that asked for `sni` (may be empty).
  absl::StatusOr<SharedX509> forge(X509* upstream, std::string_view sni);

  // A certificate for `name` that no client trusts (self-signed by a throw-away key made at
  // start), used to show the upstream-failure page: an upstream failure never becomes a trusted
  // forged certificate.
  absl::StatusOr<SharedX509> untrusted(std::string_view name);

  EVP_PKEY* leaf_key() const { return leaf_key_.get(); }
  EVP_PKEY* untrusted_key() const { return untrusted_key_.get(); }
  X509* ca_cert() const { return ca_.cert.get(); }
  size_t cached() const;

 private:
  CertForger(SchoolCa ca, PkeyPtr leaf_key, PkeyPtr untrusted_key, size_t cache_entries,
             InterceptStats& stats)
      : ca_(std::move(ca)),
        leaf_key_(std::move(leaf_key)),
        untrusted_key_(std::move(untrusted_key)),
        capacity_(cache_entries),
        stats_(stats) {}
  absl::StatusOr<SharedX509> make(X509* upstream, std::string_view sni);
  SharedX509 lookup(const std::string& key);
  void insert(const std::string& key, SharedX509 cert);

  SchoolCa ca_;
  PkeyPtr leaf_key_;
  PkeyPtr untrusted_key_;
  size_t capacity_;
  InterceptStats& stats_;

  struct Entry {
    std::string key;
    SharedX509 cert;
  };
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace sluice::intercept
