#include "dataplane/dpdk/policy_publisher.h"

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_rcu_qsbr.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<PolicyPublisher>> PolicyPublisher::create(uint16_t workers) {
  if (workers == 0)
    return absl::InvalidArgumentError("a policy publisher needs at least one worker");
  const size_t size = rte_rcu_qsbr_get_memsize(workers);
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rte_rcu_qsbr_get_memsize(", workers, ") failed: ", rte_strerror(rte_errno)));
  }
  // rte_rcu_qsbr must be cache-line aligned; plain heap memory (not rte_malloc) keeps it
  // visible to AddressSanitizer and independent of the EAL's memory.
  void* mem = std::aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE));
  if (mem == nullptr) return absl::ResourceExhaustedError("no memory for the policy RCU variable");
  auto* qsbr = static_cast<rte_rcu_qsbr*>(mem);
  if (rte_rcu_qsbr_init(qsbr, workers) != 0) {
    std::free(mem);
    return absl::InternalError(absl::StrCat("rte_rcu_qsbr_init for ", workers,
                                            " workers failed: ", rte_strerror(rte_errno)));
  }
  return std::unique_ptr<PolicyPublisher>(new PolicyPublisher(workers, qsbr));
}

PolicyPublisher::~PolicyPublisher() {
  {
    absl::MutexLock lock(&mu_);
    retired_.clear();
    current_.store(nullptr, std::memory_order_relaxed);
    owned_current_.reset();
  }
  std::free(qsbr_);
}

absl::Status PolicyPublisher::publish(std::unique_ptr<const PolicySnapshot> snapshot,
                                      Verdict intercept_fallback, std::string description) {
  if (snapshot == nullptr) return absl::InvalidArgumentError("publish() needs a compiled policy");
  const absl::Time start = absl::Now();
  absl::MutexLock publishing(&publish_mu_);
  auto bundle = std::make_unique<Bundle>();
  bundle->snapshot = std::move(snapshot);
  bundle->bypass = bypass_;
  bundle->intercept_fallback = intercept_fallback;
  return build_and_swap(std::move(bundle), std::move(description), start);
}

absl::Status PolicyPublisher::publish_bypass(std::shared_ptr<const BypassSet> bypass) {
  const absl::Time start = absl::Now();
  absl::MutexLock publishing(&publish_mu_);
  if (snapshot_ == nullptr) {
    bypass_ = std::move(bypass);  // the first publish() takes it
    return absl::OkStatus();
  }
  auto bundle = std::make_unique<Bundle>();
  bundle->snapshot = snapshot_;
  bundle->bypass = std::move(bypass);
  bundle->intercept_fallback = intercept_fallback_;
  return build_and_swap(std::move(bundle), description_, start);
}

absl::Status PolicyPublisher::build_and_swap(std::unique_ptr<Bundle> bundle,
                                             std::string description, absl::Time start) {
  // Everything that allocates happens before the swap, so a failure leaves the running policy.
  bundle->judges.reserve(workers_);
  for (uint16_t w = 0; w < workers_; ++w) {
    absl::StatusOr<std::unique_ptr<SnapshotJudge>> judge = SnapshotJudge::create(
        *bundle->snapshot, bundle->intercept_fallback, bundle->bypass.get());
    if (!judge.ok()) {
      return absl::Status(
          judge.status().code(),
          absl::StrCat("policy \"", description, "\" not published (worker ", w,
                       "'s judge): ", judge.status().message(), "; the running policy stays"));
    }
    bundle->judges.push_back(*std::move(judge));
  }
  bundle->info.policy_generation = bundle->snapshot->generation();
  bundle->info.summary = bundle->snapshot->summary();
  bundle->info.description = description;
  bundle->info.bypass_entries = bundle->bypass == nullptr ? 0 : bundle->bypass->size();
  snapshot_ = bundle->snapshot;
  bypass_ = bundle->bypass;
  intercept_fallback_ = bundle->intercept_fallback;
  description_ = std::move(description);

  absl::MutexLock lock(&mu_);
  bundle->info.generation = stats_.published + 1;
  bundle->info.published_at = absl::Now();
  // Release: a worker that loads the new pointer sees the fully built judges and snapshot.
  const Bundle* previous = current_.exchange(bundle.get(), std::memory_order_acq_rel);
  std::unique_ptr<const Bundle> old = std::exchange(owned_current_, std::move(bundle));
  if (previous != nullptr) {
    // The token orders after the swap: a worker that reports quiescent after it can no longer
    // hold `previous`.
    retired_.push_back(Retired{std::move(old), rte_rcu_qsbr_start(qsbr_), absl::Now()});
  }
  ++stats_.published;
  stats_.last_publish = absl::Now() - start;
  stats_.longest_publish = std::max(stats_.longest_publish, stats_.last_publish);
  reclaim_locked();
  return absl::OkStatus();
}

size_t PolicyPublisher::reclaim_locked() {
  size_t freed = 0;
  // Tokens grow with retirement order: once one grace period is not over, later ones are not.
  while (!retired_.empty() && rte_rcu_qsbr_check(qsbr_, retired_.front().token, false) == 1) {
    stats_.longest_grace =
        std::max(stats_.longest_grace, absl::Now() - retired_.front().retired_at);
    retired_.pop_front();
    ++stats_.reclaimed;
    ++freed;
  }
  stats_.pending = retired_.size();
  return freed;
}

size_t PolicyPublisher::reclaim() {
  absl::MutexLock lock(&mu_);
  return reclaim_locked();
}

absl::Status PolicyPublisher::drain(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  // Poll rather than rte_rcu_qsbr_check(wait=true): that spins forever on a worker that is
  // online but stuck, and would hold the mutex status readers need meanwhile.
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      reclaim_locked();
      if (retired_.empty()) return absl::OkStatus();
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            retired_.size(), " retired policy bundle(s) (oldest: generation ",
            retired_.front().bundle->info.generation,
            ") still wait for a worker that is online but has not called quiescent() within ",
            absl::FormatDuration(timeout), "; stop the workers or take them offline first"));
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

PublishedPolicy PolicyPublisher::current() const {
  absl::MutexLock lock(&mu_);
  return owned_current_ == nullptr ? PublishedPolicy{} : owned_current_->info;
}

uint64_t PolicyPublisher::generation() const {
  absl::MutexLock lock(&mu_);
  return stats_.published;
}

PublisherStats PolicyPublisher::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t PolicyPublisher::pending_reclaim() const {
  absl::MutexLock lock(&mu_);
  return retired_.size();
}

void PolicyPublisher::quiescent(uint16_t w) { rte_rcu_qsbr_quiescent(qsbr_, w); }

void PolicyPublisher::online(uint16_t w) {
  // Registering an id twice is harmless (it is a bit in a bitmap), so online() after offline()
  // needs no separate register step.
  rte_rcu_qsbr_thread_register(qsbr_, w);
  rte_rcu_qsbr_thread_online(qsbr_, w);
}

void PolicyPublisher::offline(uint16_t w) { rte_rcu_qsbr_thread_offline(qsbr_, w); }

}  // namespace sluice
