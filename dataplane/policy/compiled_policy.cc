#include "dataplane/policy/compiled_policy.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

Decision from_default(const DefaultRule& rule) { return {rule.action, rule.name, {}}; }

}  // namespace

CompiledPolicy::CompiledPolicy(uint64_t generation, std::string description,
                               std::vector<CompiledList> lists, std::vector<CompiledRule> rules,
                               PolicyDefaults defaults, CompiledQuic quic)
    : generation_(generation),
      description_(std::move(description)),
      lists_(std::move(lists)),
      rules_(std::move(rules)),
      defaults_(std::move(defaults)),
      quic_(std::move(quic)) {
  for (const CompiledList& list : lists_)
    if (list.names) name_sets_.push_back(list.names.get());
}

bool CompiledPolicy::list_matches(const CompiledList& list, const FlowFacts& facts, bool named,
                                  PolicyScratch& scratch) const {
  switch (list.format) {
    case ListFormat::kDomains:
    case ListFormat::kHosts:
      return named && list.names->matches(facts.server_name, scratch);
    case ListFormat::kPatterns:
      return named && list.patterns->matches(facts.server_name, scratch);
    case ListFormat::kAddresses:
      return list.addresses.contains(facts.server_ip);
  }
  return false;
}

const DefaultRule* CompiledPolicy::default_before_rules(const FlowFacts& facts) const {
  for (const AnomalyDefault& d : defaults_.anomalies)
    if ((facts.anomalies.bits() & d.anomalies.bits()) != 0) return &d.rule;
  if (facts.first_flight == FirstFlightKind::kIncomplete) return &defaults_.incomplete;
  return nullptr;
}

const DefaultRule* CompiledPolicy::quic_block(const FlowFacts& facts) const {
  if (!facts.quic) return nullptr;
  const DefaultRule* rule = &quic_.default_rule;
  for (const CompiledQuicClients& c : quic_.clients) {
    if (c.subnets.contains(facts.client_ip)) {
      rule = &c.rule;
      break;
    }
  }
  return rule->action.verdict == Verdict::kPass ? nullptr : rule;
}

Decision CompiledPolicy::decide(const FlowFacts& facts, PolicyScratch& scratch) const {
  if (const DefaultRule* q = quic_block(facts)) return from_default(*q);
  Decision d = decide_flow(facts, scratch);
  if (facts.quic && quic_.fallback_for_intercept && d.action.verdict == Verdict::kIntercept) {
    // The audit keeps what would have been intercepted: the list, or the default's name.
    return {{Verdict::kBlock, d.action.audit}, kQuicFallbackRule, d.list.empty() ? d.rule : d.list};
  }
  return d;
}

Decision CompiledPolicy::decide_flow(const FlowFacts& facts, PolicyScratch& scratch) const {
  if (const DefaultRule* d = default_before_rules(facts)) return from_default(*d);

  const bool named = !facts.server_name.empty() && names_its_server(facts.first_flight);
  for (const CompiledRule& rule : rules_) {
    if (!rule.client_subnets.empty() && !rule.client_subnets.contains(facts.client_ip)) continue;
    for (uint32_t index : rule.lists) {
      const CompiledList& list = lists_[index];
      if (list_matches(list, facts, named, scratch)) return {rule.action, rule.name, list.name};
    }
  }
  if (facts.ech) return from_default(defaults_.ech);  // after the rules: see policy_snapshot.h
  if (facts.first_flight == FirstFlightKind::kNonTls) return from_default(defaults_.non_tls);
  if (!named) return from_default(defaults_.no_sni);
  return from_default(defaults_.final_default);
}

bool CompiledPolicy::address_may_matter(const FlowFacts& facts, PolicyScratch& scratch) const {
  // decide()'s walk, stopping at the first address list it would consult (any address could
  // match it) or at whatever decides without one.
  if (quic_block(facts) != nullptr || default_before_rules(facts) != nullptr) return false;
  const bool named = !facts.server_name.empty() && names_its_server(facts.first_flight);
  for (const CompiledRule& rule : rules_) {
    if (!rule.client_subnets.empty() && !rule.client_subnets.contains(facts.client_ip)) continue;
    for (uint32_t index : rule.lists) {
      const CompiledList& list = lists_[index];
      if (list.format == ListFormat::kAddresses) return true;
      if (list_matches(list, facts, named, scratch)) return false;
    }
  }
  return false;
}

absl::StatusOr<std::unique_ptr<PolicyScratch>> CompiledPolicy::allocate_scratch() const {
  auto scratch = std::make_unique<PolicyScratch>();
  for (const CompiledList& list : lists_) {
    bool ok = list.names    ? list.names->prepare_scratch(*scratch)
              : list.patterns ? list.patterns->prepare_scratch(*scratch)
                              : true;
    if (!ok) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate Hyperscan scratch for list '", list.name, "'"));
    }
  }
  return scratch;
}

std::string CompiledPolicy::summary() const {
  size_t names = 0, patterns = 0, addresses = 0, bytes = 0;
  for (const CompiledList& list : lists_) {
    if (list.names) {
      names += list.names->size();
      bytes += list.names->memory_bytes();
    }
    if (list.patterns) {
      patterns += list.patterns->size();
      bytes += list.patterns->memory_bytes();
    }
    addresses += list.addresses.size();
  }
  return absl::StrCat("policy generation ", generation_, " (", description_, "): ", rules_.size(),
                      " rules, ", lists_.size(), " lists, ", names, " names, ", patterns,
                      " patterns, ", addresses, " address prefixes, ", bytes, " bytes");
}

}  // namespace sluice
