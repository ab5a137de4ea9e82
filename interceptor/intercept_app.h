// Everything `sluice-intercept run` starts, in order, from a validated configuration: the CA,
// the audit sink, the learning reporter, the forger, both TLS contexts, the shared policy, the
// URL rules, the resolver and the server with its loop threads. Used by intercept_main.cc and
// by tests that need a whole interceptor in their own process (e.g. to call adopt_transparent).
#pragma once

#include <atomic>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "interceptor/intercept_config.h"
#include "interceptor/handoff/receiver.h"
#include "interceptor/intercept_server.h"

namespace sluice::intercept {

class InterceptApp {
 public:
  static absl::StatusOr<std::unique_ptr<InterceptApp>> start(const InterceptConfig& config);
  ~InterceptApp();

  InterceptServer& server() { return *server_; }
  InterceptStats& stats() { return stats_; }
  AuditSink& audit() { return *audit_; }
  std::string policy_summary() const { return ctx_->policy->summary(); }
  // Stops the loops, then delivers the queued learning reports; idempotent.
  void stop();

 private:
  explicit InterceptApp(const InterceptConfig& config) : config_(config) {}
  InterceptConfig config_;
  InterceptStats stats_;
  std::unique_ptr<AuditSink> audit_;
  std::unique_ptr<FailureReporter> reporter_;
  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<InterceptServer> server_;
  // The dataplane handoff: its receiver runs on a thread of its own (adoption is a handful of
  // system calls; the loops only ever see finished sockets, through adopt_transparent()).
  std::unique_ptr<handoff::HandoffReceiver> handoff_;
  std::atomic<bool> handoff_stop_{false};
  std::thread handoff_thread_;
};

}  // namespace sluice::intercept
