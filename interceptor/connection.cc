#include "interceptor/connection.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "control/audit_json.h"
#include "control/json_writer.h"
#include "control/socket_address.h"
#include "dataplane/core/first_flight.h"
#include "dataplane/core/tls_client_hello.h"
#include "dataplane/policy/absl_text.h"
#include "interceptor/error_pages.h"
#include "interceptor/http1_forwarding.h"
#include "interceptor/tls_contexts.h"
#include "interceptor/upstream_sessions.h"

namespace sluice::intercept {
namespace {

void address_text(const sockaddr_storage& ss, std::string& ip, uint16_t& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      inet_ntop(AF_INET, reinterpret_cast<const uint8_t*>(&a->sin6_addr) + 12, buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    }
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

IpAddress ip_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    return IpAddress::from_v4(reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr));
  }
  if (ss.ss_family == AF_INET6) {
    return IpAddress::from_v6(reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr));
  }
  return {};
}

bool is_loopback(const IpAddress& a) {
  if (a.is_v4()) return a.bytes[12] == 127;
  static constexpr uint8_t kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(a.bytes.data(), kV6Loopback, 16) == 0;
}

// A numeric host as a socket address, or false for a name.
bool numeric_address(const std::string& host, uint16_t port, sockaddr_storage& ss, socklen_t& len) {
  const std::optional<SocketAddress> a = numeric_socket_address(host, port);
  if (!a) return false;
  ss = a->storage;
  len = a->length;
  return true;
}

// "host:port" or "[v6]:port".
bool split_authority(std::string_view authority, uint16_t default_port, std::string& host,
                     uint16_t& port) {
  std::string_view h = authority;
  std::string_view p;
  if (!h.empty() && h.front() == '[') {
    const size_t close = h.find(']');
    if (close == std::string_view::npos) return false;
    p = h.substr(close + 1);
    h = h.substr(1, close - 1);
    if (!p.empty()) {
      if (p.front() != ':') return false;
      p.remove_prefix(1);
    }
  } else {
    const size_t colon = h.rfind(':');
    if (colon != std::string_view::npos) {
      p = h.substr(colon + 1);
      h = h.substr(0, colon);
    }
  }
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' || c == '_')) {
      return false;
    }
  }
  uint32_t v = default_port;
  if (!p.empty() && (!absl::SimpleAtoi(av(p), &v) || v == 0 || v > 65535)) return false;
  if (v == 0) return false;
  host = std::string(h);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  port = static_cast<uint16_t>(v);
  return true;
}

bool is_numeric(const std::string& host) { return numeric_socket_address(host, 0).has_value(); }

const char* alert_reason(int description) {
  switch (description) {
    case 42: return "alert bad_certificate";
    case 46: return "alert certificate_unknown";
    case 48: return "alert unknown_ca";
    default: return nullptr;
  }
}

void reset_and_close(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

}  // namespace

Connection::Connection(Loop& loop, uint64_t id, int client_fd, ListenerKind kind, bool adopted)
    : loop_(loop),
      ctx_(loop.ctx()),
      id_(id),
      kind_(kind),
      adopted_(adopted),
      phase_(kind == ListenerKind::kExplicit ? Phase::kProxyRequest : Phase::kPeekHello),
      cfd_(client_fd) {
  cwatch_ = Watch{Watch::Kind::kClient, this, kind, client_fd};
  uwatch_ = Watch{Watch::Kind::kUpstream, this, kind, -1};
  started_ns_ = monotonic_ns();
  started_unix_ns_ = unix_now_ns();
  deadline_ns_ = started_ns_ + ctx_.config.handshake_timeout_ns;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(cfd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    address_text(ss, client_ip_, client_port_);
  }
  client_addr_ = ss;
  if (kind == ListenerKind::kTransparent) {
    // TPROXY and adoption: the socket's local address is the server the client wanted.
    len = sizeof server_addr_;
    if (::getsockname(cfd_, reinterpret_cast<sockaddr*>(&server_addr_), &len) == 0) {
      server_len_ = len;
      address_text(server_addr_, server_ip_, server_port_);
    }
  }
}

Connection::~Connection() {
  if (phase_ != Phase::kClosed) close("shutdown");
}

void Connection::start() {
  if (!loop_.watch(cfd_, &cwatch_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
    close("error", "cannot watch the client socket");
    return;
  }
  advance();
}

void Connection::on_event(Watch::Kind, uint32_t) { advance(); }

void Connection::advance() {
  Phase before;
  do {
    before = phase_;
    switch (phase_) {
      case Phase::kProxyRequest: read_proxy_request(); break;
      case Phase::kPeekHello: peek_hello(); break;
      case Phase::kConnecting: finish_connect(); break;
      case Phase::kUpstreamHandshake: upstream_handshake(); break;
      case Phase::kClientHandshake: client_handshake(); break;
      case Phase::kRelay: relay(); break;
      case Phase::kResetting: reset_when_sent(); break;
      case Phase::kDraining: drain(); break;
      case Phase::kResolving:
      case Phase::kClosed: break;
    }
  } while (phase_ != before && phase_ != Phase::kClosed);
}

void Connection::on_deadline(uint64_t now_ns) {
  if (phase_ == Phase::kClosed || now_ns < deadline_ns_) return;
  switch (phase_) {
    case Phase::kRelay:
      if (client_reset_ || server_reset_) {  // the survivor stopped taking what was left for it
        close("reset", reset_reason_);
        return;
      }
      bump(ctx_.stats.idle_timeouts);
      close("idle_timeout", "nothing moved within limits.idle_timeout");
      return;
    case Phase::kDraining:
      close(drain_outcome_, drain_reason_);
      return;
    case Phase::kResetting:
      reset_when_sent();
      return;
    case Phase::kConnecting: {
      const std::string timed_out = absl::StrCat("connect to ", server_ip_, ":", server_port_,
                                                 ": timed out (upstream.connect_timeout)");
      attempt_failed(timed_out, 504);
      advance();
      return;
    }
    case Phase::kProxyRequest:
      if (requests_ > 0) {  // a kept-alive connection that sent no next request
        bump(ctx_.stats.idle_timeouts);
        close("idle_timeout", "no next request within limits.idle_timeout");
      } else {
        bump(ctx_.stats.handshake_timeouts);
        close("handshake_timeout", "no proxy request within limits.handshake_timeout");
      }
      return;
    case Phase::kUpstreamHandshake:
      // The server, not the client, is what stalled: the client gets the failure page, the
      // audit says why, and what was learnt of the server is dropped.
      bump(ctx_.stats.handshake_timeouts);
      upstream_failed("TLS: the server did not finish its handshake within limits.handshake_timeout");
      deadline_ns_ = now_ns + ctx_.config.handshake_timeout_ns;  // for the client's handshake
      advance();
      return;
    case Phase::kPeekHello:
      if (std::exchange(server_first_armed_, false)) {
        deadline_ns_ = hello_deadline_ns_;
        char b;
        const ssize_t r = ::recv(cfd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r > 0) return;  // it spoke: wait on
        if (r == 0) {
          close("client_closed", "closed before sending anything through its tunnel");
          return;
        }
        // Nothing from the client on a port where TLS does not belong: its server speaks first
        // (SMTP, IMAP, FTP). Judged by the CONNECT host, and spliced if the policy lets it pass;
        // the client's first bytes are still looked at (pump): TLS or HTTP there, after the
        // silence, is a way around inspection and ends the tunnel.
        bump(ctx_.stats.server_first_tunnels);
        hello_kind_ = FirstFlightKind::kServerFirst;
        route();
        advance();
        return;
      }
      [[fallthrough]];
    default:
      bump(ctx_.stats.handshake_timeouts);
      close("handshake_timeout", "no ClientHello or handshake within limits.handshake_timeout");
  }
}

// ---- explicit proxy request ----------------------------------------------------------------

void Connection::read_proxy_request() {
  const size_t cap = ctx_.config.max_head_bytes;
  // One byte more than the cap, so a head that fills the cap without ending is seen as too large.
  std::vector<char> buf(cap + 1);
  const size_t n = peek_client(buf.data(), cap + 1, "sending a proxy request");
  if (n == 0) return;
  Http1Parser parser(Http1Parser::Role::kRequest, cap);
  Http1Parser::Event ev;
  const size_t consumed = parser.feed(buf.data(), n, ev);
  if (ev == Http1Parser::Event::kError) {
    const bool too_big = parser.head_too_large();
    if (too_big) bump(ctx_.stats.head_limit_hits);
    refuse_proxy_request(too_big ? 431 : 400, parser.error());
    return;
  }
  if (ev != Http1Parser::Event::kHead) return;  // wait for the rest of the head
  const Http1Head head = parser.head();
  // What follows (a name to resolve, a ClientHello to wait for) has limits.handshake_timeout,
  // from now: on a kept connection the idle deadline of the wait for this head is still set.
  deadline_ns_ = monotonic_ns() + ctx_.config.handshake_timeout_ns;
  if (head.method == "CONNECT") {
    if (!split_authority(head.target, 0, connect_host_, connect_port_)) {
      refuse_proxy_request(400, "CONNECT target is not HOST:PORT");
      return;
    }
    // Take the head off the socket, then answer: the ClientHello follows.
    if (!take_peeked(consumed, "the CONNECT request")) return;
    action_ = Action::kNone;  // a kept-alive connection's earlier requests were plain
    static constexpr char kEstablished[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    if (::send(cfd_, kEstablished, sizeof kEstablished - 1, MSG_NOSIGNAL) !=
        static_cast<ssize_t>(sizeof kEstablished - 1)) {
      close("client_error", "could not answer the CONNECT request");
      return;
    }
    if (numeric_address(connect_host_, connect_port_, server_addr_, server_len_)) {
      address_text(server_addr_, server_ip_, server_port_);
    }
    phase_ = Phase::kPeekHello;
    const uint64_t wait = ctx_.config.server_first_wait_ns;
    if (wait > 0 && !is_tls_port(connect_port_) && deadline_ns_ - monotonic_ns() > wait) {
      server_first_armed_ = true;
      hello_deadline_ns_ = deadline_ns_;
      deadline_ns_ = monotonic_ns() + wait;
    }
    return;
  }
  // A plain HTTP proxy request: absolute URI, http only.
  std::string_view target = head.target;
  if (target.substr(0, 7) != "http://") {
    refuse_proxy_request(400, "this is a proxy: send CONNECT HOST:PORT or an absolute http:// URI");
    return;
  }
  target.remove_prefix(7);
  const size_t slash = target.find_first_of("/?");
  std::string_view authority = target.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/" : std::string(target.substr(slash));
  if (path.front() == '?') path = "/" + path;
  if (!split_authority(authority, 80, connect_host_, connect_port_)) {
    refuse_proxy_request(400, "the request URI has no valid host");
    return;
  }
  if (!take_peeked(consumed, "the proxy request")) return;
  bump(ctx_.stats.plain_proxy_requests);
  bump(ctx_.stats.http_requests);
  if (requests_ > 0) bump(ctx_.stats.proxy_connections_reused);
  ++requests_;
  action_ = Action::kPlain;
  // The client's connection may carry its next request (HTTP/1.1 unless it says close); the
  // server's carries this one only.
  client_keep_alive_ = head.version == "HTTP/1.1" && !has_connection_option(head, "close");
  request_complete_ = false;
  // The head the server gets: origin-form target, no proxy or hop-by-hop headers, one request.
  // The URI's authority is the Host (RFC 9112 3.2.2): it names the server we connect to, so it
  // is what the server, the URL rules and the audit see, whatever Host the client wrote.
  plain_head_ = absl::StrCat(head.method, " ", path, " ", head.version, "\r\nHost: ", av(authority), "\r\n");
  append_end_to_end_headers(head, plain_head_, /*drop_host=*/true);
  plain_head_ += "Connection: close\r\n\r\n";
  Pending p;
  p.ts_ns = unix_now_ns();
  p.method = head.method;
  p.host = std::string(authority);
  p.path = path;
  const std::string_view rule = ctx_.url_rules->match(url_for_rules(p.host, p.path), loop_.url_scratch());
  if (!rule.empty()) {
    record_url_block(p, rule);
    answer_and_close(blocked_page_response(p.host, p.path, p.rule), "url_blocked", p.rule);
    return;
  }
  pending_.push_back(std::move(p));
  up_.parser.emplace(std::move(parser));  // continues with the request body, if any
  hello_kind_ = FirstFlightKind::kHttp;
  if (numeric_address(connect_host_, connect_port_, server_addr_, server_len_)) {
    address_text(server_addr_, server_ip_, server_port_);
  }
  route();
}

// ---- ClientHello and the policy ------------------------------------------------------------

void Connection::peek_hello() {
  const size_t cap = ctx_.config.max_client_hello_bytes;
  std::vector<uint8_t> buf(cap);
  const size_t n = peek_client(buf.data(), cap, "its ClientHello");
  if (n == 0) return;
  // A handshake record not yet whole cannot hold a whole hello: not parsed until it is, when the
  // parser would only say it needs more (a version byte, a length or a first byte it refuses
  // is told at once).
  if (n >= 5 && n < cap && buf[0] == 0x16 && buf[1] < 0x10 && load_be16(buf.data() + 3) <= 16384 &&
      (n < 6 || buf[5] == 1) && n < 5 + size_t{load_be16(buf.data() + 3)}) {
    return;
  }
  std::vector<uint8_t> scratch(cap);
  ClientHelloInfo info;
  const HelloStatus status =
      parse_client_hello(ByteSpan(buf.data(), n), MutableByteSpan(scratch), info);
  if (status == HelloStatus::kNeedMore) {
    if (n >= cap) {
      bump(ctx_.stats.client_hello_limit_hits);
      close("client_hello_too_large", absl::StrCat("over limits.max_client_hello_bytes (", cap, ")"));
    }
    return;  // the edge of the next segment wakes us
  }
  if (status == HelloStatus::kComplete) {
    hello_kind_ = FirstFlightKind::kTls;
    sni_ = std::string(info.sni_view());
    ja4_ = std::string(info.ja4_view());
    ech_ = info.ech;
    anomalies_ = info.anomalies;
    // A record version other than 3.x: some servers take it (tls_client_hello.cc), OpenSSL does
    // not, and the record is on the socket OpenSSL would read.
    unbumpable_record_version_ = !info.sslv2 && info.record_version >> 8 != 3;
    if (info.anomalies.has(Anomaly::kTlsIgnoredRecords)) {
      leading_ignored_bytes_ = leading_ignored_record_bytes(ByteSpan(buf.data(), n));
      ClientHelloInfo rest;
      parse_client_hello(ByteSpan(buf.data(), n).subspan(leading_ignored_bytes_),
                         MutableByteSpan(scratch), rest);
      ignored_inside_hello_ = rest.anomalies.has(Anomaly::kTlsIgnoredRecords);
    }
  } else {
    // Plain HTTP in a tunnel (CONNECT host:80) is read like a bumped flow's requests, so URL
    // rules and the audit see it: told from other bytes by its request line.
    const FlightGuess guess = guess_first_flight(ByteSpan(buf.data(), n));
    if (guess == FlightGuess::kNeedMore && n < cap) return;  // a few more bytes tell
    if (guess == FlightGuess::kHttp) {
      // Its Host (or absolute URI) names the server, as the dataplane reads it: judged like an
      // SNI, so a transparent flow or a CONNECT to an address meets the name rules.
      char host[kMaxSniLength];
      uint16_t length = 0;
      const HttpHostStatus found = find_http_host(ByteSpan(buf.data(), n), host, length);
      if (found == HttpHostStatus::kNeedMore && n < cap) return;  // the rest of the head
      if (found == HttpHostStatus::kFound) http_host_.assign(host, length);
    }
    hello_kind_ = guess == FlightGuess::kHttp ? FirstFlightKind::kHttp : FirstFlightKind::kNonTls;
    bump(ctx_.stats.not_tls);
  }
  route();
}

FlowFacts Connection::route_facts() const {
  FlowFacts facts;
  facts.client_ip = ip_of(client_addr_);
  if (server_len_ != 0) facts.server_ip = ip_of(server_addr_);
  // A name that did not resolve (or is not looked up yet) has no address: its port is the
  // CONNECT's.
  const uint16_t port = server_len_ != 0 ? server_port_ : connect_port_;
  facts.server_port = port;
  // As the dataplane judges it: plain HTTP where TLS belongs is non_tls.
  facts.first_flight = hello_kind_ == FirstFlightKind::kHttp && is_tls_port(port)
                           ? FirstFlightKind::kNonTls
                           : hello_kind_;
  // The SNI names the server; a CONNECT or proxy host name stands in when there is none.
  facts.server_name = sni_;
  if (facts.server_name.empty()) facts.server_name = http_host_;
  if (facts.server_name.empty()) facts.server_name = connect_name();
  facts.ja4 = ja4_;
  facts.ech = ech_;  // the policy's `ech` default applies here as in the dataplane
  facts.anomalies = anomalies_;  // the hello's, so the policy's anomaly defaults apply here too
  return facts;
}

std::string_view Connection::connect_name() const {
  return !connect_host_.empty() && !is_numeric(connect_host_) ? std::string_view(connect_host_)
                                                              : std::string_view();
}

void Connection::route() {
  // The client spoke in time: the wait for a server-first protocol is over, the full deadline back.
  if (std::exchange(server_first_armed_, false)) deadline_ns_ = hello_deadline_ns_;
  // Flows the dataplane handed over met its bypass entries already; explicit-proxy flows meet
  // them only here.
  const std::shared_ptr<const BypassSet> bypass = ctx_.bypass ? ctx_.bypass->current() : nullptr;
  if (server_len_ == 0 && resolve_error_.empty()) {
    // A name blocked whatever its address is refused without being looked up: the lookup
    // would tell the resolver, and whoever watches it, of a name the school blocks.
    FlowVerdict blocked;
    if (ctx_.policy->blocked_whatever_address(route_facts(), connect_name(), loop_.policy_scratch(),
                                              bypass.get(), blocked)) {
      bump(ctx_.stats.blocked_unresolved);
      verdict_ = std::move(blocked);
      refuse_blocked();
      return;
    }
    phase_ = Phase::kResolving;
    Loop* loop = &loop_;
    const uint64_t id = id_;
    lookup_abandoned_ = std::make_shared<std::atomic<bool>>(false);
    ctx_.resolver->resolve(connect_host_, connect_port_, lookup_abandoned_, [loop, id](Resolved r) {
      loop->post([loop, id, r = std::move(r)] {
        if (Connection* c = loop->find(id)) c->on_resolved(r);
      });
    });
    return;
  }
  // A CONNECT host name is judged too, beside the SNI or whatever the tunnel carries: the
  // stricter verdict stands.
  verdict_ = ctx_.policy->decide_stricter(route_facts(), connect_name(), loop_.policy_scratch(),
                                          bypass.get());
  if (candidate_ == 0) {  // counted once a connection, not again for each address tried
    if (verdict_.never_intercept) bump(ctx_.stats.never_intercept_hits);
    if (verdict_.bypassed) bump(ctx_.stats.bypass_hits);
  }

  if (server_len_ == 0 && verdict_.verdict != Verdict::kBlock) {
    // The name did not resolve (on_resolved): nowhere to connect. A block needs no address.
    if (action_ == Action::kPlain) {
      http_error_and_close(502, resolve_error_);
    } else {
      close("resolve_failed", resolve_error_);
    }
    return;
  }
  if (verdict_.verdict == Verdict::kBlock) {
    refuse_blocked();
    return;
  }
  if (action_ == Action::kPlain) {
    connect_upstream();
    return;
  }
  switch (verdict_.verdict) {
    case Verdict::kBlock:
      return;  // refused above
    case Verdict::kPass:
      action_ = Action::kSplice;
      break;
    case Verdict::kIntercept:
      // Only a complete TLS ClientHello can be bumped; anything else passes as it is.
      action_ = hello_kind_ == FirstFlightKind::kTls ? Action::kBump : Action::kSplice;
      if (action_ == Action::kBump && (ignored_inside_hello_ || unbumpable_record_version_)) {
        // OpenSSL would refuse the hello as sent, and splicing would sell inspection for a trick.
        bump(ctx_.stats.blocked);
        action_ = Action::kBlock;
        close("blocked", ignored_inside_hello_
                             ? "alerts or ChangeCipherSpec between the ClientHello's records: cannot be intercepted"
                             : "a ClientHello in records of a version other than 3.x: cannot be intercepted");
        return;
      }
      break;
  }
  connect_upstream();
}

void Connection::refuse_blocked() {
  bump(ctx_.stats.blocked);
  if (action_ == Action::kPlain) {  // a plain proxy request: the page, in the request's place
    Pending& p = pending_.front();
    p.verdict = "block";
    p.rule = verdict_.rule;
    p.status = 403;
    write_request_record(p);
    const std::string page = blocked_page_response(p.host, p.path, verdict_.rule);
    pending_.clear();
    answer_and_close(page, "blocked", verdict_.rule);
    return;
  }
  action_ = Action::kBlock;
  close("blocked", verdict_.rule);
}

void Connection::on_resolved(const Resolved& r) {
  if (phase_ != Phase::kResolving) return;
  if (!r.ok) {
    // Judged all the same, by the name alone (with no address, no address rule can match): a
    // blocked name is audited and answered as blocked, whether it resolves or not.
    bump(ctx_.stats.resolve_failures);
    resolve_error_ = absl::StrCat("cannot resolve ", connect_host_, ": ", r.error);
    route();
    return;
  }
  candidates_ = r.addresses;
  use_candidate(0);
  route();
  advance();
}

void Connection::use_candidate(size_t i) {
  candidate_ = i;
  std::memcpy(&server_addr_, &candidates_[i].address, candidates_[i].length);
  server_len_ = candidates_[i].length;
  address_text(server_addr_, server_ip_, server_port_);
}

bool Connection::try_next_address(const std::string& why) {
  if (ufd_ >= 0) {
    loop_.unwatch(ufd_);
    ::close(ufd_);
    ufd_ = -1;
  }
  if (candidate_ + 1 >= candidates_.size()) return false;
  absl::StrAppend(&earlier_attempts_, why, "; ");
  bump(ctx_.stats.connect_fallbacks);
  use_candidate(candidate_ + 1);
  route();  // judged again: an IP rule may say otherwise about this address
  return true;
}

// upstream.connect_timeout bounds all the attempts together. One address of several gets an
// even share of it (at least a second), so a dead first address leaves time for the others; the
// last gets what is left.
uint64_t Connection::attempt_deadline_ns(uint64_t now_ns) const {
  const uint64_t total = ctx_.config.connect_timeout_ns;
  const uint64_t end = connect_started_ns_ + total;
  const size_t left = candidates_.size() > candidate_ ? candidates_.size() - candidate_ : 1;
  if (left <= 1) return end;
  const uint64_t share = std::min(total, std::max<uint64_t>(1'000'000'000ULL, total / candidates_.size()));
  return std::min(end, now_ns + share);
}

// ---- the server side -----------------------------------------------------------------------

void Connection::connect_upstream() {
  const uint64_t now = monotonic_ns();
  if (connect_started_ns_ == 0) connect_started_ns_ = now;
  if (const std::string refused = refused_destination(on_appliance(ip_of(server_addr_)));
      !refused.empty()) {
    bump(ctx_.stats.local_destinations_refused);
    attempt_failed(refused, 403);
    return;
  }
  ufd_ = ::socket(server_addr_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ufd_ < 0) {
    // EAFNOSUPPORT on a host without IPv6, for one: the name's other addresses may still do.
    std::string why = absl::StrCat("socket for ", server_ip_, ": ", std::strerror(errno));
    if (try_next_address(why)) return;
    close("error", earlier_attempts_ + why);
    return;
  }
  const int one = 1;
  ::setsockopt(ufd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ctx_.config.upstream_mark != 0 &&
      ::setsockopt(ufd_, SOL_SOCKET, SO_MARK, &ctx_.config.upstream_mark, sizeof ctx_.config.upstream_mark) != 0) {
    const std::string why = absl::StrCat("upstream.mark: SO_MARK: ", std::strerror(errno), " (needs CAP_NET_ADMIN)");
    ::close(ufd_);
    ufd_ = -1;
    close("error", why);
    return;
  }
  uwatch_.fd = ufd_;
  if (action_ == Action::kBump) {
    // The name sent and checked: the client's SNI, else a CONNECT host name, else (no name at
    // all) the certificate must carry the server's address.
    upstream_sni_ = sni_;
    if (upstream_sni_.empty() && !connect_host_.empty() && !is_numeric(connect_host_)) upstream_sni_ = connect_host_;
    verify_name_ = !upstream_sni_.empty() ? upstream_sni_ : server_ip_;
    session_key_ = UpstreamSessions::key(server_ip_, server_port_, upstream_sni_, verify_name_);
  }
  phase_ = Phase::kConnecting;
  deadline_ns_ = attempt_deadline_ns(now);
  if (::connect(ufd_, reinterpret_cast<const sockaddr*>(&server_addr_), server_len_) != 0 &&
      errno != EINPROGRESS) {
    attempt_failed(absl::StrCat("connect to ", server_ip_, ":", server_port_, ": ", std::strerror(errno)),
                   502);
    return;
  }
  if (!loop_.watch(ufd_, &uwatch_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
    close("error", "cannot watch the server socket");
  }
}

std::string Connection::refused_destination(bool on_appliance) const {
  // A destination on the appliance itself: through the proxy a client could reach the
  // management API or any service that trusts local connections, and a connection to one of
  // our own ports would come back to us, again and again, until the descriptors ran out. One
  // reason for every port, so that the answers do not map which ones are open.
  if (!on_appliance) return "";
  for (uint16_t own : ctx_.config.own_ports()) {
    if (server_port_ == own) return "the server is sluice-intercept itself: refused";
  }
  if (ctx_.config.allow_local_destinations) return "";
  return "the server is on the appliance itself: refused (upstream.allow_local_destinations is off)";
}

bool Connection::on_appliance(const IpAddress& a) {
  if (is_loopback(a) || loop_.is_own_address(a)) return true;
  if (a.is_v4()) {
    const uint8_t* b = a.bytes.data() + 12;
    return (b[0] == 0) || (b[0] == 169 && b[1] == 254);  // "this network", link-local
  }
  static constexpr uint8_t kZero[16] = {};
  return std::memcmp(a.bytes.data(), kZero, 16) == 0 ||            // unspecified
         (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80);      // link-local
}

void Connection::finish_connect() {
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(ufd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err == 0) {
    sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    if (::getpeername(ufd_, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) return;  // in progress
    // Behind the check before connecting (connect_upstream): an address of ours it did not
    // know yet connects from itself.
    sockaddr_storage local{};
    socklen_t llen = sizeof local;
    const bool to_self = ::getsockname(ufd_, reinterpret_cast<sockaddr*>(&local), &llen) == 0 &&
                         ip_of(local) == ip_of(peer);
    if (const std::string refused = refused_destination(to_self); !refused.empty()) {
      bump(ctx_.stats.local_destinations_refused);
      attempt_failed(refused, 403);
      return;
    }
    // The server's handshake gets limits.handshake_timeout from now: resolving and connecting
    // had upstream.connect_timeout of their own.
    deadline_ns_ = monotonic_ns() + ctx_.config.handshake_timeout_ns;
    if (action_ == Action::kBump) {
      ussl_.reset(SSL_new(ctx_.upstream_ctx.get()));
      if (!ussl_ || !prepare_upstream_ssl(ussl_.get(), upstream_sni_, verify_name_) ||
          SSL_set_fd(ussl_.get(), ufd_) != 1) {
        close("error", take_openssl_errors());
        return;
      }
      loop_.upstream_sessions().bind_and_offer(ussl_.get(), session_key_);
      loop_.verified_chains().bind(ussl_.get());
      SSL_set_connect_state(ussl_.get());
      phase_ = Phase::kUpstreamHandshake;
    } else {
      if (action_ == Action::kSplice) bump(ctx_.stats.spliced);
      start_relay();
    }
    return;
  }
  attempt_failed(absl::StrCat("connect to ", server_ip_, ":", server_port_, ": ", std::strerror(err)), 502);
}

// A connection attempt that failed (WHY): the name's next address, or, when none is left, the
// failure carried out as the action needs: a failure page for a bump, an HTTP error
// (HTTP_STATUS) for a plain proxy request, a close otherwise.
void Connection::attempt_failed(const std::string& why, int http_status) {
  if (try_next_address(why)) return;
  const std::string all = earlier_attempts_ + why;
  bump(ctx_.stats.connect_failures);
  if (action_ == Action::kBump) {
    upstream_failed(all);
  } else if (action_ == Action::kPlain) {
    http_error_and_close(http_status, all);
  } else {
    close("connect_failed", all);
  }
}

void Connection::upstream_handshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(ussl_.get());
  if (r == 1) {
    if (SSL_session_reused(ussl_.get()) == 1) bump(ctx_.stats.upstream_resumed);
    // After a resumption this is the certificate verified at the session's full handshake.
    X509Ptr cert(SSL_get1_peer_certificate(ussl_.get()));
    if (!cert) {
      upstream_failed("certificate: the server sent none");
      return;
    }
    absl::StatusOr<SharedX509> forged = ctx_.forger->forge(cert.get(), sni_);
    if (!forged.ok()) {
      close("error", std::string(forged.status().message()));
      return;
    }
    begin_client_handshake(*forged, ctx_.forger->leaf_key(), true);
    return;
  }
  const int err = SSL_get_error(ussl_.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  upstream_failed(describe_upstream_failure(ussl_.get()));
}

void Connection::upstream_failed(const std::string& reason) {
  bump(ctx_.stats.upstream_refused);
  failure_reason_ = reason;
  ussl_.reset();
  // Whatever was learnt of this server may be stale (new certificate, keys rotated): the next
  // connection starts with a full, fully verified handshake.
  if (!session_key_.empty()) loop_.upstream_sessions().forget(session_key_);
  if (ufd_ >= 0) {
    loop_.unwatch(ufd_);
    ::close(ufd_);
    ufd_ = -1;
  }
  action_ = Action::kFailurePage;
  // The client's handshake (for the page) gets its own limits.handshake_timeout, whatever
  // deadline the failed step had left.
  deadline_ns_ = monotonic_ns() + ctx_.config.handshake_timeout_ns;
  const std::string name = !sni_.empty() ? sni_ : !connect_host_.empty() ? connect_host_ : server_ip_;
  absl::StatusOr<SharedX509> cert = ctx_.forger->untrusted(name);
  if (!cert.ok()) {
    close("upstream_refused", reason);
    return;
  }
  begin_client_handshake(*cert, ctx_.forger->untrusted_key(), false);
}

// ---- the client side -----------------------------------------------------------------------

void Connection::info_callback(const SSL* ssl, int where, int ret) {
  auto* self = static_cast<Connection*>(SSL_get_app_data(ssl));
  if (self == nullptr) return;
  if ((where & SSL_CB_READ_ALERT) != 0 && (ret >> 8) == SSL3_AL_FATAL) {
    self->alert_received_ = ret & 0xff;
  }
  if ((where & SSL_CB_ACCEPT_LOOP) != 0) {
    const OSSL_HANDSHAKE_STATE st = SSL_get_state(ssl);
    if (st == TLS_ST_SW_CERT || st == TLS_ST_SW_CERT_VRFY || st == TLS_ST_SW_SRVR_DONE ||
        st == TLS_ST_SW_FINISHED) {
      self->cert_sent_ = true;
    }
  }
}

void Connection::begin_client_handshake(SharedX509 cert, EVP_PKEY* key, bool chain_ca) {
  if (leading_ignored_bytes_ > 0 &&
      !take_peeked(std::exchange(leading_ignored_bytes_, 0), "the records before its ClientHello"))
    return;
  cssl_.reset(SSL_new(ctx_.client_ctx.get()));
  if (!cssl_ || SSL_use_certificate(cssl_.get(), cert.get()) != 1 ||
      SSL_use_PrivateKey(cssl_.get(), key) != 1 ||
      (chain_ca && SSL_add1_chain_cert(cssl_.get(), ctx_.forger->ca_cert()) != 1) ||
      SSL_set_fd(cssl_.get(), cfd_) != 1) {
    close("error", take_openssl_errors());
    return;
  }
  SSL_set_app_data(cssl_.get(), this);
  SSL_set_info_callback(cssl_.get(), info_callback);
  SSL_set_accept_state(cssl_.get());
  phase_ = Phase::kClientHandshake;
}

void Connection::client_handshake() {
  ERR_clear_error();
  const int r = SSL_do_handshake(cssl_.get());
  if (r == 1) {
    if (action_ == Action::kBump) bump(ctx_.stats.bumped);
    start_relay();
    return;
  }
  const int err = SSL_get_error(cssl_.get(), r);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
  const unsigned long last = ERR_peek_last_error();
  const std::string errors = take_openssl_errors("connection closed");
  if (action_ == Action::kFailurePage) {
    close("upstream_refused", absl::StrCat(failure_reason_, " (the client then refused the untrusted "
                                                            "failure-page certificate: ", errors, ")"));
    return;
  }
  const char* alert = alert_received_ >= 0 ? alert_reason(alert_received_) : nullptr;
  const bool closed_after_cert =
      cert_sent_ && (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN ||
                     (err == SSL_ERROR_SSL && ERR_GET_REASON(last) == SSL_R_UNEXPECTED_EOF_WHILE_READING));
  if (alert != nullptr || closed_after_cert) {
    const std::string reason = alert != nullptr ? alert : "closed after certificate";
    bump(ctx_.stats.client_rejected_certificate);
    report_rejection(reason);
    close("client_rejected_certificate", reason);
    return;
  }
  bump(ctx_.stats.client_handshake_failures);
  close("client_handshake_failed", errors);
}

void Connection::report_rejection(const std::string& reason) {
  if (ctx_.reporter == nullptr || sni_.empty()) return;  // learning is keyed by SNI and JA4
  ctx_.reporter->report(CertificateFailure{sni_, ja4_, client_ip_, reason});
}

size_t Connection::peek_client(void* buf, size_t cap, const char* before) {
  const ssize_t n = ::recv(cfd_, buf, cap, MSG_PEEK);
  // Nothing new since the last look (an EPOLLOUT edge, a segment of the other side): the same
  // bytes are not parsed again. A client trickling a head or hello byte by byte still costs a
  // parse per segment, not one per event.
  if (n > 0 && static_cast<size_t>(n) == last_peek_) return 0;
  if (n > 0) last_peek_ = static_cast<size_t>(n);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close("client_error", std::strerror(errno));
    return 0;
  }
  if (n == 0) {
    if (phase_ == Phase::kProxyRequest && requests_ > 0) {
      close("closed");  // the end of a kept-alive connection, between requests
    } else {
      close("client_closed", absl::StrCat("closed before ", before));
    }
  }
  return static_cast<size_t>(n);
}

void Connection::refuse_proxy_request(int status, const std::string& reason) {
  bump(ctx_.stats.bad_proxy_requests);
  http_error_and_close(status, reason);
}

bool Connection::take_peeked(size_t n, const char* what) {
  last_peek_ = 0;
  std::vector<char> drop(n);
  if (::recv(cfd_, drop.data(), n, 0) == static_cast<ssize_t>(n)) return true;
  close("client_error", absl::StrCat("could not read ", what));
  return false;
}

std::string Connection::blocked_request_host(const Http1Head& head) {
  // The site as the server picks it: an absolute-form target's authority, a CONNECT's target,
  // else Host (RFC 9112 3.2.2). Two Hosts are ambiguous (servers differ on which counts).
  size_t hosts = 0;
  for (const auto& header : head.headers) hosts += absl::EqualsIgnoreCase(header.first, "host");
  if (hosts > 1) return "two_host_headers";
  std::string_view authority = head.header("host");
  if (head.method == "CONNECT") {
    authority = head.target;
  } else if (const size_t scheme_end = head.target.find("://");
             scheme_end != std::string::npos && head.target.front() != '/') {
    // Absolute form, whatever the scheme (servers route ws:// and the like by it too): the
    // authority, without userinfo.
    std::string_view rest = std::string_view(head.target).substr(scheme_end + 3);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    const size_t at = rest.rfind('@');
    authority = at == std::string_view::npos ? rest : rest.substr(at + 1);
  }
  // The name before any port, as a server reads it; an IPv6 literal names no site.
  if (authority.empty() || authority.front() == '[') return "";
  std::string host(authority.substr(0, authority.find(':')));
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (host.size() > 1 && host.back() == '.') host.pop_back();
  FlowFacts facts = route_facts();
  if (host.empty() || is_numeric(host)) return "";
  // The flow's own name was judged with the flow, when its kind lets a name decide it.
  const bool named = names_its_server(facts.first_flight);
  if (named && host == facts.server_name) return "";
  // Judged as if the flow had named this host (same client, port and hello). Plain HTTP where
  // TLS belongs was judged as non_tls, which no name decides: its requests still name sites.
  facts.server_name = host;
  if (!named) facts.first_flight = FirstFlightKind::kHttp;
  const std::shared_ptr<const BypassSet> bypass = ctx_.bypass ? ctx_.bypass->current() : nullptr;
  const FlowVerdict v = ctx_.policy->decide(facts, loop_.policy_scratch(), bypass.get());
  return v.verdict == Verdict::kBlock ? v.rule : "";
}

void Connection::record_url_block(Pending& p, std::string_view rule) {
  bump(ctx_.stats.url_blocks);
  p.verdict = "block";
  p.rule = std::string(rule);
  p.status = 403;
  write_request_record(p);
}

void Connection::http_error_and_close(int status, const std::string& reason) {
  if (action_ == Action::kPlain && !pending_.empty()) {  // the request this answers, audited so
    Pending& p = pending_.front();
    p.status = status;
    p.verdict = "refused";
    p.rule = reason;
    write_request_record(p);
    pending_.clear();
  }
  answer_and_close(proxy_error_response(status, reason), absl::StrCat("http_", status), reason);
}

void Connection::answer_and_close(const std::string& answer, const std::string& outcome,
                                  const std::string& reason) {
  ::send(cfd_, answer.data(), answer.size(), MSG_NOSIGNAL);
  ::shutdown(cfd_, SHUT_WR);
  drain_then_close(outcome, reason);
}

void Connection::drain_then_close(const std::string& outcome, const std::string& reason) {
  // Closing with unread bytes would send a reset that can destroy the answer before the client
  // reads it: drop what the client still sends until it closes (or for two seconds).
  if (ufd_ >= 0) {
    loop_.unwatch(ufd_);
    ::close(ufd_);
    ufd_ = -1;
  }
  drain_outcome_ = outcome;
  drain_reason_ = reason;
  phase_ = Phase::kDraining;
  deadline_ns_ = monotonic_ns() + 2'000'000'000ULL;
}

void Connection::drain() {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(cfd_, buf, sizeof buf, 0);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    close(drain_outcome_, drain_reason_);
    return;
  }
}

// ---- audit and close -----------------------------------------------------------------------

std::string Connection::base_record(const char* type, uint64_t ts_ns) const {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("ts", rfc3339_micros(ts_ns != 0 ? ts_ns : started_unix_ns_));
  w.field("type", type);
  w.field("mode", kind_ == ListenerKind::kExplicit ? (action_ == Action::kPlain ? "proxy" : "connect")
                  : adopted_ ? "adopted" : "tproxy");
  w.field("client", client_ip_);
  w.field("client_port", static_cast<uint64_t>(client_port_));
  if (!server_ip_.empty()) {
    w.field("server", server_ip_);
    w.field("server_port", static_cast<uint64_t>(server_port_));
  }
  if (!connect_host_.empty()) {
    w.field("connect_host", connect_host_);
    // A name refused before its lookup, or that did not resolve, has no server address.
    if (server_ip_.empty()) w.field("connect_port", static_cast<uint64_t>(connect_port_));
  }
  // The name's addresses tried before `server`, each with why it failed.
  if (!earlier_attempts_.empty())
    w.field("earlier_attempts", std::string_view(earlier_attempts_).substr(0, earlier_attempts_.size() - 2));
  if (!sni_.empty()) w.field("sni", sni_);
  if (!ja4_.empty()) w.field("ja4", ja4_);
  w.end_object();
  out.pop_back();  // reopened by the caller
  return out;
}

void Connection::write_request_record(const Pending& p) {
  std::string out = base_record("http", p.ts_ns);
  out += ',';
  std::string tail;
  JsonWriter t(tail);
  t.begin_object();
  t.field("method", p.method);
  t.field("host", p.host);
  t.field("path", p.path);
  t.field("status", static_cast<uint64_t>(p.status));
  t.field("bytes_up", p.bytes_up);
  t.field("bytes_down", p.bytes_down);
  t.field("verdict", p.verdict);
  if (!p.rule.empty()) t.field("rule", p.rule);
  t.end_object();
  out.append(tail, 1, std::string::npos);
  ctx_.audit.write(out);
}

void Connection::close(const std::string& outcome, const std::string& reason) {
  if (phase_ == Phase::kClosed) return;
  // A lookup still queued for this connection is not made (a client that gives up frees the
  // resolver for others).
  if (lookup_abandoned_) lookup_abandoned_->store(true, std::memory_order_relaxed);
  // A side reset while relaying: the other is reset too, whatever ended the connection since
  // (a FIN would make what it got look whole).
  const bool relayed_reset = client_reset_ || server_reset_;
  const bool reset = action_ == Action::kBlock || relayed_reset;
  if (relayed_reset) bump(ctx_.stats.resets_relayed);
  phase_ = Phase::kClosed;
  for (const Pending& p : pending_) write_request_record(p);  // unanswered: status 0 or partial
  pending_.clear();
  cssl_.reset();
  ussl_.reset();
  if (ufd_ >= 0) {
    loop_.unwatch(ufd_);
    if (relayed_reset) {
      reset_and_close(ufd_);
    } else {
      ::close(ufd_);
    }
    ufd_ = -1;
  }
  if (cfd_ >= 0) {
    loop_.unwatch(cfd_);
    if (reset) {
      reset_and_close(cfd_);
    } else {
      ::close(cfd_);
    }
    cfd_ = -1;
  }
  std::string out = base_record("connection");
  std::string tail;
  JsonWriter t(tail);
  t.begin_object();
  const char* action = "none";
  switch (action_) {
    case Action::kNone: action = "none"; break;
    case Action::kSplice: action = "splice"; break;
    case Action::kBump: action = "bump"; break;
    case Action::kBlock: action = "block"; break;
    case Action::kPlain: action = "plain"; break;
    case Action::kFailurePage: action = "bump"; break;
  }
  t.field("action", action);
  if (!verdict_.rule.empty()) {
    t.field("verdict", verdict_name(verdict_.verdict));
    t.field("rule", verdict_.rule);
    if (!verdict_.list.empty()) t.field("list", verdict_.list);
  }
  if (verdict_.never_intercept) t.field("never_intercept", true);
  t.field("outcome", outcome);
  if (!reason.empty()) t.field("reason", reason);
  t.field("bytes_up", bytes_up_);
  t.field("bytes_down", bytes_down_);
  t.field("requests", requests_);
  t.field("duration_ms", (monotonic_ns() - started_ns_) / 1'000'000);
  t.end_object();
  out += ',';
  out.append(tail, 1, std::string::npos);
  ctx_.audit.write(out);
  bump(ctx_.stats.connections_closed);
  ctx_.active.fetch_sub(1, std::memory_order_relaxed);
  loop_.retire(this);
}

}  // namespace sluice::intercept
