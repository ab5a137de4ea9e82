// Hands compiled policies to the workers while they run, with DPDK's quiescent-state RCU
// (rte_rcu_qsbr). The management side builds everything a policy needs (the snapshot and one
// SnapshotJudge per worker, each with its own scratch) into one immutable bundle, swaps a
// pointer, and frees the bundle it replaced only once every worker has passed a quiescent state
// since the swap. Workers never lock, allocate or make a system call to follow a swap.
//
// The worker loop's contract (worker `w`, one thread per worker id):
//
//   publisher.online(w);                          // at start, before the first judge_for()
//   FlowJudge* judge = nullptr;
//   while (running) {
//     FlowJudge* j = publisher.judge_for(w);      // one acquire load
//     if (j != judge) { judge = j; inspector.set_judge(j); }
//     ... process one burst (decide() may run on `j`) ...
//     publisher.quiescent(w);                     // no pointer into a bundle survives this line
//   }
//   inspector.set_judge(nullptr);
//   publisher.offline(w);                         // before exiting (or blocking, see offline())
//
// Between quiescent() calls the worker may use the judge and any view a decision returned
// (rule and list names point into the snapshot); after quiescent() or offline() it must load the
// judge again. judge_for() is nullptr until the first publish(): the inspector then passes
// every flow.
//
// Management side (publish, reclaim, drain, the accessors): any thread, serialised by an
// internal mutex that workers never touch. Call reclaim() from the management loop; a bundle
// that a stalled worker may still be reading stays alive until that worker reports.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dataplane/core/flow_judge.h"
#include "dataplane/core/verdict.h"
#include "dataplane/policy/bypass_set.h"
#include "dataplane/policy/policy_snapshot.h"
#include "dataplane/policy/snapshot_judge.h"

struct rte_rcu_qsbr;

namespace sluice {

// What is running now, for status output (telemetry, the API). A copy: safe on any thread.
struct PublishedPolicy {
  uint64_t generation = 0;         // publications so far; 0: nothing published yet
  uint64_t policy_generation = 0;  // the snapshot's own generation (the caller's reload counter)
  std::string description;
  std::string summary;  // the snapshot's one-line summary
  absl::Time published_at = absl::InfinitePast();
  size_t bypass_entries = 0;  // in the bypass set published with it
};

// Management-side costs. Workers pay O(1) per swap: judge_for() is one atomic load, quiescent()
// one load and one store; everything that scales with the policy (scratch allocation) is in
// publish(). (dpdk_rcu_tests prints these beside the longest worker-side switch it measured.)
struct PublisherStats {
  uint64_t published = 0;
  uint64_t reclaimed = 0;                              // bundles freed after their grace period
  uint64_t pending = 0;                                // bundles retired but not yet freed
  absl::Duration last_publish = absl::ZeroDuration();  // building judges + swap
  absl::Duration longest_publish = absl::ZeroDuration();
  absl::Duration longest_grace = absl::ZeroDuration();  // retire to free, as seen by reclaim()
};

class PolicyPublisher {
 public:
  // `workers` worker ids, 0 .. workers-1 (the RCU variable is sized for them).
  static absl::StatusOr<std::unique_ptr<PolicyPublisher>> create(uint16_t workers);

  // Frees every bundle without waiting: every worker must have stopped touching the publisher
  // (offline, or its thread joined).
  ~PolicyPublisher();

  PolicyPublisher(const PolicyPublisher&) = delete;
  PolicyPublisher& operator=(const PolicyPublisher&) = delete;

  // ---- management side ----

  // Makes `snapshot` the running policy: builds one judge per worker (intercept verdicts become
  // `intercept_fallback`), swaps, retires the previous bundle and reclaims what it can. On error
  // nothing changes and the running policy stays.
  absl::Status publish(std::unique_ptr<const PolicySnapshot> snapshot, Verdict intercept_fallback,
                       std::string description);

  // Makes `bypass` (null: none) the bypass set beside the running policy, which stays: the
  // judges are rebuilt around the same snapshot and swapped like a policy. Before the first
  // publish() it is kept for it. Every later publish() keeps the latest bypass set.
  absl::Status publish_bypass(std::shared_ptr<const BypassSet> bypass);

  // Frees, without blocking, every retired bundle whose grace period is over (every online
  // worker has called quiescent() or gone offline since it was retired). Returns how many.
  size_t reclaim();

  // Waits until every retired bundle can be freed and frees them. For shutdown, after the
  // workers went offline (then it returns at once); DeadlineExceeded if a worker that is still
  // online has not reported within `timeout`, and the bundles stay.
  absl::Status drain(absl::Duration timeout = absl::InfiniteDuration());

  PublishedPolicy current() const;
  uint64_t generation() const;
  PublisherStats stats() const;
  size_t pending_reclaim() const;
  uint16_t workers() const { return workers_; }

  // ---- worker side: no allocation, no lock, no system call; `w` < workers() ----

  // The judge of worker `w` in the running bundle (nullptr before the first publish()). Valid
  // until `w` calls quiescent() or offline().
  FlowJudge* judge_for(uint16_t w) const {
    const Bundle* b = current_.load(std::memory_order_acquire);
    return b == nullptr ? nullptr : b->judges[w].get();
  }
  // `w` holds no pointer into any bundle.
  void quiescent(uint16_t w);
  // `w` takes part in grace periods from now on. Call before the first judge_for(), and again
  // after offline() before touching the publisher.
  void online(uint16_t w);
  // `w` no longer counts for grace periods: grace periods end without it. Call before the
  // thread exits, or before it blocks for long (an idle sleep; online() again after it) so
  // reclaim() need not wait for the sleep to end.
  void offline(uint16_t w);

 private:
  // Everything one publication made: immutable once swapped in (the judges' scratch is per
  // worker, written only by its worker).
  struct Bundle {
    // Shared with the next bundle when only the bypass set changes.
    std::shared_ptr<const PolicySnapshot> snapshot;
    std::shared_ptr<const BypassSet> bypass;
    Verdict intercept_fallback = Verdict::kPass;
    std::vector<std::unique_ptr<SnapshotJudge>> judges;  // index: worker id
    PublishedPolicy info;
  };
  struct Retired {
    std::unique_ptr<const Bundle> bundle;
    uint64_t token;  // rte_rcu_qsbr_start() at retirement
    absl::Time retired_at;
  };

  PolicyPublisher(uint16_t workers, rte_rcu_qsbr* qsbr) : workers_(workers), qsbr_(qsbr) {}
  size_t reclaim_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds the judges of `bundle` (snapshot, bypass and fallback set) and swaps it in.
  absl::Status build_and_swap(std::unique_ptr<Bundle> bundle, std::string description,
                              absl::Time start) ABSL_EXCLUSIVE_LOCKS_REQUIRED(publish_mu_);

  const uint16_t workers_;
  rte_rcu_qsbr* const qsbr_;  // cache-aligned allocation, freed by the destructor
  std::atomic<const Bundle*> current_{nullptr};

  // Serialises publish() and publish_bypass(), so neither loses the other's change; held while
  // judges are built (which may take a while), never by workers or status readers.
  absl::Mutex publish_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::shared_ptr<const BypassSet> bypass_ ABSL_GUARDED_BY(publish_mu_);
  std::shared_ptr<const PolicySnapshot> snapshot_ ABSL_GUARDED_BY(publish_mu_);
  Verdict intercept_fallback_ ABSL_GUARDED_BY(publish_mu_) = Verdict::kPass;
  std::string description_ ABSL_GUARDED_BY(publish_mu_);

  mutable absl::Mutex mu_;
  std::unique_ptr<const Bundle> owned_current_ ABSL_GUARDED_BY(mu_);  // what current_ points to
  std::deque<Retired> retired_ ABSL_GUARDED_BY(mu_);  // oldest first: tokens only grow
  PublisherStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
