// Every counter of sluice-intercept, declared once (X-macro) so the struct, the exit log and the
// stats file cannot disagree. Counters are relaxed atomics bumped by the loop threads, the
// reporter and the resolver; readers take a snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace sluice::intercept {

#define SLUICE_INTERCEPT_STATS(X)                                                                 \
  X(connections_accepted, "client connections taken from a listener")                             \
  X(connections_adopted, "connections handed over by the dataplane (adopt_transparent)")          \
  X(handoff_errors, "handoff messages refused or adoptions the kernel refused (flow lost; logged)") \
  X(connections_refused_limit, "connections closed at once: limits.max_connections reached")      \
  X(connections_refused_descriptors, "connections reset at once: out of file descriptors")        \
  X(connections_closed, "connections finished (any outcome)")                                     \
  X(handshake_timeouts, "connections closed: no ClientHello or handshake within handshake_timeout") \
  X(idle_timeouts, "connections closed: nothing moved within idle_timeout")                      \
  X(resets_relayed, "relayed connections a side reset: the other got what it had sent, then a reset") \
  X(head_limit_hits, "a proxy request or HTTP head over limits.max_head_bytes")                    \
  X(client_hello_limit_hits, "a ClientHello over limits.max_client_hello_bytes")                   \
  X(not_tls, "CONNECT or transparent flows whose first bytes were not TLS")                       \
  X(server_first_tunnels, "CONNECTs to non-TLS ports whose client sent nothing within limits.server_first_wait") \
  X(spliced, "flows passed through untouched (policy pass, never-intercept, not TLS)")           \
  X(bumped, "flows decrypted and inspected")                                                      \
  X(blocked, "flows blocked by policy")                                                           \
  X(blocked_unresolved, "blocked names refused before any lookup: no address rule could pass them") \
  X(never_intercept_hits, "intercept verdicts turned into splice by the built-in list")           \
  X(upstream_refused, "bumped flows whose server failed validation or the TLS floor")             \
  X(upstream_resumed, "server handshakes that resumed a cached session (upstream.session_cache_entries)") \
  X(upstream_chains_cached, "server chains found verified in the cache (upstream.verify_cache_entries)") \
  X(connect_failures, "connections to servers that failed or timed out")                         \
  X(local_destinations_refused, "servers refused for being on the appliance itself (upstream.allow_local_destinations)") \
  X(connect_fallbacks, "failed connections to one of a name's addresses followed by its next")   \
  X(resolve_failures, "CONNECT or proxy host names that did not resolve")                         \
  X(client_rejected_certificate, "clients that refused our certificate (alert or close)")         \
  X(client_handshake_failures, "other client-side TLS handshake failures")                        \
  X(forged_cache_hits, "forged certificates found in the cache")                                  \
  X(forged_cache_misses, "forged certificates made")                                              \
  X(forged_cache_evictions, "forged certificates evicted (limits.cert_cache_entries)")            \
  X(http_requests, "HTTP requests audited (bumped and plain proxy)")                              \
  X(url_blocks, "HTTP requests answered with the 403 page by a URL rule")                         \
  X(request_hosts_blocked, "of those, requests whose Host the domain policy blocks (domain fronting)") \
  X(malformed_http, "connections closed: HTTP/1.1 the parser refused")                           \
  X(plain_proxy_requests, "absolute-URI (plain HTTP) proxy requests")                             \
  X(proxy_connections_reused, "plain proxy requests on a client connection kept from an earlier one") \
  X(bad_proxy_requests, "explicit-proxy requests refused (malformed, unsupported)")              \
  X(failure_reports_queued, "certificate rejections queued for POST /v1/bypass/failures")        \
  X(failure_reports_sent, "reports the control plane accepted (2xx)")                            \
  X(failure_reports_failed, "reports that could not be delivered or were refused")               \
  X(failure_reports_dropped, "reports dropped: learning.queue_size full")                         \
  X(bypass_hits, "flows spliced by a bypass entry (learning.bypass_refresh)")                    \
  X(bypass_refreshes, "bypass tables read from the control plane")                               \
  X(bypass_refresh_failures, "bypass table reads that failed (the last table stays)")            \
  X(audit_records, "audit records written")                                                       \
  X(audit_write_errors, "audit records that could not be written")

struct InterceptStats {
#define SLUICE_DECLARE_STAT(name, help) std::atomic<uint64_t> name{0};
  SLUICE_INTERCEPT_STATS(SLUICE_DECLARE_STAT)
#undef SLUICE_DECLARE_STAT

  // {"name":value,...}
  std::string to_json() const;
  // One "name value  # help" line per counter.
  std::string to_text() const;
};

inline void bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace sluice::intercept
