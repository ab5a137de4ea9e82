// Keeps the workers' bypass set in step with the bypass table: every change to the table
// (an API call, an expiry) is written to the state file, then a new BypassSet is published
// beside the running policy. Management side; thread-safe (the API calls it from its own
// threads, the management loop calls tick()).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/bypass_learner.h"
#include "control/bypass_store.h"
#include "dataplane/config/run_config.h"
#include "dataplane/dpdk/policy_publisher.h"

namespace sluice {

class BypassControl {
 public:
  // Opens the state file (creating its directory) and hands the saved entries to `publisher`,
  // which publishes them with the first policy. A state file that cannot be read refuses the
  // start, with the path and what to do.
  static absl::StatusOr<std::unique_ptr<BypassControl>> open(const BypassConfig& config,
                                                             PolicyPublisher& publisher,
                                                             absl::Time now);

  // Written to the state file, then published. A publication that fails (no memory for a
  // worker's scratch) is retried by tick(); the entry is kept and the error returned.
  absl::StatusOr<BypassRecord> add(const BypassRequest& request, absl::Time now);
  absl::Status remove(uint64_t id);

  // A certificate rejection reported by sluice-intercept. Counted by the learner; the report
  // that completes a key adds its entry (as add() does) and returns it in `added`.
  // FailedPrecondition when learning is turned off; InvalidArgument for a bad report.
  struct Learned {
    uint32_t failures = 0;               // reports of this key within the window
    uint32_t clients = 0;                // distinct client addresses among them
    std::optional<BypassRecord> added;   // the entry this report made
  };
  absl::StatusOr<Learned> report_failure(const CertificateFailure& failure, absl::Time now);
  bool learning_enabled() const { return learner_ != nullptr; }
  // Null when learning is turned off.
  const BypassLearner* learner() const { return learner_.get(); }
  std::vector<BypassRecord> list() const { return store_->list(); }
  const BypassStore& store() const { return *store_; }

  // From the management loop: drops expired entries and publishes what is owed. An error (the
  // state file cannot be written, so expired entries stay in force) is for the log.
  absl::Status tick(absl::Time now);

 private:
  BypassControl(std::unique_ptr<BypassStore> store, std::unique_ptr<BypassLearner> learner,
                PolicyPublisher& publisher)
      : store_(std::move(store)), learner_(std::move(learner)), publisher_(publisher) {}
  absl::Status publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<BypassStore> store_;
  std::unique_ptr<BypassLearner> learner_;  // null: learning turned off
  PolicyPublisher& publisher_;
  absl::Mutex mu_;  // one change and its publication at a time
  bool publish_owed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sluice
