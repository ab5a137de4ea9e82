#include "interceptor/flow_policy.h"

#include "absl/strings/str_cat.h"
#include "dataplane/config/policy_source.h"
#include "dataplane/policy/compile_policy.h"

namespace sluice::intercept {
namespace {
constexpr char kNeverRule[] = "builtin_never_intercept";
}

absl::StatusOr<std::unique_ptr<FlowPolicy>> FlowPolicy::load(const std::string& policy_config) {
  auto fp = std::make_unique<FlowPolicy>();
  if (!policy_config.empty()) {
    absl::StatusOr<ConfiguredPolicy> configured = load_configured_policy(policy_config);
    if (!configured.ok()) return configured.status();
    fp->policy_ = std::move(configured->snapshot);
  }
  PolicySource never;
  never.description = "builtin never-intercept list";
  ListSource list;
  list.name = "never-intercept";
  list.format = ListFormat::kDomains;
  list.path = "builtin:never-intercept";
  list.text = std::string(kNeverInterceptList);
  never.lists.push_back(std::move(list));
  RuleSource rule;
  rule.name = kNeverRule;
  rule.origin = "builtin";
  rule.lists = {"never-intercept"};
  rule.action = {Verdict::kPass, true};
  never.rules.push_back(std::move(rule));
  never.defaults.final_default = {"not_listed", {Verdict::kIntercept, true}};
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> compiled = compile_policy(never);
  if (!compiled.ok()) {
    return absl::InternalError(absl::StrCat("the built-in never-intercept list does not compile: ",
                                            compiled.status().message()));
  }
  fp->never_ = std::move(*compiled);
  return fp;
}

absl::StatusOr<FlowPolicy::Scratch> FlowPolicy::make_scratch() const {
  Scratch s;
  if (policy_) {
    absl::StatusOr<std::unique_ptr<PolicyScratch>> p = policy_->allocate_scratch();
    if (!p.ok()) return p.status();
    s.policy = std::move(*p);
  }
  absl::StatusOr<std::unique_ptr<PolicyScratch>> n = never_->allocate_scratch();
  if (!n.ok()) return n.status();
  s.never = std::move(*n);
  return s;
}

FlowVerdict FlowPolicy::decide(const FlowFacts& facts, Scratch& scratch,
                               const BypassSet* bypass) const {
  FlowVerdict out;
  if (bypass != nullptr && !bypass->empty() && (!policy_ || policy_->rules_apply(facts))) {
    if (const std::string* label = bypass->match(facts)) {
      out.verdict = Verdict::kPass;
      out.bypassed = true;
      out.rule = std::string(kBypassRule);
      out.list = *label;
      return out;
    }
  }
  if (policy_) {
    const Decision d = policy_->decide(facts, *scratch.policy);
    out.verdict = d.action.verdict;
    out.rule = std::string(d.rule);
    out.list = std::string(d.list);
  } else {
    out.verdict = Verdict::kIntercept;
    out.rule = "no_policy_config";
  }
  if (out.verdict == Verdict::kIntercept) {
    const Decision n = never_->decide(facts, *scratch.never);
    if (n.rule == kNeverRule) {
      out.verdict = Verdict::kPass;
      out.never_intercept = true;
      out.rule = kNeverRule;
      out.list = "never-intercept";
    }
  }
  return out;
}

FlowVerdict FlowPolicy::decide_stricter(FlowFacts facts, std::string_view other_name,
                                        Scratch& scratch, const BypassSet* bypass) const {
  FlowVerdict first = decide(facts, scratch, bypass);
  if (!judge_other_name(facts, other_name)) return first;
  FlowVerdict second = decide(facts, scratch, bypass);
  const auto strictness = [](Verdict v) {
    return v == Verdict::kBlock ? 2 : v == Verdict::kIntercept ? 1 : 0;
  };
  return strictness(second.verdict) > strictness(first.verdict) ? second : first;
}

bool FlowPolicy::judge_other_name(FlowFacts& facts, std::string_view other_name) {
  const bool named = names_its_server(facts.first_flight);
  if (other_name.empty() || (other_name == facts.server_name && named)) return false;
  facts.server_name = other_name;
  if (!named) facts.first_flight = FirstFlightKind::kHttp;  // a proxy request: it names its host
  return true;
}

bool FlowPolicy::blocked_whatever_address(FlowFacts facts, std::string_view other_name,
                                          Scratch& scratch, const BypassSet* bypass,
                                          FlowVerdict& verdict) const {
  if (!policy_) return false;  // no rules: nothing is blocked
  // Block is the strictest verdict: either judgement blocking settles decide_stricter.
  const auto settled_block = [&](const FlowFacts& f) {
    FlowVerdict v = decide(f, scratch, bypass);
    if (v.verdict != Verdict::kBlock || policy_->address_may_matter(f, *scratch.policy)) return false;
    verdict = std::move(v);
    return true;
  };
  if (settled_block(facts)) return true;
  return judge_other_name(facts, other_name) && settled_block(facts);
}

std::string FlowPolicy::summary() const {
  return absl::StrCat(policy_ ? policy_->summary() : std::string("no policy_config: every TLS flow intercepted"),
                      "; never-intercept: ", never_->summary());
}

}  // namespace sluice::intercept
