#include "interceptor/upstream_sessions.h"

#include <openssl/x509.h>

namespace sluice::intercept {
namespace {

// What an SSL was bound to: its loop's cache and its server's key. Freed with the SSL, so a
// ticket arriving late (TLS 1.3 sends them after the handshake) never outlives its binding.
struct Binding {
  UpstreamSessions* cache;
  std::string key;
};

void free_binding(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<Binding*>(ptr);
}

int binding_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_binding);
  return index;
}

bool alive(const SSL_SESSION* s, time_t now) {
  if (SSL_SESSION_is_resumable(s) != 1) return false;
  const time_t start = SSL_SESSION_get_time(s);
  if (now >= start + SSL_SESSION_get_timeout(s)) return false;
  // TLS 1.3: the server's own limit on the ticket, when it gave one.
  const unsigned long hint = SSL_SESSION_get_ticket_lifetime_hint(s);
  return hint == 0 || now < start + static_cast<time_t>(hint);
}

}  // namespace

UpstreamSessions::~UpstreamSessions() {
  for (Entry& e : lru_) {
    for (SSL_SESSION* s : e.sessions) SSL_SESSION_free(s);
  }
}

void UpstreamSessions::enable(SSL_CTX* ctx) {
  binding_index();  // made before any loop thread runs
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

std::string UpstreamSessions::key(std::string_view ip, uint16_t port, std::string_view sni,
                                  std::string_view verify_name) {
  // Lengths first: the SNI comes from the client and may hold any byte.
  std::string k(ip);
  k += ' ';
  k += std::to_string(port);
  k += ' ';
  k += std::to_string(sni.size());
  k += ':';
  k += sni;
  k += verify_name;
  return k;
}

bool UpstreamSessions::bind_and_offer(SSL* ssl, const std::string& key, time_t now) {
  if (capacity_ == 0) return false;
  auto* binding = new Binding{this, key};
  if (SSL_set_ex_data(ssl, binding_index(), binding) != 1) {
    delete binding;
    return false;
  }
  auto found = index_.find(key);
  if (found == index_.end()) return false;
  std::vector<SSL_SESSION*>& sessions = found->second->sessions;
  while (!sessions.empty()) {
    SSL_SESSION* s = sessions.back();
    if (!alive(s, now)) {
      sessions.pop_back();
      --count_;
      SSL_SESSION_free(s);
      continue;
    }
    bool set;
    if (SSL_SESSION_get_protocol_version(s) >= TLS1_3_VERSION) {  // a ticket is used once
      set = SSL_set_session(ssl, s) == 1;  // takes its own reference
      sessions.pop_back();
      --count_;
      SSL_SESSION_free(s);
    } else {
      // A TLS 1.2 session stays here, so the connection gets a copy: OpenSSL marks the session a
      // connection holds unresumable when that connection ends without close_notify, which
      // TLS 1.1 and later no longer ask for (RFC 4346 7.2.1) and the web does all the time.
      SSL_SESSION* copy = SSL_SESSION_dup(s);
      set = copy != nullptr && SSL_set_session(ssl, copy) == 1;
      SSL_SESSION_free(copy);
    }
    if (sessions.empty()) {
      drop_entry(found->second);
    } else {
      lru_.splice(lru_.begin(), lru_, found->second);
    }
    return set;
  }
  drop_entry(found->second);
  return false;
}

void UpstreamSessions::forget(const std::string& key) {
  auto found = index_.find(key);
  if (found != index_.end()) drop_entry(found->second);
}

int UpstreamSessions::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* binding = static_cast<Binding*>(SSL_get_ex_data(ssl, binding_index()));
  // Only what a verified handshake produced: a session without the server's certificate, or
  // from a handshake whose verification did not pass, is never kept.
  if (binding == nullptr || SSL_get_verify_result(ssl) != X509_V_OK ||
      SSL_SESSION_get0_peer(session) == nullptr) {
    return 0;
  }
  // A copy, for the reason in bind_and_offer: `session` stays the connection's own.
  if (SSL_SESSION* copy = SSL_SESSION_dup(session); copy != nullptr) binding->cache->store(binding->key, copy);
  return 0;  // OpenSSL keeps its reference to `session`
}

void UpstreamSessions::store(const std::string& key, SSL_SESSION* session) {
  auto found = index_.find(key);
  if (found == index_.end()) {
    lru_.push_front(Entry{key, {}});
    found = index_.emplace(key, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, found->second);
  }
  std::vector<SSL_SESSION*>& sessions = found->second->sessions;
  // A TLS 1.2 session is reused as it is: the newest one replaces the rest.
  const bool tls12 = SSL_SESSION_get_protocol_version(session) < TLS1_3_VERSION;
  while (!sessions.empty() && (tls12 || sessions.size() >= kPerServer)) {
    SSL_SESSION_free(sessions.front());
    sessions.erase(sessions.begin());
    --count_;
  }
  sessions.push_back(session);
  ++count_;
  while (count_ > capacity_ && !lru_.empty()) {
    Entry& oldest = lru_.back();
    SSL_SESSION_free(oldest.sessions.front());
    oldest.sessions.erase(oldest.sessions.begin());
    --count_;
    if (oldest.sessions.empty()) drop_entry(std::prev(lru_.end()));
  }
}

void UpstreamSessions::drop_entry(std::list<Entry>::iterator it) {
  for (SSL_SESSION* s : it->sessions) SSL_SESSION_free(s);
  count_ -= it->sessions.size();
  index_.erase(it->key);
  lru_.erase(it);
}

}  // namespace sluice::intercept
