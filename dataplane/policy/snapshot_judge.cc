#include "dataplane/policy/snapshot_judge.h"

#include <utility>

namespace sluice {

absl::StatusOr<std::unique_ptr<SnapshotJudge>> SnapshotJudge::create(const PolicySnapshot& snapshot,
                                                                     Verdict intercept_fallback,
                                                                     const BypassSet* bypass) {
  absl::StatusOr<std::unique_ptr<PolicyScratch>> scratch = snapshot.allocate_scratch();
  if (!scratch.ok()) return scratch.status();
  return std::unique_ptr<SnapshotJudge>(
      new SnapshotJudge(snapshot, std::move(*scratch), intercept_fallback, bypass));
}

void SnapshotJudge::decide(const FlowFacts& facts, FlowDecision& out) {
  if (bypass_ != nullptr && snapshot_->rules_apply(facts)) {
    if (const std::string* label = bypass_->match(facts)) {
      out.decision = Decision{Action{Verdict::kPass, true}, kBypassRule, *label};
      out.intercept_fallback = false;
      return;
    }
  }
  out.decision = snapshot_->decide(facts, *scratch_);
  // A fallback of kIntercept means the worker carries intercept out itself (`intercept:`).
  out.intercept_fallback = out.decision.action.verdict == Verdict::kIntercept &&
                           intercept_fallback_ != Verdict::kIntercept;
  if (out.intercept_fallback) out.decision.action.verdict = intercept_fallback_;
}

}  // namespace sluice
