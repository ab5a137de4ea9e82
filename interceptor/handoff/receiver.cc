#include "interceptor/handoff/receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "control/unique_fd.h"
#include "interceptor/handoff/adopt.h"

namespace sluice::handoff {
namespace {

absl::StatusOr<sockaddr_in> ipv4(const std::string& address, uint16_t port, const char* what) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &a.sin_addr) != 1)
    return absl::InvalidArgumentError(
        absl::StrCat("handoff receiver: ", what, " '", address, "' is not an IPv4 address"));
  return a;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HandoffReceiver>> HandoffReceiver::open(
    const ReceiverOptions& options) {
  absl::StatusOr<sockaddr_in> listen = ipv4(options.listen_address, options.port, "listen address");
  if (!listen.ok()) return listen.status();
  absl::StatusOr<sockaddr_in> peer = ipv4(options.dataplane_address, options.port, "dataplane address");
  if (!peer.ok()) return peer.status();
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, "handoff receiver: socket()");
  // SO_RCVBUFFORCE passes the rmem_max cap (we run with CAP_NET_ADMIN anyway, for repair).
  const int size = options.receive_buffer_bytes;
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&*listen), sizeof(*listen)) != 0) {
    const int e = errno;
    return absl::ErrnoToStatus(e, absl::StrCat("handoff receiver: bind ", options.listen_address,
                                                   ":", options.port, " (is this the appliance "
                                                   "namespace?)"));
  }
  // Connected: heartbeats need no address, and only the dataplane's datagrams are read.
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&*peer), sizeof(*peer)) != 0) {
    const int e = errno;
    return absl::ErrnoToStatus(e, absl::StrCat("handoff receiver: no route to the dataplane at ",
                                                   options.dataplane_address));
  }
  return std::unique_ptr<HandoffReceiver>(new HandoffReceiver(fd.release(), options));
}

HandoffReceiver::HandoffReceiver(int fd, const ReceiverOptions& options)
    : fd_(fd), options_(options), buffer_(kMaxMessageBytes + 1) {}

HandoffReceiver::~HandoffReceiver() { close(fd_); }

void HandoffReceiver::maybe_heartbeat() {
  const absl::Time now = absl::Now();
  if (now < next_heartbeat_) return;
  next_heartbeat_ = now + options_.heartbeat_interval;
  uint8_t beat[kPrefixBytes];
  const size_t n = encode_heartbeat(beat, sizeof(beat));
  if (send(fd_, beat, n, MSG_DONTWAIT) == static_cast<ssize_t>(n)) ++stats_.heartbeats_sent;
}

size_t HandoffReceiver::poll(const AdoptedFn& adopted, const ErrorFn& error) {
  maybe_heartbeat();
  size_t count = 0;
  for (;;) {
    const ssize_t n = recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT);
    if (n < 0) {
      // ECONNREFUSED: an ICMP error from a heartbeat the dataplane did not take; harmless.
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == EINTR || errno == ECONNREFUSED) continue;
      error(absl::ErrnoToStatus(errno, "handoff receiver: recv"));
      break;
    }
    ++stats_.messages;
    maybe_heartbeat();  // a long burst of handoffs must not make the interceptor look absent
    const std::span<const uint8_t> datagram(buffer_.data(), static_cast<size_t>(n));
    absl::StatusOr<Handoff> h = decode_handoff(datagram);
    if (!h.ok()) {
      ++stats_.malformed;
      error(h.status());
      continue;
    }
    absl::StatusOr<int> fd = adopt(*h);
    if (!fd.ok()) {
      ++stats_.adopt_failed;
      error(fd.status());
      continue;
    }
    ++stats_.adopted;
    ++count;
    adopted(*fd, *h);
  }
  return count;
}

void HandoffReceiver::run(const std::atomic<bool>& stop, const AdoptedFn& adopted,
                          const ErrorFn& error) {
  const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(options_.heartbeat_interval));
  while (!stop.load(std::memory_order_relaxed)) {
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, wait_ms > 0 ? wait_ms : 1);
    poll(adopted, error);
  }
}

}  // namespace sluice::handoff
