// Policy reloads of `sluice run`, built off the management loop. Compiling a large policy takes
// seconds (a 5M-name list about 12 s); done in the loop it would stop audit export and RCU
// reclaim for that long. The reloader builds on its own thread and publishes through
// PolicyPublisher (whose management side may be called from any thread); the loop keeps calling
// reclaim(). SIGHUP and the API share this one reloader.
//
// One reload builds at a time. start() while one builds is refused (Unavailable, naming the
// running one): the caller decides whether to retry (the loop does, for SIGHUP) or to say so
// (the API answers 409). A request is never merged into a build that already read the files,
// so an edit made after a build started is never reported as loaded by it.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "control/api/control_state.h"
#include "dataplane/dpdk/policy_publisher.h"

namespace sluice {

class PolicyReloader {
 public:
  using Log = std::function<void(const std::string&)>;

  // Reloads read the configuration at `config_path`; `loads_so_far` loads already happened (the
  // one at start), so descriptions go on counting "(load N)". `log` gets one line per outcome.
  PolicyReloader(std::string config_path, PolicyPublisher& publisher, uint64_t loads_so_far,
                 Log log);
  // Waits for a build in progress, then stops the thread.
  ~PolicyReloader();

  PolicyReloader(const PolicyReloader&) = delete;
  PolicyReloader& operator=(const PolicyReloader&) = delete;

  // Starts a reload; returns its number. Unavailable while another builds.
  absl::StatusOr<uint64_t> start(std::string origin);
  // Blocks until reload `number` (from start()) has finished; its outcome.
  ReloadResult wait(uint64_t number) const;
  // start() then wait(): what the API's POST /v1/policy/reload does.
  absl::StatusOr<ReloadResult> reload(std::string origin);

  ReloadState state() const;
  // The number of the last reload started (0: none), without the lock: the management loop
  // reads it every pass to tell systemd about reloads whatever started them.
  uint64_t last_started() const { return last_started_.load(std::memory_order_acquire); }

 private:
  void run();

  const std::string config_path_;
  PolicyPublisher& publisher_;
  const Log log_;
  uint64_t loads_;  // touched by the build thread only, after construction

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool requested_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t requests_ ABSL_GUARDED_BY(mu_) = 0;
  ReloadState state_ ABSL_GUARDED_BY(mu_);
  std::deque<ReloadResult> recent_ ABSL_GUARDED_BY(mu_);  // for wait(), newest last
  std::atomic<uint64_t> last_started_{0};  // state_.building_number as start() set it
  std::thread thread_;
};

}  // namespace sluice
