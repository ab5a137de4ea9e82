// The interceptor's policy: the SAME compiled policy as the dataplane (the `policy` section of a
// `sluice run` configuration, through load_configured_policy()), decided with the same
// PolicySnapshot::decide(), plus the built-in never-intercept list
// (dataplane/policy/builtin/never-intercept.list, compiled into the binary) which only ever
// turns `intercept` into `pass`.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/core/decision.h"
#include "dataplane/policy/bypass_set.h"
#include "dataplane/policy/policy_scratch.h"
#include "dataplane/policy/policy_snapshot.h"

namespace sluice::intercept {

struct FlowVerdict {
  Verdict verdict = Verdict::kIntercept;
  std::string rule;
  std::string list;
  bool never_intercept = false;  // the policy said intercept; the built-in list made it pass
  bool bypassed = false;         // a bypass entry passed it (rule kBypassRule, list "bypass:ID")
};

// The built-in list's text (generated from the .list file at build time).
extern const char kNeverInterceptList[];

class FlowPolicy {
 public:
  // `policy_config` empty: no rules, every flow is intercepted (the never-intercept list still
  // applies). Errors name the file and line.
  static absl::StatusOr<std::unique_ptr<FlowPolicy>> load(const std::string& policy_config);

  // Per thread: scratch for both snapshots.
  struct Scratch {
    std::unique_ptr<PolicyScratch> policy;
    std::unique_ptr<PolicyScratch> never;
  };
  absl::StatusOr<Scratch> make_scratch() const;

  // `bypass` (may be null): the appliance's bypass entries, consulted where the dataplane
  // consults them (dataplane/policy/bypass_set.h): after the anomaly defaults, before every rule.
  FlowVerdict decide(const FlowFacts& facts, Scratch& scratch, const BypassSet* bypass = nullptr) const;
  // A CONNECT names its server twice: in the request (`other_name`) and in the ClientHello's
  // SNI (facts.server_name). Both are judged and the stricter verdict stands (block, then
  // intercept, then pass), so that a client cannot reach a host the policy blocks, or keep one
  // it intercepts from being bumped, by writing another name in its SNI (an allowed one, or one
  // of the never-intercept list). The request names its server whatever the tunnel carries (the
  // proxy itself connects there), so `other_name` is judged as a name even when the bytes inside
  // name nothing (SSH, a protocol whose server speaks first): a blocked host is blocked on any
  // port and with any payload.
  FlowVerdict decide_stricter(FlowFacts facts, std::string_view other_name, Scratch& scratch,
                              const BypassSet* bypass = nullptr) const;
  // Before a CONNECT or proxy host name is looked up: true, with `verdict` set, when the flow is
  // blocked whatever address the name has (decide_stricter's block, reached without consulting
  // any address list), so the proxy refuses it without resolving the name, which would tell
  // the resolver (and whoever watches it) about a name the school blocks. facts.server_ip is
  // unknown here.
  bool blocked_whatever_address(FlowFacts facts, std::string_view other_name, Scratch& scratch,
                                const BypassSet* bypass, FlowVerdict& verdict) const;
  std::string summary() const;

 private:
  // decide_stricter's second judgement: `facts` becomes the flow as `other_name` names it;
  // false when there is none to make (no other name, or the one already judged).
  static bool judge_other_name(FlowFacts& facts, std::string_view other_name);

  std::unique_ptr<const PolicySnapshot> policy_;  // null: intercept everything
  std::unique_ptr<const PolicySnapshot> never_;
};

}  // namespace sluice::intercept
