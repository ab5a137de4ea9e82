// The appliance's bypass table, followed by sluice-intercept for the flows it decides itself.
// The dataplane applies bypass entries (those a manager added and those learned from refused
// certificates) before it hands a flow over, but explicit-proxy flows (CONNECT) never meet that
// verdict: without this, a pinned app behind the explicit proxy would fail for ever. A thread
// reads GET /v1/bypass every `learning.bypass_refresh` and swaps in a new BypassSet; each new
// connection takes the current set. When the API cannot be read the last set stays (counted,
// and said once on stderr until it can be read again).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ctl/api_client.h"
#include "dataplane/policy/bypass_set.h"
#include "interceptor/intercept_config.h"
#include "interceptor/intercept_stats.h"

namespace sluice::intercept {

// The set a GET /v1/bypass body ({"entries":[...]}) describes, without the entries that have
// expired by `now`. InvalidArgument naming the entry that is wrong: the caller keeps what it had.
absl::StatusOr<std::unique_ptr<const BypassSet>> bypass_set_from_api(std::string_view body,
                                                                     absl::Time now);

class BypassFollower {
 public:
  // Null when learning.api is not set or learning.bypass_refresh is 0. Does not wait for the
  // first read: until it arrives the set is empty (flows keep the policy's verdict).
  static absl::StatusOr<std::unique_ptr<BypassFollower>> start(const InterceptConfig& config,
                                                               InterceptStats& stats);
  ~BypassFollower();

  // Never null; cheap (a shared pointer copied under a mutex held for nothing else).
  std::shared_ptr<const BypassSet> current() const;

 private:
  BypassFollower(InterceptStats& stats, ctl::ApiTarget target, uint64_t refresh_ns);
  void run();
  void refresh(const ctl::ApiClient& client);

  InterceptStats& stats_;
  const ctl::ApiTarget target_;
  const uint64_t refresh_ns_;
  bool failing_ = false;  // run() thread only: whether the last read failed

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<const BypassSet> current_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::intercept
