#include "interceptor/event_loop.h"

#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "interceptor/connection.h"

namespace sluice::intercept {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

Loop::Loop(ServerContext& ctx, int index)
    : ctx_(ctx),
      index_(index),
      upstream_sessions_(ctx.config.session_cache_entries),
      verified_chains_(ctx.config.verify_cache_entries,
                       static_cast<int64_t>(ctx.config.verify_cache_ttl_ns / 1'000'000'000ULL),
                       &ctx.stats.upstream_chains_cached) {}

Loop::~Loop() {
  connections_.clear();
  for (auto& l : listeners_) ::close(l->fd);
  if (wakefd_ >= 0) ::close(wakefd_);
  if (epfd_ >= 0) ::close(epfd_);
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

absl::Status Loop::init() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) return absl::InternalError(absl::StrCat("epoll/eventfd: ", std::strerror(errno)));
  wake_watch_.fd = wakefd_;
  if (!watch(wakefd_, &wake_watch_, EPOLLIN)) return absl::InternalError("cannot watch the eventfd");
  absl::StatusOr<FlowPolicy::Scratch> ps = ctx_.policy->make_scratch();
  if (!ps.ok()) return ps.status();
  policy_scratch_ = std::move(*ps);
  absl::StatusOr<std::unique_ptr<UrlRules::Scratch>> us = ctx_.url_rules->make_scratch();
  if (!us.ok()) return us.status();
  url_scratch_ = std::move(*us);
  return absl::OkStatus();
}

bool Loop::watch(int fd, Watch* w, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = w;
  return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void Loop::unwatch(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void Loop::add_listener(int fd, ListenerKind kind) {
  auto w = std::make_unique<Watch>();
  w->kind = Watch::Kind::kListener;
  w->listener = kind;
  w->fd = fd;
  watch(fd, w.get(), EPOLLIN);
  listeners_.push_back(std::move(w));
}

void Loop::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    tasks_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakefd_, &one, sizeof one);
}

void Loop::stop() {
  stop_requested_.store(true);
  post([] {});
}

Connection* Loop::find(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() || it->second->closed() ? nullptr : it->second.get();
}

void Loop::retire(Connection* c) { retired_.push_back(c->id()); }

void Loop::take(int fd, ListenerKind kind, bool adopted) {
  if (ctx_.active.load(std::memory_order_relaxed) >= ctx_.config.max_connections) {
    bump(ctx_.stats.connections_refused_limit);
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
    return;
  }
  ctx_.active.fetch_add(1, std::memory_order_relaxed);
  bump(adopted ? ctx_.stats.connections_adopted : ctx_.stats.connections_accepted);
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const uint64_t id = next_id_++;
  auto c = std::make_unique<Connection>(*this, id, fd, kind, adopted);
  Connection* raw = c.get();
  connections_.emplace(id, std::move(c));
  raw->start();
}

bool Loop::is_own_address(const IpAddress& address) {
  constexpr uint64_t kRefreshNs = 5'000'000'000ULL;  // addresses change rarely (DHCP, an admin)
  const uint64_t now = monotonic_ns();
  ifaddrs* list = nullptr;
  // A failed listing keeps the last one and is tried again at the next connection.
  if ((own_addresses_ns_ == 0 || now - own_addresses_ns_ > kRefreshNs) && getifaddrs(&list) == 0) {
    own_addresses_ns_ = now;
    own_addresses_.clear();
    for (const ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr) continue;
      if (a->ifa_addr->sa_family == AF_INET) {
        own_addresses_.push_back(IpAddress::from_v4(reinterpret_cast<const uint8_t*>(
            &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr)));
      } else if (a->ifa_addr->sa_family == AF_INET6) {
        own_addresses_.push_back(IpAddress::from_v6(reinterpret_cast<const uint8_t*>(
            &reinterpret_cast<const sockaddr_in6*>(a->ifa_addr)->sin6_addr)));
      }
    }
    freeifaddrs(list);
  }
  return std::find(own_addresses_.begin(), own_addresses_.end(), address) != own_addresses_.end();
}

void Loop::accept_from(Watch& w) {
  // Another thread may have taken the descriptor the reserve let go of last time.
  if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (;;) {
    const int fd = accept4(w.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EMFILE || errno == ENFILE) && reserve_fd_ >= 0) {
      // Out of descriptors: take the connection with the reserve and reset it, counted, rather
      // than leave it ready on the listener (epoll would report it again at once, forever).
      ::close(reserve_fd_);
      const int refused = accept4(w.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (refused >= 0) {
        linger l{1, 0};
        ::setsockopt(refused, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::close(refused);
        bump(ctx_.stats.connections_refused_descriptors);
      }
      reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (refused >= 0) continue;
      return;
    }
    if (fd < 0) return;  // EAGAIN, or an error the next event retries
    take(fd, w.listener, false);
  }
}

void Loop::run_tasks() {
  uint64_t v;
  [[maybe_unused]] ssize_t n = ::read(wakefd_, &v, sizeof v);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    tasks.swap(tasks_);
  }
  for (auto& t : tasks) t();
}

void Loop::sweep() {
  const uint64_t now = monotonic_ns();
  for (auto& [id, c] : connections_) {
    if (!c->closed() && now >= c->deadline_ns()) c->on_deadline(now);
  }
}

void Loop::run() {
  epoll_event events[256];
  uint64_t last_sweep = monotonic_ns();
  while (!stop_requested_.load()) {
    const int n = epoll_wait(epfd_, events, 256, 250);
    for (int i = 0; i < n; ++i) {
      auto* w = static_cast<Watch*>(events[i].data.ptr);
      switch (w->kind) {
        case Watch::Kind::kWake: run_tasks(); break;
        case Watch::Kind::kListener: accept_from(*w); break;
        case Watch::Kind::kClient:
        case Watch::Kind::kUpstream:
          if (!w->connection->closed()) w->connection->on_event(w->kind, events[i].events);
          break;
      }
    }
    const uint64_t now = monotonic_ns();
    if (now - last_sweep >= 250'000'000ULL) {
      sweep();
      last_sweep = now;
    }
    for (uint64_t id : retired_) connections_.erase(id);
    retired_.clear();
  }
  // Shutting down: every open connection gets its audit record.
  for (auto& [id, c] : connections_) {
    if (!c->closed()) c.reset();
  }
  connections_.clear();
  retired_.clear();
}

}  // namespace sluice::intercept
