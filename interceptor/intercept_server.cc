#include "interceptor/intercept_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "control/socket_address.h"
#include "control/unique_fd.h"

namespace sluice::intercept {

absl::StatusOr<int> listen_on(const std::string& address, bool transparent) {
  absl::StatusOr<SocketAddress> a = parse_socket_address(address);
  if (!a.ok()) return absl::InvalidArgumentError(absl::StrCat(address, ": ", a.status().message()));
  UniqueFd fd(::socket(a->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (transparent) {
    const int rc = a->family() == AF_INET
                       ? ::setsockopt(fd.get(), SOL_IP, IP_TRANSPARENT, &one, sizeof one)
                       : ::setsockopt(fd.get(), SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one);
    if (rc != 0) {
      const int err = errno;
      return absl::PermissionDeniedError(absl::StrCat(
          "listen.transparent ", address, ": IP_TRANSPARENT: ", std::strerror(err),
          " (needs CAP_NET_ADMIN)"));
    }
  }
  if (::bind(fd.get(), a->get(), a->length) != 0 || ::listen(fd.get(), 1024) != 0) {
    const int err = errno;
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ": ", std::strerror(err)));
  }
  return fd.release();
}

absl::StatusOr<std::unique_ptr<InterceptServer>> InterceptServer::create(ServerContext& ctx) {
  std::unique_ptr<InterceptServer> s(new InterceptServer(ctx));
  for (uint32_t i = 0; i < ctx.config.threads; ++i) {
    auto loop = std::make_unique<Loop>(ctx, static_cast<int>(i));
    if (absl::Status st = loop->init(); !st.ok()) return st;
    s->loops_.push_back(std::move(loop));
  }
  return s;
}

InterceptServer::~InterceptServer() { stop(); }

absl::Status InterceptServer::start() {
  // OpenSSL writes to sockets with write(): a peer that reset its connection must not kill the
  // process with SIGPIPE (the loops see EPIPE instead). Process-wide, on purpose.
  ::signal(SIGPIPE, SIG_IGN);
  for (auto& loop : loops_) {
    if (!ctx_.config.explicit_listen.empty()) {
      absl::StatusOr<int> fd = listen_on(ctx_.config.explicit_listen, false);
      if (!fd.ok()) return absl::Status(fd.status().code(), absl::StrCat("listen.explicit: ", fd.status().message()));
      loop->add_listener(*fd, ListenerKind::kExplicit);
    }
    if (!ctx_.config.transparent_listen.empty()) {
      absl::StatusOr<int> fd = listen_on(ctx_.config.transparent_listen, true);
      if (!fd.ok()) return fd.status();
      loop->add_listener(*fd, ListenerKind::kTransparent);
    }
  }
  running_.store(true);
  for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->run(); });
  return absl::OkStatus();
}

void InterceptServer::stop() {
  if (!running_.exchange(false)) return;
  for (auto& loop : loops_) loop->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool InterceptServer::adopt_transparent(int fd) {
  if (!running_.load() || loops_.empty()) {
    ::close(fd);
    return false;
  }
  Loop* loop = loops_[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops_.size()].get();
  // Owned by the task: a loop stopped before it runs closes the socket with the dropped task.
  auto owned = std::make_shared<UniqueFd>(fd);
  loop->post([loop, owned] { loop->take(owned->release(), ListenerKind::kTransparent, true); });
  return true;
}

}  // namespace sluice::intercept
