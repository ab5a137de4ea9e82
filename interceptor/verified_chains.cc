#include "interceptor/verified_chains.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace sluice::intercept {
namespace {

// The SSL's cache (VerifiedChains::bind), in its ex_data.
int ex_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int verify_callback(X509_STORE_CTX* store, void*) {
  SSL* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* cache = ssl != nullptr ? static_cast<VerifiedChains*>(SSL_get_ex_data(ssl, ex_index())) : nullptr;
  const int ok = cache != nullptr ? cache->verify(store, std::time(nullptr)) : X509_verify_cert(store);
  return ok > 0 ? 1 : 0;
}

bool digest_der(EVP_MD_CTX* md, X509* cert, std::vector<unsigned char>& buf) {
  const int n = i2d_X509(cert, nullptr);
  if (n <= 0) return false;
  buf.resize(static_cast<size_t>(n));
  unsigned char* p = buf.data();
  if (i2d_X509(cert, &p) != n) return false;
  const uint32_t len = static_cast<uint32_t>(n);  // framed, so no two chains hash alike by splicing
  return EVP_DigestUpdate(md, &len, sizeof len) == 1 && EVP_DigestUpdate(md, buf.data(), buf.size()) == 1;
}

}  // namespace

size_t VerifiedChains::KeyHash::operator()(const Key& k) const {
  size_t h;
  std::memcpy(&h, k.data(), sizeof h);  // a digest: any of its words is a good hash
  return h;
}

void VerifiedChains::enable(SSL_CTX* ctx) {
  ex_index();
  SSL_CTX_set_cert_verify_callback(ctx, verify_callback, nullptr);
}

void VerifiedChains::bind(SSL* ssl) { SSL_set_ex_data(ssl, ex_index(), this); }

// SHA-256 over every certificate the server sent, in its order, then the name to check and the
// flags it is checked with. False when any of it cannot be read: then nothing is cached.
bool VerifiedChains::key_of(X509_STORE_CTX* store, Key& key) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  X509* leaf = X509_STORE_CTX_get0_cert(store);
  const X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store);
  if (sha256 == nullptr || leaf == nullptr || param == nullptr) return false;
  struct MdFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, MdFree> md(EVP_MD_CTX_new());
  if (!md || EVP_DigestInit_ex(md.get(), sha256, nullptr) != 1) return false;
  thread_local std::vector<unsigned char> der;
  if (!digest_der(md.get(), leaf, der)) return false;
  STACK_OF(X509)* sent = X509_STORE_CTX_get0_untrusted(store);
  for (int i = 0; sent != nullptr && i < sk_X509_num(sent); ++i)
    if (!digest_der(md.get(), sk_X509_value(sent, i), der)) return false;
  // What is checked, beside the chain: every host name and the address set, the check flags,
  // and the parameters X509_verify_cert applies (flags, depth, security level). The trust store
  // is the upstream context's, loaded once at start and never changed.
  auto* p = const_cast<X509_VERIFY_PARAM*>(param);
  std::string checked;
  for (int i = 0; const char* host = X509_VERIFY_PARAM_get0_host(p, i); ++i) {
    checked += "host:";
    checked.append(host, std::strlen(host) + 1);
  }
  if (char* ip = X509_VERIFY_PARAM_get1_ip_asc(p)) {
    checked += "ip:";
    checked.append(ip, std::strlen(ip) + 1);
    OPENSSL_free(ip);
  }
  if (checked.empty()) return false;  // our SSLs always name what to check
  const uint64_t numbers[] = {X509_VERIFY_PARAM_get_hostflags(param),
                              X509_VERIFY_PARAM_get_flags(p),
                              static_cast<uint64_t>(X509_VERIFY_PARAM_get_depth(param)),
                              static_cast<uint64_t>(X509_VERIFY_PARAM_get_auth_level(param))};
  unsigned int out = 0;
  return EVP_DigestUpdate(md.get(), "\0", 1) == 1 &&
         EVP_DigestUpdate(md.get(), checked.data(), checked.size()) == 1 &&
         EVP_DigestUpdate(md.get(), numbers, sizeof numbers) == 1 &&
         EVP_DigestFinal_ex(md.get(), key.data(), &out) == 1 && out == key.size();
}

int VerifiedChains::verify(X509_STORE_CTX* store, time_t now) {
  Key key;
  const bool keyed = capacity_ > 0 && key_of(store, key);
  if (keyed) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      if (it->second->expires > now) {
        lru_.splice(lru_.begin(), lru_, it->second);
        if (hits_ != nullptr) hits_->fetch_add(1, std::memory_order_relaxed);
        X509_STORE_CTX_set_error(store, X509_V_OK);
        return 1;
      }
      lru_.erase(it->second);
      index_.erase(it);
    }
  }
  const int ok = X509_verify_cert(store);
  if (ok != 1 || !keyed || X509_STORE_CTX_get_error(store) != X509_V_OK) return ok;
  // Kept no longer than the TTL, nor past the end of any certificate of the chain built.
  time_t expires = now + static_cast<time_t>(ttl_);
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
  if (chain == nullptr) return ok;
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    int days = 0, seconds = 0;
    if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(sk_X509_value(chain, i))) != 1)
      return ok;
    expires = std::min(expires, now + static_cast<time_t>(days) * 86400 + seconds);
  }
  if (expires <= now) return ok;
  lru_.push_front(Entry{key, expires});
  index_[key] = lru_.begin();
  if (index_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  return ok;
}

}  // namespace sluice::intercept
