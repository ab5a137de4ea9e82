// One loop thread: an epoll set over its listeners and its connections' sockets, a task queue
// other threads post to (eventfd), a sweep of deadlines twice a second, and its own cache of
// resumable server sessions. A connection lives on one loop from accept (or adoption) to close;
// nothing it owns is touched by another thread.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "interceptor/flow_policy.h"
#include "interceptor/server_context.h"
#include "interceptor/upstream_sessions.h"
#include "interceptor/verified_chains.h"
#include "interceptor/url_rules.h"

namespace sluice::intercept {

class Connection;

enum class ListenerKind : uint8_t { kExplicit, kTransparent };

// What an epoll event points at.
struct Watch {
  enum class Kind : uint8_t { kListener, kClient, kUpstream, kWake } kind;
  Connection* connection = nullptr;
  ListenerKind listener = ListenerKind::kExplicit;
  int fd = -1;
};

class Loop {
 public:
  Loop(ServerContext& ctx, int index);
  ~Loop();
  absl::Status init();  // epoll, eventfd, per-thread scratch

  void add_listener(int fd, ListenerKind kind);
  void run();   // until stop()
  void stop();  // thread-safe
  void post(std::function<void()> task);  // thread-safe

  // On the loop thread: takes a connected client socket.
  void take(int fd, ListenerKind kind, bool adopted);

  // For connections.
  bool watch(int fd, Watch* w, uint32_t events);
  void unwatch(int fd);
  Connection* find(uint64_t id);
  void retire(Connection* c);  // deleted after the current batch of events
  ServerContext& ctx() { return ctx_; }
  FlowPolicy::Scratch& policy_scratch() { return policy_scratch_; }
  UrlRules::Scratch& url_scratch() { return *url_scratch_; }
  // Whether ADDRESS is one of this host's (its interfaces' addresses, as getifaddrs lists them,
  // looked up again when the list is more than a few seconds old).
  bool is_own_address(const IpAddress& address);
  UpstreamSessions& upstream_sessions() { return upstream_sessions_; }
  VerifiedChains& verified_chains() { return verified_chains_; }
  int index() const { return index_; }

 private:
  void accept_from(Watch& w);
  void run_tasks();
  void sweep();

  ServerContext& ctx_;
  int index_;
  int epfd_ = -1;
  int wakefd_ = -1;
  // Held in reserve: out of descriptors, a waiting connection would keep the (level-triggered)
  // listener ready and the loop spinning; with this one freed it is accepted and reset instead.
  int reserve_fd_ = -1;
  Watch wake_watch_{Watch::Kind::kWake};
  std::vector<std::unique_ptr<Watch>> listeners_;
  std::mutex tasks_mutex_;
  std::vector<std::function<void()>> tasks_;
  std::atomic<bool> stop_requested_{false};
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> retired_;
  FlowPolicy::Scratch policy_scratch_;
  std::vector<IpAddress> own_addresses_;
  uint64_t own_addresses_ns_ = 0;  // when they were listed; 0: never
  std::unique_ptr<UrlRules::Scratch> url_scratch_;
  UpstreamSessions upstream_sessions_;  // this thread's alone: no lock
  VerifiedChains verified_chains_;      // likewise
};

}  // namespace sluice::intercept
