// sluice-intercept's server: a fixed set of loop threads (config `threads`), each with its own
// epoll set and its own SO_REUSEPORT listeners (explicit proxy, transparent/TPROXY), and the
// entry point through which the dataplane handoff gives over adopted connections.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "interceptor/event_loop.h"
#include "interceptor/server_context.h"

namespace sluice::intercept {

class InterceptServer {
 public:
  // Builds the loops (scratch, epoll) around a ready context; nothing listens yet.
  static absl::StatusOr<std::unique_ptr<InterceptServer>> create(ServerContext& ctx);
  ~InterceptServer();

  // Binds the configured listeners (one socket per loop) and starts the threads. Sets SIGPIPE
  // to ignored for the whole process (OpenSSL writes to sockets with write()).
  absl::Status start();
  // Stops the threads; every open connection is closed and audited.
  void stop();

  // Thread-safe. Takes ownership of `fd`: a connected TCP socket whose LOCAL address is the
  // server the client wanted (as after TCP_REPAIR adoption with IP_TRANSPARENT) and whose
  // receive queue holds the client's ClientHello, unread. The socket is made non-blocking and
  // handled exactly like a TPROXY connection (peek the ClientHello, policy, splice/bump/block).
  // Returns false, having closed `fd`, when the server is not running; the limit on concurrent
  // connections is applied (and counted) on the loop thread.
  bool adopt_transparent(int fd);

 private:
  explicit InterceptServer(ServerContext& ctx) : ctx_(ctx) {}
  ServerContext& ctx_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> next_loop_{0};
};

// "ADDRESS:PORT" / "[V6]:PORT" -> a listening socket (SO_REUSEPORT; IP_TRANSPARENT when asked).
absl::StatusOr<int> listen_on(const std::string& address, bool transparent);

}  // namespace sluice::intercept
