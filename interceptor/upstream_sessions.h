// Resumable TLS sessions with servers, so the next bumped connection to a server it has just
// verified resumes instead of doing a full handshake: no certificate chain to parse, build and
// verify again (and, for TLS 1.2, no key exchange). One cache per loop thread, so the hot path
// takes no lock; a bounded LRU over servers, counted in sessions.
//
// Validation is not weakened:
//  - a session is stored only when the server sends it on a connection whose handshake finished
//    with the chain and the host name verified (SSL_VERIFY_PEER fails it otherwise; the verify
//    result is checked again before storing);
//  - sessions are keyed by (server address and port, SNI sent, name verified), so one is offered
//    only to a connection that would verify the same name at the same server;
//  - an expired session (OpenSSL's timeout or the server's ticket lifetime) is dropped when met;
//  - a failed or refused connection to the server, or a fatal TLS error from it later, forgets
//    every session kept for it;
//  - the server's certificate travels in the session, so after a resumption
//    SSL_get1_peer_certificate still returns the certificate verified at the full handshake, and
//    the forged certificate still mimics it.
// TLS 1.3 tickets are used once (RFC 8446 C.4; servers may refuse a reused one): taken out when
// offered, and the server sends fresh ones on the resumed connection. A TLS 1.2 session stays.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <ctime>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::intercept {

class UpstreamSessions {
 public:
  // Sessions kept at most (over all servers); 0 turns resumption off.
  explicit UpstreamSessions(size_t capacity) : capacity_(capacity) {}
  ~UpstreamSessions();
  UpstreamSessions(const UpstreamSessions&) = delete;
  UpstreamSessions& operator=(const UpstreamSessions&) = delete;

  // Makes `ctx` hand each session a server sends to the cache its SSL was bound to (bind_and_offer)
  // and keeps OpenSSL's own cache out of it. Once, on the upstream context.
  static void enable(SSL_CTX* ctx);

  // The cache key of a connection to `ip`:`port` sending `sni` (may be empty), verifying
  // `verify_name`.
  static std::string key(std::string_view ip, uint16_t port, std::string_view sni,
                         std::string_view verify_name);

  // Before the handshake: sessions `ssl` receives from now on are stored under `key`, and a live
  // session kept for `key` is set on `ssl`. True when one was offered (SSL_session_reused tells
  // whether the server took it). `now` is seconds since the epoch, as OpenSSL's session times.
  bool bind_and_offer(SSL* ssl, const std::string& key, time_t now = std::time(nullptr));

  // Drops every session kept for `key` (the server failed or refused us).
  void forget(const std::string& key);

  size_t size() const { return count_; }
  size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::string key;
    std::vector<SSL_SESSION*> sessions;  // oldest first; each holds one reference
  };
  static constexpr size_t kPerServer = 8;  // TLS 1.3 tickets for concurrent connections to one server

  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  void store(const std::string& key, SSL_SESSION* session);  // takes the reference
  void drop_entry(std::list<Entry>::iterator it);

  size_t capacity_;
  size_t count_ = 0;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace sluice::intercept
