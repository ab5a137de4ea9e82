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
#include "control/unique_fd.h"

namespace sluice::intercept {

absl::StatusOr<int> listen_on(const std::string& address, bool transparent) {
  const size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("not ADDRESS:PORT: ", address));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(address, ": the address must be numeric"));
  }
  UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (transparent) {
    const int rc = ss.ss_family == AF_INET
                       ? ::setsockopt(fd.get(), SOL_IP, IP_TRANSPARENT, &one, sizeof one)
                       : ::setsockopt(fd.get(), SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one);
    if (rc != 0) {
      const int err = errno;
      return absl::PermissionDeniedError(absl::StrCat(
          "listen.transparent ", address, ": IP_TRANSPARENT: ", std::strerror(err),
          " (needs CAP_NET_ADMIN)"));
    }
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd.get(), 1024) != 0) {
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
