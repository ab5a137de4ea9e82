// The worker's view of a policy: given a flow's facts, say what to do with it. Core defines only
// this interface; the policy library implements it (dataplane/policy/snapshot_judge.h), tests
// fake it. Packet path: decide() must not allocate, lock or make system calls.
#pragma once

#include "dataplane/core/decision.h"

namespace sluice {

// What a judge tells the worker. `decision.action.verdict` is what is carried out; the rule and
// list views must stay valid until the worker has copied them into its audit event (it does so
// at once, inside decide()'s caller).
struct FlowDecision {
  Decision decision;
  // The policy said intercept, which is not carried out yet: `decision.action.verdict` holds the
  // configured fallback instead and the worker counts it (stats intercept_fallbacks).
  bool intercept_fallback = false;
};

class FlowJudge {
 public:
  virtual ~FlowJudge() = default;
  virtual void decide(const FlowFacts& facts, FlowDecision& out) = 0;
};

}  // namespace sluice
