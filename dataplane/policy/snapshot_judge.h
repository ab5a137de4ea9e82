// A compiled policy as the worker's FlowJudge: one per worker, holding that worker's scratch.
// Without interception configured, the adapter turns intercept into the configured fallback
// verdict and flags it, so the audit record keeps the rule that said intercept and the worker
// counts it; a fallback of kIntercept (an `intercept:` section) leaves intercept verdicts to the
// worker, which hands the flow over or applies the fallback itself.
// A bypass set, when given, is consulted where bypass_set.h says: after the anomaly and
// `incomplete` defaults, before every rule.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "dataplane/core/flow_judge.h"
#include "dataplane/core/verdict.h"
#include "dataplane/policy/bypass_set.h"
#include "dataplane/policy/policy_scratch.h"
#include "dataplane/policy/policy_snapshot.h"

namespace sluice {

class SnapshotJudge final : public FlowJudge {
 public:
  // Control path: allocates the scratch. `snapshot` and `bypass` (may be null) are not owned
  // and must outlive the judge.
  static absl::StatusOr<std::unique_ptr<SnapshotJudge>> create(const PolicySnapshot& snapshot,
                                                               Verdict intercept_fallback,
                                                               const BypassSet* bypass = nullptr);

  // Packet path: no allocation.
  void decide(const FlowFacts& facts, FlowDecision& out) override;
  void prefetch_name(std::string_view server_name) override {
    snapshot_->prefetch_name(server_name);
  }

  const PolicySnapshot& snapshot() const { return *snapshot_; }

 private:
  SnapshotJudge(const PolicySnapshot& snapshot, std::unique_ptr<PolicyScratch> scratch,
                Verdict intercept_fallback, const BypassSet* bypass)
      : snapshot_(&snapshot),
        scratch_(std::move(scratch)),
        intercept_fallback_(intercept_fallback),
        bypass_(bypass != nullptr && !bypass->empty() ? bypass : nullptr) {}

  const PolicySnapshot* snapshot_;
  std::unique_ptr<PolicyScratch> scratch_;
  Verdict intercept_fallback_;
  const BypassSet* bypass_;  // null when there are no entries
};

}  // namespace sluice
