#include "control/syslog_export.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

// Bytes written per pump, so one pump never holds the management loop for long.
constexpr uint64_t kWriteBudget = 1 << 20;
// Dead bytes at the front of the buffer are moved out once there are this many and at least as
// many as live ones: the memory held stays under twice buffer_bytes, each byte moved O(1) times.
constexpr uint64_t kCompactMin = 64 * 1024;
// A peer that vanishes without closing (host down, link cut) is noticed by TCP itself: data
// unacknowledged this long, or an idle connection whose keepalive probes go unanswered.
constexpr unsigned kUserTimeoutMs = 20'000;
constexpr int kKeepIdleS = 10, kKeepIntervalS = 5, kKeepCount = 3;

absl::Status bad_address(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", std::string(text), "' is not a syslog receiver address: ", std::string(why),
                   " (e.g. 192.0.2.10:514 or [2001:db8::10]:514)"));
}

}  // namespace

uint64_t monotonic_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

absl::StatusOr<SyslogAddress> parse_syslog_address(std::string_view text) {
  absl::StatusOr<SocketAddress> address = parse_socket_address(text);
  if (!address.ok()) return bad_address(text, sv(address.status().message()));
  SyslogAddress out;
  static_cast<SocketAddress&>(out) = *address;
  out.text = std::string(text);
  return out;
}

absl::StatusOr<std::unique_ptr<SyslogExport>> SyslogExport::create(
    const SyslogExportOptions& options) {
  if (options.address.length == 0)
    return absl::InvalidArgumentError("syslog export: no receiver address");
  if (options.facility > 23)
    return absl::InvalidArgumentError("syslog export: facility must be 0 to 23");
  if (!options.hostname.empty() && !valid_syslog_hostname(options.hostname))
    return absl::InvalidArgumentError(absl::StrCat(
        "syslog export: hostname '", options.hostname,
        "' is not 1 to 255 printable ASCII characters without spaces"));
  return std::unique_ptr<SyslogExport>(new SyslogExport(options));
}

SyslogExport::SyslogExport(const SyslogExportOptions& options) : options_(options) {
  header_.facility = options.facility;
  header_.hostname = options.hostname;
  if (header_.hostname.empty()) {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) == 0 && valid_syslog_hostname(name))
      header_.hostname = name;
  }
  header_.procid = static_cast<uint32_t>(getpid());
  backoff_ns_ = options.backoff_min_ns;
}

SyslogExport::~SyslogExport() {
  if (fd_ >= 0) ::close(fd_);
}

bool SyslogExport::enqueue(const AuditEvent& event, std::string_view json) {
  const uint32_t sequence = next_sequence_;
  next_sequence_ = sequence == kMaxSyslogSequenceId ? 1 : sequence + 1;
  const size_t before = bytes_.size();
  append_syslog_frame(bytes_, scratch_, header_, sequence, event, json);
  const uint64_t length = bytes_.size() - before;
  auto held_bytes = [&] { return base_pos_ + bytes_.size() - head_pos_; };
  // Acknowledged records are most likely delivered: they make room before a new one is refused.
  while (held_bytes() > options_.buffer_bytes && acked_count_ > 0) {
    release_front();
    counters_.released_early.fetch_add(1, std::memory_order_relaxed);
  }
  if (held_bytes() > options_.buffer_bytes) {
    bytes_.resize(before);
    counters_.dropped.fetch_add(1, std::memory_order_relaxed);
    publish_gauges();
    return false;
  }
  held_.push_back({static_cast<uint32_t>(length), 0});
  counters_.queued.fetch_add(1, std::memory_order_relaxed);
  publish_gauges();
  return true;
}

void SyslogExport::pump(uint64_t now_ns) {
  if (fd_ < 0 && now_ns >= next_attempt_ns_) start_connect(now_ns);
  if (fd_ >= 0 && connecting_) check_connect(now_ns);
  if (fd_ >= 0 && !connecting_) {
    if (peer_closed() || !write_some()) {
      fail(now_ns, true);
    } else {
      learn_acks(now_ns);
    }
  }
  release(now_ns);
  const uint64_t dead = head_pos_ - base_pos_;
  if (dead >= kCompactMin && dead >= bytes_.size() - dead) {
    bytes_.erase(0, dead);
    base_pos_ = head_pos_;
  }
  publish_gauges();
}

uint64_t SyslogExport::finish(uint64_t deadline_ns) {
  next_attempt_ns_ = 0;  // a receiver in back-off gets one more try now
  for (;;) {
    const uint64_t now = monotonic_now_ns();
    pump(now);
    if (acked_count_ == held_.size() || now >= deadline_ns) break;
    // Wake when the socket can take more (or breaks), or in 10 ms to read acknowledgements.
    const uint64_t wait_ns = std::min<uint64_t>(deadline_ns - now, 10'000'000);
    pollfd p{fd_, static_cast<short>(connecting_ || send_pos_ < base_pos_ + bytes_.size()
                                         ? POLLOUT
                                         : POLLIN),
             0};
    ::poll(&p, fd_ >= 0 ? 1 : 0, static_cast<int>(wait_ns / 1'000'000) + 1);
  }
  return held_.size() - acked_count_;
}

void SyslogExport::start_connect(uint64_t now_ns) {
  const int family = options_.address.storage.ss_family;
  fd_ = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    last_error_ = absl::StrCat("cannot create a socket: ", std::strerror(errno));
    fail(now_ns, false);
    return;
  }
  const int on = 1;
  setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdleS, sizeof(kKeepIdleS));
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepIntervalS, sizeof(kKeepIntervalS));
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPCNT, &kKeepCount, sizeof(kKeepCount));
  setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &kUserTimeoutMs, sizeof(kUserTimeoutMs));
  connect_started_ns_ = now_ns;
  connecting_ = true;
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&options_.address.storage),
                options_.address.length) != 0 &&
      errno != EINPROGRESS) {
    last_error_ = std::strerror(errno);
    fail(now_ns, false);
  }
}

void SyslogExport::check_connect(uint64_t now_ns) {
  pollfd p{fd_, POLLOUT, 0};
  if (::poll(&p, 1, 0) <= 0) {
    if (now_ns - connect_started_ns_ >= options_.connect_timeout_ns) {
      last_error_ = "connect timed out";
      fail(now_ns, false);
    }
    return;
  }
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error != 0) {
    last_error_ = std::strerror(error);
    fail(now_ns, false);
    return;
  }
  connecting_ = false;
  send_pos_ = head_pos_;
  acked_pos_ = head_pos_;
  counters_.connects.fetch_add(1, std::memory_order_relaxed);
}

bool SyslogExport::peer_closed() {
  // A syslog receiver never sends: readable means it closed or reset the connection. Anything
  // it does send is read and ignored, a little per pump.
  char discard[512];
  for (int i = 0; i < 8; ++i) {
    const ssize_t n = ::recv(fd_, discard, sizeof(discard), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) {
      last_error_ = "the receiver closed the connection";
      return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == EINTR) continue;
    last_error_ = std::strerror(errno);
    return true;
  }
  return false;
}

bool SyslogExport::write_some() {
  uint64_t budget = kWriteBudget;
  const uint64_t tail = base_pos_ + bytes_.size();
  while (send_pos_ < tail && budget > 0) {
    const uint64_t length = std::min(tail - send_pos_, budget);
    const ssize_t n = ::send(fd_, bytes_.data() + (send_pos_ - base_pos_), length,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      send_pos_ += static_cast<uint64_t>(n);
      budget -= static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    last_error_ = n == 0 ? "the connection accepted no bytes" : std::strerror(errno);
    return false;
  }
  return true;
}

void SyslogExport::learn_acks(uint64_t now_ns) {
  if (acked_count_ == held_.size()) return;
  int unacked = 0;  // bytes written and not yet acknowledged by the receiver (or not yet sent)
  if (::ioctl(fd_, SIOCOUTQ, &unacked) != 0 || unacked < 0) return;
  const uint64_t acked_to = send_pos_ - static_cast<uint64_t>(unacked);
  bool progress = false;
  while (acked_count_ < held_.size() && acked_pos_ + held_[acked_count_].length <= acked_to) {
    held_[acked_count_].acked_ns = std::max<uint64_t>(now_ns, 1);
    acked_pos_ += held_[acked_count_].length;
    ++acked_count_;
    progress = true;
    counters_.acknowledged.fetch_add(1, std::memory_order_relaxed);
  }
  // A connection that carries data ends a series of failures.
  if (progress) backoff_ns_ = options_.backoff_min_ns;
}

void SyslogExport::release(uint64_t now_ns) {
  while (acked_count_ > 0 && held_.front().acked_ns + options_.resend_window_ns <= now_ns)
    release_front();
}

void SyslogExport::release_front() {
  head_pos_ += held_.front().length;
  held_.pop_front();
  --acked_count_;
}

void SyslogExport::fail(uint64_t now_ns, bool was_connected) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  connecting_ = false;
  if (was_connected) {
    counters_.disconnects.fetch_add(1, std::memory_order_relaxed);
    // Everything still held that was written, even partly, goes again on the next connection.
    uint64_t pos = head_pos_;
    uint64_t again = 0;
    for (size_t i = 0; i < held_.size() && pos < send_pos_; ++i) {
      pos += held_[i].length;
      ++again;
    }
    counters_.resent.fetch_add(again, std::memory_order_relaxed);
    for (size_t i = 0; i < acked_count_; ++i) held_[i].acked_ns = 0;
  } else {
    counters_.connect_failures.fetch_add(1, std::memory_order_relaxed);
  }
  acked_count_ = 0;
  acked_pos_ = head_pos_;
  send_pos_ = head_pos_;
  next_attempt_ns_ = now_ns + backoff_ns_;
  backoff_ns_ = std::min(backoff_ns_ * 2, options_.backoff_max_ns);
}

void SyslogExport::publish_gauges() {
  counters_.buffered_records.store(held_.size(), std::memory_order_relaxed);
  counters_.buffered_bytes.store(base_pos_ + bytes_.size() - head_pos_, std::memory_order_relaxed);
  counters_.unacknowledged_records.store(held_.size() - acked_count_, std::memory_order_relaxed);
  counters_.connected.store(fd_ >= 0 && !connecting_, std::memory_order_relaxed);
}

SyslogExportStats SyslogExport::stats() const {
  SyslogExportStats s;
  s.queued = counters_.queued.load(std::memory_order_relaxed);
  s.dropped = counters_.dropped.load(std::memory_order_relaxed);
  s.acknowledged = counters_.acknowledged.load(std::memory_order_relaxed);
  s.resent = counters_.resent.load(std::memory_order_relaxed);
  s.released_early = counters_.released_early.load(std::memory_order_relaxed);
  s.connects = counters_.connects.load(std::memory_order_relaxed);
  s.connect_failures = counters_.connect_failures.load(std::memory_order_relaxed);
  s.disconnects = counters_.disconnects.load(std::memory_order_relaxed);
  s.buffered_records = counters_.buffered_records.load(std::memory_order_relaxed);
  s.buffered_bytes = counters_.buffered_bytes.load(std::memory_order_relaxed);
  s.unacknowledged_records = counters_.unacknowledged_records.load(std::memory_order_relaxed);
  s.connected = counters_.connected.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sluice
