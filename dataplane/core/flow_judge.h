// The worker's view of a policy: given a flow's facts, say what to do with it. Core defines only
// this interface; the policy library implements it (dataplane/policy/snapshot_judge.h), tests
// fake it. Packet path: decide() must not allocate, lock or make system calls.
#pragma once

#include <string_view>

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
  // A hint, before decide(): a flow naming `server_name` (normalised) will be judged soon, so the
  // policy can start loading what that lookup reads. Changes no decision.
  virtual void prefetch_name(std::string_view /*server_name*/) {}
};

}  // namespace sluice
