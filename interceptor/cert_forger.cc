#include "interceptor/cert_forger.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "interceptor/x509_extension.h"
#include "dataplane/policy/absl_text.h"

namespace sluice::intercept {
namespace {

void random_serial(X509* cert) {
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  serial[0] |= 0x01;  // and never zero
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
}

bool is_ip_literal(std::string_view name) {
  unsigned char buf[16];
  const std::string s(name);
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string san_for(std::string_view name) {
  return absl::StrCat(is_ip_literal(name) ? "IP:" : "DNS:", av(name));
}

}  // namespace

absl::StatusOr<std::unique_ptr<CertForger>> CertForger::create(SchoolCa ca, size_t cache_entries,
                                                               InterceptStats& stats) {
  PkeyPtr leaf(EVP_EC_gen("P-256"));
  PkeyPtr untrusted(EVP_EC_gen("P-256"));
  if (!leaf || !untrusted) return absl::InternalError(take_openssl_errors("cannot make a key"));
  return std::unique_ptr<CertForger>(new CertForger(std::move(ca), std::move(leaf),
                                                    std::move(untrusted),
                                                    cache_entries == 0 ? 1 : cache_entries, stats));
}

SharedX509 CertForger::lookup(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->cert;
}

void CertForger::insert(const std::string& key, SharedX509 cert) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (index_.count(key) != 0) return;  // another thread made it meanwhile
  lru_.push_front(Entry{key, std::move(cert)});
  index_[key] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
    bump(stats_.forged_cache_evictions);
  }
}

size_t CertForger::cached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lru_.size();
}

absl::StatusOr<SharedX509> CertForger::forge(X509* upstream, std::string_view sni) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(upstream, EVP_sha256(), md, &n) != 1) {
    return absl::InternalError(take_openssl_errors("cannot hash the server certificate"));
  }
  std::string key(reinterpret_cast<const char*>(md), n);
  key += '\0';
  key.append(sni.data(), sni.size());
  if (SharedX509 hit = lookup(key)) {
    bump(stats_.forged_cache_hits);
    return hit;
  }
  bump(stats_.forged_cache_misses);
  absl::StatusOr<SharedX509> made = make(upstream, sni);
  if (made.ok()) insert(key, *made);
  return made;
}

absl::StatusOr<SharedX509> CertForger::make(X509* upstream, std::string_view sni) {
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError(take_openssl_errors());
  X509_set_version(cert.get(), 2);
  random_serial(cert.get());
  X509_NAME* subject = X509_get_subject_name(upstream);
  if (subject != nullptr && X509_NAME_entry_count(subject) > 0) {
    X509_set_subject_name(cert.get(), subject);
  } else {
    const std::string cn = sni.empty() ? std::string("unnamed server") : std::string(sni);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  }
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_.cert.get()));
  X509_set1_notBefore(cert.get(), X509_get0_notBefore(upstream));
  X509_set1_notAfter(cert.get(), X509_get0_notAfter(upstream));
  X509_set_pubkey(cert.get(), leaf_key_.get());

  const int san_at = X509_get_ext_by_NID(upstream, NID_subject_alt_name, -1);
  bool have_san = false;
  if (san_at >= 0) {
    have_san = X509_add_ext(cert.get(), X509_get_ext(upstream, san_at), -1) == 1;
  }
  if (!have_san && !sni.empty()) {
    have_san = add_x509_extension(cert.get(), ca_.cert.get(), NID_subject_alt_name, san_for(sni));
  }
  if (!add_x509_extension(cert.get(), ca_.cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_x509_extension(cert.get(), ca_.cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_x509_extension(cert.get(), ca_.cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_x509_extension(cert.get(), ca_.cert.get(), NID_subject_key_identifier, "hash") ||
      !add_x509_extension(cert.get(), ca_.cert.get(), NID_authority_key_identifier, "keyid:always") ||
      X509_sign(cert.get(), ca_.key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(take_openssl_errors("cannot sign the forged certificate"));
  }
  return share(std::move(cert));
}

absl::StatusOr<SharedX509> CertForger::untrusted(std::string_view name) {
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError(take_openssl_errors());
  X509_set_version(cert.get(), 2);
  random_serial(cert.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("Sluice (NOT TRUSTED)"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(
      subject, "CN", MBSTRING_UTF8,
      reinterpret_cast<const unsigned char*>("The real site's certificate failed validation"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), untrusted_key_.get());
  if ((!name.empty() && !add_x509_extension(cert.get(), cert.get(), NID_subject_alt_name, san_for(name))) ||
      !add_x509_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      X509_sign(cert.get(), untrusted_key_.get(), EVP_sha256()) == 0) {
    return absl::InternalError(take_openssl_errors("cannot sign the untrusted certificate"));
  }
  return share(std::move(cert));
}

}  // namespace sluice::intercept
