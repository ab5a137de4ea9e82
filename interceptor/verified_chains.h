// Server certificate chains this loop has verified lately, so that the next full handshake with
// the same server need not build and verify the same chain again: in a school the same few
// hundred servers are met all day, and X509_verify_cert (chain building, a signature check per
// link, the name check) is a large share of a bumped connection's CPU. Browsers (Chromium's
// caching verifier) and Squid (its validator cache) keep such results for the same reason.
//
// What is skipped and what is not:
//  - only X509_verify_cert, on a hit: the chain the server sent must be byte for byte one that
//    verified, for the same name (host or address) under the same check flags, within
//    `ttl_seconds` of that verification and within the validity of every certificate of the
//    chain that was built then (the trust anchor included);
//  - every handshake still parses the server's certificates, and TLS still checks the server's
//    signature over the handshake with the certificate's key (CertificateVerify, or the
//    ServerKeyExchange of TLS 1.2): a server that does not hold the key fails as before;
//  - failures are never kept: a chain that did not verify is verified in full every time, so
//    its reason is always the current one.
//  - a hit leaves no verified chain on the SSL (SSL_get0_verified_chain is null): nothing here
//    reads it, but certificate-transparency or DANE checks, which do, must not be turned on
//    with this cache.
// One cache per loop thread (no lock), bounded, least recently used first out.
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <list>
#include <string>
#include <unordered_map>

namespace sluice::intercept {

class VerifiedChains {
 public:
  // Chains kept at most; 0 turns the cache off (every chain is verified in full). `hits`, when
  // given, counts the verifications the cache saved.
  VerifiedChains(size_t capacity, int64_t ttl_seconds, std::atomic<uint64_t>* hits = nullptr)
      : capacity_(capacity), ttl_(ttl_seconds), hits_(hits) {}

  // Makes `ctx` verify server chains through the cache an SSL is bound to (bind), and in full
  // for an SSL bound to none. Once, on the upstream context.
  static void enable(SSL_CTX* ctx);

  // The chain `ssl` will receive is looked up in, and kept in, this cache.
  void bind(SSL* ssl);

  size_t size() const { return index_.size(); }

  // The verification itself, for the context's callback. `now` is seconds since the epoch.
  int verify(X509_STORE_CTX* store, time_t now);

 private:
  using Key = std::array<unsigned char, 32>;  // SHA-256 of the chain sent and the name checked
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Entry {
    Key key;
    time_t expires;
  };
  static bool key_of(X509_STORE_CTX* store, Key& key);

  size_t capacity_;
  int64_t ttl_;
  std::atomic<uint64_t>* hits_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<Key, std::list<Entry>::iterator, KeyHash> index_;
};

}  // namespace sluice::intercept
