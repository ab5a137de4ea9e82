// The relay half of Connection: moving bytes both ways once the handshakes are done (raw for a
// splice, through OpenSSL for a bump), and the HTTP/1.1 inspection of bumped and plain-proxy
// flows (audit records, URL rules, the pages sluice-intercept answers with itself).
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "absl/strings/str_cat.h"
#include "interceptor/connection.h"
#include "interceptor/error_pages.h"
#include "interceptor/http1_forwarding.h"

namespace sluice::intercept {

namespace {
// After one side reset, how long the other may go without taking any of the bytes still meant
// for it before it is reset all the same.
constexpr uint64_t kResetStallNs = 10'000'000'000ULL;
}  // namespace

// ---- relay ---------------------------------------------------------------------------------

void Connection::start_relay() {
  phase_ = Phase::kRelay;
  deadline_ns_ = monotonic_ns() + ctx_.config.idle_timeout_ns;
  const size_t head_cap = ctx_.config.max_head_bytes;
  switch (action_) {
    case Action::kBump:
      up_.parser.emplace(Http1Parser::Role::kRequest, head_cap);
      down_.parser.emplace(Http1Parser::Role::kResponse, head_cap);
      break;
    case Action::kPlain:
      up_.buf = plain_head_;
      up_.safe = up_.buf.size();
      bytes_up_ += plain_head_.size();
      up_.msg_bytes = plain_head_.size();
      down_.parser.emplace(Http1Parser::Role::kResponse, head_cap);
      parse_new_bytes(up_, true, up_.buf.size());  // a request without a body is complete now
      break;
    case Action::kFailurePage:
      up_.parser.emplace(Http1Parser::Role::kRequest, head_cap);
      break;
    case Action::kSplice:
      if (hello_kind_ == FirstFlightKind::kHttp) {  // plain HTTP in a tunnel: inspected
        up_.parser.emplace(Http1Parser::Role::kRequest, head_cap);
        down_.parser.emplace(Http1Parser::Role::kResponse, head_cap);
      }
      break;
    default:
      break;
  }
}

Connection::Io Connection::read_side(bool upstream, char* buf, size_t cap, size_t& n) {
  n = 0;
  SSL* ssl = upstream ? ussl_.get() : cssl_.get();
  const int fd = upstream ? ufd_ : cfd_;
  if (ssl != nullptr) {
    ERR_clear_error();
    errno = 0;  // read below only after a system call failed: not another socket's leftover
    if (SSL_read_ex(ssl, buf, cap, &n) == 1) return Io::kOk;
    const int err = SSL_get_error(ssl, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Io::kBlocked;
    if (err == SSL_ERROR_ZERO_RETURN) return Io::kEof;
    const unsigned long e = ERR_peek_last_error();
    // A peer that closes TCP without close_notify is an ordinary end of stream on the web.
    if (err == SSL_ERROR_SYSCALL || ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      ERR_clear_error();
      return err == SSL_ERROR_SYSCALL && errno == ECONNRESET ? Io::kError : Io::kEofUnsigned;
    }
    // A fatal TLS error on the server's side after the handshake (an alert, a bad record): its
    // sessions are not resumed (RFC 5246 7.2.2).
    if (upstream && err == SSL_ERROR_SSL) loop_.upstream_sessions().forget(session_key_);
    return Io::kError;
  }
  const ssize_t r = ::recv(fd, buf, cap, 0);
  if (r > 0) {
    n = static_cast<size_t>(r);
    return Io::kOk;
  }
  if (r == 0) return Io::kEof;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Io::kBlocked;
  return Io::kError;
}

Connection::Io Connection::write_side(bool upstream, const char* buf, size_t len, size_t& n) {
  n = 0;
  SSL* ssl = upstream ? ussl_.get() : cssl_.get();
  const int fd = upstream ? ufd_ : cfd_;
  if (ssl != nullptr) {
    ERR_clear_error();
    if (SSL_write_ex(ssl, buf, len, &n) == 1) return Io::kOk;
    const int err = SSL_get_error(ssl, 0);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return Io::kBlocked;
    ERR_clear_error();
    // After a TLS failure OpenSSL allows no more I/O; after a failed system call what the
    // peer sent before can still be read.
    return err == SSL_ERROR_SSL ? Io::kBroken : Io::kError;
  }
  const ssize_t r = ::send(fd, buf, len, MSG_NOSIGNAL);
  if (r >= 0) {
    n = static_cast<size_t>(r);
    return Io::kOk;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return Io::kBlocked;
  return Io::kError;
}

void Connection::shut_side(bool upstream, bool close_notify) {
  SSL* ssl = upstream ? ussl_.get() : cssl_.get();
  const int fd = upstream ? ufd_ : cfd_;
  if (ssl != nullptr && close_notify) {
    ERR_clear_error();
    SSL_shutdown(ssl);  // close_notify; the peer's answer is not waited for
    ERR_clear_error();
  }
  if (fd >= 0) ::shutdown(fd, SHUT_WR);
}

bool Connection::pump(Direction& d, bool to_upstream) {
  if (to_upstream ? server_reset_ : client_reset_) return drop_toward_reset(d, to_upstream);
  bool progress = false;
  if (d.resume) {  // the server declined a switch: the bytes after that request are HTTP
    d.resume = false;
    progress = true;
    parse_new_bytes(d, to_upstream, d.safe);
    if (phase_ != Phase::kRelay) return true;
  }
  const bool has_src = to_upstream || ufd_ >= 0;
  bool has_dst = !to_upstream || ufd_ >= 0;
  const size_t cap = ctx_.config.buffer_bytes;
  // A head leaves only once it is whole (a request's is judged first, a plain proxy response's
  // rewritten), so while one is read the buffer holds it on top of what waits to be sent: with
  // room for buffer_bytes only, a head longer than that would never end.
  const bool holds_heads = to_upstream || action_ == Action::kPlain;
  const auto limit = [&] {
    return holds_heads && d.parser && d.parser->mid_head() ? cap + ctx_.config.max_head_bytes : cap;
  };
  while (has_src && !d.eof && !d.hold && d.buf.size() - d.sent < limit()) {
    if (d.sent == d.buf.size()) {
      d.buf.clear();
      d.sent = d.safe = 0;
    } else if (d.sent >= cap) {
      d.buf.erase(0, d.sent);
      d.safe -= d.sent;
      d.sent = 0;
    }
    const size_t old = d.buf.size();
    const size_t room = limit() - (old - d.sent);
    d.buf.resize(old + room);
    size_t n = 0;
    const Io io = read_side(!to_upstream, d.buf.data() + old, room, n);
    d.buf.resize(old + n);
    if (io == Io::kOk) {
      progress = true;
      (to_upstream ? bytes_up_ : bytes_down_) += n;
      if (d.parser) {
        if (d.awaiting_switch) continue;  // kept, unparsed, until the server answers
        parse_new_bytes(d, to_upstream, old);
        if (phase_ != Phase::kRelay) return true;
      } else if (to_upstream && hello_kind_ == FirstFlightKind::kServerFirst && !client_spoke_) {
        // A tunnel spliced as server-first (limits.server_first_wait): the client's first bytes
        // wait here until they can be told. A ClientHello or an HTTP request after the silence
        // would go uninspected, so either ends the tunnel; anything else goes on.
        const FlightGuess guess = guess_first_flight(ByteSpan(
            reinterpret_cast<const uint8_t*>(d.buf.data()), d.buf.size()));
        if (guess == FlightGuess::kTls || guess == FlightGuess::kHttp) {
          bump(ctx_.stats.blocked);
          action_ = Action::kBlock;
          close("blocked", guess == FlightGuess::kTls
                               ? "a ClientHello after the silence of a server-first tunnel"
                               : "an HTTP request after the silence of a server-first tunnel");
          return true;
        }
        if (guess != FlightGuess::kNeedMore || d.buf.size() >= cap) {
          client_spoke_ = true;
          d.safe = d.buf.size();
        }
      } else {
        d.safe = d.buf.size();
      }
      continue;
    }
    if (io == Io::kBlocked) break;
    if (io == Io::kEof || io == Io::kEofUnsigned) {
      d.eof = true;
      d.eof_unsigned = io == Io::kEofUnsigned;
      progress = true;
      // (Not after a reset noted on a write: that side's next read says end of stream.)
      if (!to_upstream && !server_reset_ && d.parser && !d.parser->opaque() && d.parser->finish() &&
          !pending_.empty()) {
        pending_.front().bytes_down += d.msg_bytes;
        d.msg_bytes = 0;
        on_response_complete();  // a body delimited by the server's close
        if (phase_ != Phase::kRelay) return true;
      }
      break;
    }
    // The source reset (or its TLS failed): what it sent before still goes on, below.
    note_reset(!to_upstream, to_upstream ? "the client reset the connection"
                                         : "the server reset the connection");
    d.eof = true;
    progress = true;
    break;
  }
  has_dst = !to_upstream || ufd_ >= 0;  // a URL-blocked request closes the server's side mid-pump
  if (!has_dst) {
    d.sent = d.safe;  // nowhere to send (the failure page answers locally)
  }
  while (has_dst && d.sent < d.safe) {
    size_t n = 0;
    const Io io = write_side(to_upstream, d.buf.data() + d.sent, d.safe - d.sent, n);
    if (io == Io::kOk) {
      d.sent += n;
      progress = true;
      continue;
    }
    if (io == Io::kBlocked) break;
    note_reset(to_upstream, to_upstream ? "the server stopped reading" : "the client stopped reading");
    if (io == Io::kBroken) (to_upstream ? down_ : up_).eof = true;  // its TLS is gone: nothing more to read
    d.sent = d.safe = d.buf.size();
    moved();
    return true;
  }
  // A source that reset is not ended with a FIN (or a close_notify): its peer is reset too.
  const bool source_reset = to_upstream ? client_reset_ : server_reset_;
  if (has_dst && d.eof && !source_reset && !d.shut && d.sent == d.buf.size()) {
    shut_side(to_upstream, /*close_notify=*/!d.eof_unsigned);
    d.shut = true;
    progress = true;
  }
  if (progress) moved();
  return progress;
}

bool Connection::drop_toward_reset(Direction& d, bool to_upstream) {
  // Nothing can reach the side that reset. The other side is still read, and what it sends is
  // dropped: blocked writing to us, it might never read what we still hand it.
  d.buf.clear();
  d.sent = d.safe = 0;
  const bool has_src = to_upstream || ufd_ >= 0;
  bool progress = false;
  char sink[16384];
  while (has_src && !d.eof) {
    size_t n = 0;
    const Io io = read_side(!to_upstream, sink, sizeof sink, n);
    if (io == Io::kOk) {
      progress = true;
      continue;
    }
    if (io == Io::kBlocked) break;
    d.eof = true;
    progress = true;
    if (io == Io::kError) {  // it reset too
      note_reset(!to_upstream, to_upstream ? "the client reset the connection"
                                           : "the server reset the connection");
    }
  }
  if (progress) moved();
  return progress;
}

uint64_t Connection::stall_limit_ns() const {
  // After a reset only the bytes left for the other side keep a connection open, and only
  // while that side takes them.
  return client_reset_ || server_reset_ ? std::min(kResetStallNs, ctx_.config.idle_timeout_ns)
                                        : ctx_.config.idle_timeout_ns;
}

void Connection::moved() { deadline_ns_ = monotonic_ns() + stall_limit_ns(); }

void Connection::relay() {
  bool progress = true;
  while (progress && phase_ == Phase::kRelay) {
    progress = pump(up_, true);
    if (phase_ != Phase::kRelay) return;
    progress = pump(down_, false) || progress;
  }
  if (phase_ != Phase::kRelay) return;
  if (client_reset_) {
    end_after_reset();
    return;
  }
  if (plain_answered_ && down_.sent == down_.buf.size()) {
    if (client_keep_alive_) {
      await_next_request();
    } else {
      // The answer said `Connection: close`: end it now, whether or not the server closes.
      shut_side(false);
      drain_then_close("closed", "");
    }
    return;
  }
  if (close_after_flush_ && down_.sent == down_.buf.size()) {
    // The client may still be sending (a request body): drained, not reset under our answer.
    shut_side(false);
    drain_then_close(action_ == Action::kFailurePage ? "upstream_refused" : "answered",
                     action_ == Action::kFailurePage ? failure_reason_ : close_reason_);
    return;
  }
  if (server_reset_) {  // after the checks above: a plain answer read in full still counts
    end_after_reset();
    return;
  }
  const bool up_done = up_.eof && (up_.shut || ufd_ < 0);
  const bool down_done = ufd_ < 0 ? up_done : down_.eof && down_.shut;
  if (up_done && down_done) {
    close("closed");
  } else if (down_done && action_ == Action::kPlain) {
    close("closed");  // the answer is complete, and the client's connection is not kept
  }
}

void Connection::note_reset(bool server_side, const char* reason) {
  (server_side ? server_reset_ : client_reset_) = true;
  if (reset_reason_.empty()) reset_reason_ = reason;
}

void Connection::end_after_reset() {
  // A proxy that dropped what it had read when one side reset would turn a server's answer
  // followed by a reset (a 413 before the upload ends, an abort after the last bytes) into a
  // reset alone, and one that ended the other side with a FIN would make a truncated stream
  // look whole. So the reset side's bytes go on, and then its peer is reset.
  const bool to_server = client_reset_;
  const Direction& d = to_server ? up_ : down_;
  const bool survivor_open = to_server ? ufd_ >= 0 : cfd_ >= 0;
  if ((client_reset_ && server_reset_) || !survivor_open) {
    close("reset", reset_reason_);
    return;
  }
  if (!(d.eof || d.hold) || d.sent < d.safe) return;  // still reading it, or handing it over
  phase_ = Phase::kResetting;
  reset_unsent_ = INT_MAX;
  reset_when_sent();
}

void Connection::reset_when_sent() {
  // A reset discards whatever the socket has not sent yet: it waits until the peer has
  // acknowledged everything, as long as the peer keeps taking it (kResetStallNs) and has not
  // gone itself (a reset leaves SIOCOUTQ where it was).
  // The other side is still read, and what it sends dropped: blocked writing to us, it might
  // not read what it has yet to take.
  drop_toward_reset(client_reset_ ? down_ : up_, /*to_upstream=*/!client_reset_);
  const int fd = client_reset_ ? ufd_ : cfd_;
  int unsent = 0;
  tcp_info info{};
  socklen_t len = sizeof info;
  const bool open = !(client_reset_ && server_reset_) &&
                    ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 && info.tcpi_state != TCP_CLOSE;
  if (open && ::ioctl(fd, SIOCOUTQ, &unsent) == 0 && unsent > 0) {
    const uint64_t now = monotonic_ns();
    if (unsent < reset_unsent_) {
      reset_unsent_ = unsent;
      reset_give_up_ns_ = now + stall_limit_ns();
    }
    if (now < reset_give_up_ns_) {
      deadline_ns_ = now;  // looked at again at the socket's next event or the loop's next sweep
      return;
    }
  }
  close("reset", reset_reason_);
}

void Connection::parse_new_bytes(Direction& d, bool requests, size_t from) {
  Http1Parser& p = *d.parser;
  size_t pos = from;
  for (;;) {
    Http1Parser::Event ev;
    const size_t n = p.feed(d.buf.data() + pos, d.buf.size() - pos, ev);
    pos += n;
    d.msg_bytes += n;
    switch (ev) {
      case Http1Parser::Event::kNone:
        // Part of a head waits: a request's for its judgement, a plain proxy response's for
        // its rewriting.
        if (!p.mid_head() || !(requests || action_ == Action::kPlain)) d.safe = pos;
        return;
      case Http1Parser::Event::kError:
        bump(p.head_too_large() ? ctx_.stats.head_limit_hits : ctx_.stats.malformed_http);
        close("malformed_http", absl::StrCat(requests ? "request: " : "response: ", p.error()));
        return;
      case Http1Parser::Event::kHead:
        if (requests) {
          on_request_head(p.head());
          if (phase_ != Phase::kRelay) return;
          if (d.hold) {  // refused: this head and everything after it never leave
            d.buf.resize(d.safe);
            return;
          }
        } else {
          on_response_head(p.head());
          if (phase_ != Phase::kRelay) return;
          if (action_ == Action::kPlain) rewrite_response_head(d, pos, p.head());
        }
        d.safe = pos;
        break;
      case Http1Parser::Event::kMessageComplete:
        if (requests) {
          if (!pending_.empty()) pending_.back().bytes_up += d.msg_bytes;
          d.msg_bytes = 0;
          d.safe = pos;
          if (action_ == Action::kPlain) {  // the server's connection carries this one only
            request_complete_ = true;
            // Bytes read behind the request (pipelined) would go with the server connection:
            // the client is told its connection ends, and sends them again (RFC 9112 9.3.2).
            if (pos < d.buf.size()) client_keep_alive_ = false;
            d.hold = true;
            d.buf.resize(pos);
            return;
          }
          if (!pending_.empty() && pending_.back().asks_switch) {
            d.awaiting_switch = true;  // what follows waits for the answer (Direction)
            return;
          }
        } else {
          if (!pending_.empty()) pending_.front().bytes_down += d.msg_bytes;
          d.msg_bytes = 0;
          d.safe = pos;
          on_response_complete();
          if (phase_ != Phase::kRelay) return;
          if (action_ == Action::kPlain && request_complete_ && pending_.empty()) {
            // Answered in full: once this is flushed the client's connection waits for its
            // next request, or ends. Anything more the server sends is not for the client.
            plain_answered_ = true;
            d.hold = true;
            d.buf.resize(pos);
            return;
          }
          if (down_.hold) {
            d.buf.resize(d.safe);
            return;
          }
        }
        break;
    }
  }
}

void Connection::on_request_head(const Http1Head& head) {
  ++requests_;
  bump(ctx_.stats.http_requests);
  Pending p;
  p.ts_ns = unix_now_ns();
  p.method = head.method;
  p.host = std::string(head.header("host"));
  if (p.host.empty()) p.host = !sni_.empty() ? sni_ : connect_host_;
  p.path = head.target;
  p.asks_switch = head.method == "CONNECT" || !head.header("upgrade").empty();
  if (action_ == Action::kFailurePage) {
    p.verdict = "refused";
    p.rule = failure_reason_;
    p.status = 502;
    write_request_record(p);
    up_.hold = true;
    const std::string name = !sni_.empty() ? sni_ : !connect_host_.empty() ? connect_host_ : server_ip_;
    down_.buf += failure_page_response(name, failure_reason_);
    down_.safe = down_.buf.size();
    close_after_flush_ = true;
    return;
  }
  // The Host is judged by the domain policy too: the flow was allowed for its SNI (or first
  // Host), and a request may name another site (domain fronting, a kept connection).
  std::string rule = blocked_request_host(head);
  const bool by_host = !rule.empty();
  if (!by_host) rule = std::string(ctx_.url_rules->match(url_for_rules(p.host, p.path), loop_.url_scratch()));
  if (!rule.empty()) {
    if (by_host) bump(ctx_.stats.request_hosts_blocked);
    record_url_block(p, rule);
    up_.hold = true;
    close_reason_ = absl::StrCat(by_host ? "rule " : "url rule ", p.rule, by_host ? " (the request's Host)" : "");
    blocked_response_ = blocked_page_response(p.host, p.path, p.rule);
    if (pending_.empty()) {
      on_response_complete();
    } else {
      block_after_responses_ = true;
    }
    return;
  }
  pending_.push_back(std::move(p));
}

void Connection::on_response_head(const Http1Head& head) {
  if (pending_.empty()) return;
  Pending& front = pending_.front();
  front.status = head.status;
  if (head.status == 101 || (front.method == "CONNECT" && head.status / 100 == 2)) {
    // The rest of the connection is not HTTP: relay it as it is, with what the client sent
    // behind the request (a plain proxy's client, too, goes on sending: it is a tunnel now).
    up_.parser->set_opaque();
    down_.parser->set_opaque();
    write_request_record(front);
    pending_.pop_front();
    up_.awaiting_switch = false;
    up_.safe = up_.buf.size();
    if (action_ == Action::kPlain) {
      up_.hold = false;
      client_keep_alive_ = false;
    }
    return;
  }
  if (front.asks_switch && head.status >= 200 && up_.awaiting_switch) {
    up_.awaiting_switch = false;  // declined: the connection stays HTTP
    up_.resume = true;
  }
  if (front.method == "HEAD") down_.parser->set_no_body();
}

void Connection::rewrite_response_head(Direction& d, size_t& end, const Http1Head& head) {
  const bool interim = head.status / 100 == 1;
  // The client's connection outlives this response only if the response ends by its framing,
  // not by the server's close, and the request went to the server in full before it.
  if (!interim && (!request_complete_ || d.parser->body_until_close())) client_keep_alive_ = false;
  const std::string forwarded = forwarded_response_head(head, !interim && !client_keep_alive_);
  d.buf.replace(d.safe, end - d.safe, forwarded);
  end = d.safe + forwarded.size();
}

void Connection::await_next_request() {
  plain_answered_ = false;
  if (ufd_ >= 0) {
    loop_.unwatch(ufd_);
    ::close(ufd_);
    ufd_ = -1;
  }
  uwatch_.fd = -1;
  server_reset_ = false;  // the answer was whole; how the server's connection ended is moot
  reset_reason_.clear();
  up_ = Direction{};
  down_ = Direction{};
  // The next request names its own server and is judged afresh.
  verdict_ = FlowVerdict{};
  candidates_.clear();
  candidate_ = 0;
  earlier_attempts_.clear();
  connect_started_ns_ = 0;
  connect_host_.clear();
  connect_port_ = 0;
  server_addr_ = {};
  server_len_ = 0;
  server_ip_.clear();
  server_port_ = 0;
  hello_kind_ = FirstFlightKind::kNone;
  resolve_error_.clear();
  http_host_.clear();
  sni_.clear();
  ja4_.clear();
  anomalies_ = AnomalySet{};
  client_spoke_ = false;
  plain_head_.clear();
  request_complete_ = false;
  phase_ = Phase::kProxyRequest;
  deadline_ns_ = monotonic_ns() + ctx_.config.idle_timeout_ns;
}

void Connection::on_response_complete() {
  if (!pending_.empty()) {
    if (pending_.front().status >= 100 && pending_.front().status < 200) return;  // interim
    write_request_record(pending_.front());
    pending_.pop_front();
  }
  if ((block_after_responses_ || !blocked_response_.empty()) && pending_.empty() && !close_after_flush_ &&
      up_.hold) {
    // Answer the refused request after every earlier one, then end the connection.
    down_.buf.resize(down_.safe);
    down_.buf += blocked_response_;
    down_.safe = down_.buf.size();
    down_.hold = true;
    close_after_flush_ = true;
    if (ufd_ >= 0) {
      ussl_.reset();
      loop_.unwatch(ufd_);
      ::close(ufd_);
      ufd_ = -1;
    }
  }
}

}  // namespace sluice::intercept
