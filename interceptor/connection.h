// One client connection through sluice-intercept, from accept (or adoption) to close, driven by
// its loop's epoll events. Phases:
//
//   explicit proxy:  ProxyRequest --CONNECT--> PeekHello --> decide --> splice | bump | block
//                                 --absolute URI--> plain HTTP forward --> ProxyRequest (keep-alive)
//   transparent:     PeekHello --> decide --> splice | bump | block
//   bump:            Resolve/Connect --> UpstreamHandshake --> ClientHandshake --> Relay
//                    (any upstream failure --> the failure page over an untrusted certificate)
//
// The ClientHello is read with MSG_PEEK, so splice forwards it untouched and the client-side
// TLS stack reads it itself. Sockets are non-blocking, edge-triggered; every event pumps both
// directions until nothing moves.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "interceptor/event_loop.h"
#include "interceptor/flow_policy.h"
#include "interceptor/http1_parser.h"
#include "interceptor/openssl_handles.h"
#include "interceptor/resolver.h"

namespace sluice::intercept {

class Connection {
 public:
  Connection(Loop& loop, uint64_t id, int client_fd, ListenerKind kind, bool adopted);
  ~Connection();
  void start();
  void on_event(Watch::Kind side, uint32_t events);
  void on_deadline(uint64_t now_ns);
  uint64_t id() const { return id_; }
  bool closed() const { return phase_ == Phase::kClosed; }
  uint64_t deadline_ns() const { return deadline_ns_; }

 private:
  enum class Phase : uint8_t {
    kProxyRequest, kPeekHello, kResolving, kConnecting, kUpstreamHandshake, kClientHandshake,
    kRelay, kResetting, kDraining, kClosed,
  };
  enum class Action : uint8_t { kNone, kSplice, kBump, kBlock, kPlain, kFailurePage };
  // kEofUnsigned: TLS ended by a TCP close without close_notify (a truncation cannot be told
  // from the end of the stream): passed on the same way, never as a close_notify of ours.
  // kBroken: a TLS failure on a write; OpenSSL allows no more I/O on that side.
  enum class Io : uint8_t { kOk, kBlocked, kEof, kEofUnsigned, kError, kBroken };

  // One direction of the relay: bytes read from `from`, parsed (when inspected), written to the
  // other side. [sent, safe) may be written; [safe, size) wait for the parser.
  struct Direction {
    std::string buf;
    size_t sent = 0;
    size_t safe = 0;
    bool eof = false;        // the source side finished
    bool eof_unsigned = false;  // ...its TLS without close_notify
    bool shut = false;       // we finished the destination's writing side
    bool hold = false;       // stop reading the source (blocked request, one-request plain proxy)
    std::optional<Http1Parser> parser;
    // Requests: an Upgrade or CONNECT request went out; the bytes after it wait, unparsed, for
    // its answer (they are the new protocol's if the server switches, the next request's if
    // not); `resume` parses them once the server has declined.
    bool awaiting_switch = false;
    bool resume = false;
    uint64_t msg_bytes = 0;  // bytes of the message being parsed, for its audit record
  };
  struct Pending {  // a request waiting for its response, for its audit record
    std::string method, host, path, verdict = "pass", rule;
    uint64_t bytes_up = 0, bytes_down = 0;
    int status = 0;
    uint64_t ts_ns = 0;  // when its head was read
    bool asks_switch = false;  // Upgrade or CONNECT: the server may end HTTP on this connection
  };

  void advance();
  void read_proxy_request();
  void peek_hello();
  void route();
  // The facts the policy judges this flow on (no server address before the name is resolved).
  FlowFacts route_facts() const;
  // The CONNECT or proxy host when it is a name (not an address literal), else empty.
  std::string_view connect_name() const;
  // verdict_ is block: a plain proxy request gets the blocked page, anything else is reset.
  void refuse_blocked();
  void on_resolved(const Resolved& r);
  void connect_upstream();
  void finish_connect();
  // Why the server (server_addr_) must not be used when it is ON_APPLIANCE: one of our own
  // ports, or any port unless upstream.allow_local_destinations; "" when it may.
  std::string refused_destination(bool on_appliance) const;
  // Loopback, unspecified, link-local, or one of this host's addresses.
  bool on_appliance(const IpAddress& address);
  void use_candidate(size_t i);
  // After a failed attempt WHY: closes its socket and, when the name has another address,
  // judges and connects to that one (true); false when none is left.
  bool try_next_address(const std::string& why);
  void attempt_failed(const std::string& why, int http_status);
  uint64_t attempt_deadline_ns(uint64_t now_ns) const;
  void upstream_handshake();
  void begin_client_handshake(SharedX509 cert, EVP_PKEY* key, bool chain_ca);
  void client_handshake();
  void start_relay();
  void relay();
  bool pump(Direction& d, bool to_upstream);
  void parse_new_bytes(Direction& d, bool requests, size_t from);
  void on_request_head(const Http1Head& head);
  void on_response_head(const Http1Head& head);
  void on_response_complete();
  // Plain proxy: replaces the response head at [d.safe, end) with the one the client gets (our
  // HTTP version, no hop-by-hop headers, `Connection: close` when the connection will end);
  // `end` moves with it.
  void rewrite_response_head(Direction& d, size_t& end, const Http1Head& head);
  // Plain proxy, after a response went out in full on a kept connection: the server connection
  // is closed and the client's waits for its next request (phase ProxyRequest).
  void await_next_request();
  void inject_page(int status, const std::string& title, const std::string& body_html);
  void upstream_failed(const std::string& reason);
  void report_rejection(const std::string& reason);
  void http_error_and_close(int status, const std::string& reason);
  // An explicit-proxy request we will not serve: counted, answered with STATUS, closed.
  void refuse_proxy_request(int status, const std::string& reason);
  // Up to CAP of the client's bytes, left on the socket; 0 when none are there yet, or when the
  // client closed before sending BEFORE or failed (the connection is then closed).
  size_t peek_client(void* buf, size_t cap, const char* before);
  // Takes N bytes the parser saw by peeking off the socket; false (and closed) if it cannot.
  bool take_peeked(size_t n, const char* what);
  // The rule that blocks the site a request names in a flow already allowed (domain fronting
  // behind an allowed SNI, another site on a kept connection), or "".
  std::string blocked_request_host(const Http1Head& head);
  // A request a URL rule (or its Host's rule) blocks: counted and audited with status 403.
  void record_url_block(Pending& p, std::string_view rule);
  void drain();  // after an error answer: read and drop until the client closes (no RST)
  // Sends ANSWER (a page of our own) on the plain client socket, ends our writing, then drains.
  void answer_and_close(const std::string& answer, const std::string& outcome, const std::string& reason);
  // After the last answer went out: the server's socket is closed and the client's drained
  // until it closes (or for two seconds), then the connection ends with OUTCOME and REASON.
  void drain_then_close(const std::string& outcome, const std::string& reason);
  void close(const std::string& outcome, const std::string& reason = "");
  // One side reset (a read or a write on it failed): the bytes it sent before are still
  // delivered to the other side, which is then reset too, as it would have been without us.
  void note_reset(bool server_side, const char* reason);
  // pump() toward a side that reset: the other side is still read, and its bytes dropped.
  bool drop_toward_reset(Direction& d, bool to_upstream);
  // Something moved: the relay's deadline starts again (shorter once a side reset).
  void moved();
  uint64_t stall_limit_ns() const;
  // The relay after a reset: waits until the reset side's bytes are read and handed to the
  // other socket, then (phase kResetting) until that socket has sent them, then closes both.
  void end_after_reset();
  void reset_when_sent();
  void write_request_record(const Pending& p);
  // The fields every record shares, as an unclosed JSON object ("{...", no closing brace).
  std::string base_record(const char* type, uint64_t ts_ns = 0) const;

  Io read_side(bool upstream, char* buf, size_t cap, size_t& n);
  Io write_side(bool upstream, const char* buf, size_t len, size_t& n);
  // Ends our writing toward a side: close_notify (when it is TLS and `close_notify`), then FIN.
  void shut_side(bool upstream, bool close_notify = true);
  static void info_callback(const SSL* ssl, int where, int ret);

  Loop& loop_;
  ServerContext& ctx_;
  uint64_t id_;
  ListenerKind kind_;
  bool adopted_;
  Phase phase_;
  Action action_ = Action::kNone;
  int cfd_;
  int ufd_ = -1;
  Watch cwatch_{};
  Watch uwatch_{};
  uint64_t started_ns_ = 0;
  uint64_t started_unix_ns_ = 0;
  uint64_t deadline_ns_ = 0;
  // CONNECT to a port where TLS does not belong: when the wait for the client's first bytes
  // ends early (limits.server_first_wait), and when it would end for good.
  bool server_first_armed_ = false;
  bool client_spoke_ = false;  // a server-first tunnel's first client bytes were told apart
  uint64_t hello_deadline_ns_ = 0;
  size_t last_peek_ = 0;  // bytes the last peek at the client saw (none taken off since)

  sockaddr_storage client_addr_{};
  std::string client_ip_, server_ip_;
  uint16_t client_port_ = 0, server_port_ = 0;
  sockaddr_storage server_addr_{};
  socklen_t server_len_ = 0;
  // A resolved name's addresses (explicit proxy): tried in order until one connects.
  std::vector<Endpoint> candidates_;
  size_t candidate_ = 0;
  std::string resolve_error_;     // why the CONNECT or proxy host name did not resolve
  // Set when the connection ends: its lookup, if still queued, is skipped.
  std::shared_ptr<std::atomic<bool>> lookup_abandoned_;
  std::string earlier_attempts_;  // why the addresses before this one failed ("...; ")
  uint64_t connect_started_ns_ = 0;  // the first connect attempt: upstream.connect_timeout runs from it
  std::string connect_host_;  // CONNECT or proxy-request host; empty for transparent
  uint16_t connect_port_ = 0;
  std::string sni_, ja4_;
  FirstFlightKind hello_kind_ = FirstFlightKind::kNone;
  // Records servers may ignore before the hello (warning alerts, ChangeCipherSpec:
  // tls_client_hello.cc), read off before OpenSSL, which refuses them, takes the socket; those
  // between its records cannot be, so such a hello is not bumped.
  size_t leading_ignored_bytes_ = 0;
  bool ignored_inside_hello_ = false;
  bool unbumpable_record_version_ = false;
  AnomalySet anomalies_;  // the peeked hello's
  bool ech_ = false;      // ...and whether it carried encrypted_client_hello
  std::string http_host_;  // plain HTTP first: its Host (or absolute URI's host), normalised
  FlowVerdict verdict_;
  std::string failure_reason_;  // why the upstream was refused (failure page)
  std::string upstream_sni_, verify_name_;  // bump: the SNI sent to the server, the name checked
  std::string session_key_;  // bump: the server's key in the loop's UpstreamSessions

  SslPtr cssl_, ussl_;
  // A side that reset (close() then resets both sockets), why, and (kResetting) the other
  // side's socket's unsent bytes when last seen fewer, and when it is given up on.
  bool client_reset_ = false;
  bool server_reset_ = false;
  std::string reset_reason_;
  int reset_unsent_ = 0;
  uint64_t reset_give_up_ns_ = 0;

  bool cert_sent_ = false;
  int alert_received_ = -1;  // fatal alert description the client sent, or -1

  Direction up_;    // client -> server
  Direction down_;  // server -> client
  std::deque<Pending> pending_;
  bool block_after_responses_ = false;
  bool close_after_flush_ = false;
  std::string close_reason_;
  std::string drain_outcome_, drain_reason_;
  std::string blocked_response_;  // the 403 answer of a refused request, sent in its turn
  std::string plain_head_;  // the rewritten request head of a plain proxy request
  // Plain proxy: whether the client's connection carries another request after this one
  // (HTTP/1.1, no `close`, nothing pipelined behind a body, an answer framed by its length);
  // whether the request went to the server in full; whether the answer has been read in full
  // (once it is flushed, the next request is read or the connection ends).
  bool client_keep_alive_ = false;
  bool request_complete_ = false;
  bool plain_answered_ = false;
  uint64_t bytes_up_ = 0, bytes_down_ = 0, requests_ = 0;
};

}  // namespace sluice::intercept
