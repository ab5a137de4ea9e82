// The PolicySnapshot implementation: compiled lists and rules in flat vectors, decided by index.
// Built by compile_policy(); never changed afterwards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataplane/policy/cidr_set.h"
#include "dataplane/policy/name_set.h"
#include "dataplane/policy/pattern_set.h"
#include "dataplane/policy/policy_snapshot.h"
#include "dataplane/policy/policy_source.h"

namespace sluice {

struct CompiledList {
  std::string name;
  ListFormat format = ListFormat::kDomains;
  std::unique_ptr<NameSet> names;        // kDomains, kHosts
  std::unique_ptr<PatternSet> patterns;  // kPatterns
  CidrSet addresses;                     // kAddresses
};

struct CompiledRule {
  std::string name;
  Action action;
  std::vector<uint32_t> lists;  // indexes into CompiledPolicy::lists_
  CidrSet client_subnets;       // empty: every client
};

struct CompiledQuicClients {
  CidrSet subnets;
  DefaultRule rule;
};
struct CompiledQuic {
  DefaultRule default_rule;
  std::vector<CompiledQuicClients> clients;
  bool fallback_for_intercept = false;
};

inline constexpr std::string_view kQuicFallbackRule = "quic_fallback_for_intercept";

class CompiledPolicy final : public PolicySnapshot {
 public:
  CompiledPolicy(uint64_t generation, std::string description, std::vector<CompiledList> lists,
                 std::vector<CompiledRule> rules, PolicyDefaults defaults, CompiledQuic quic = {});

  Decision decide(const FlowFacts& facts, PolicyScratch& scratch) const override;
  bool rules_apply(const FlowFacts& facts) const override {
    return quic_block(facts) == nullptr && default_before_rules(facts) == nullptr;
  }
  bool address_may_matter(const FlowFacts& facts, PolicyScratch& scratch) const override;
  void prefetch_name(std::string_view server_name) const override {
    for (const NameSet* names : name_sets_) names->prefetch(server_name);
  }
  absl::StatusOr<std::unique_ptr<PolicyScratch>> allocate_scratch() const override;
  uint64_t generation() const override { return generation_; }
  std::string_view description() const override { return description_; }
  std::string summary() const override;

 private:
  // The QUIC default of a QUIC flow's client when it blocks, else nullptr.
  const DefaultRule* quic_block(const FlowFacts& facts) const;
  // Steps 1-7 of policy_snapshot.h.
  Decision decide_flow(const FlowFacts& facts, PolicyScratch& scratch) const;
  // The anomaly or `incomplete` default that decides `facts` before any rule, or nullptr.
  const DefaultRule* default_before_rules(const FlowFacts& facts) const;
  bool list_matches(const CompiledList& list, const FlowFacts& facts, bool named,
                    PolicyScratch& scratch) const;

  uint64_t generation_;
  std::string description_;
  std::vector<CompiledList> lists_;
  std::vector<CompiledRule> rules_;
  PolicyDefaults defaults_;
  CompiledQuic quic_;
  std::vector<const NameSet*> name_sets_;  // the name lists of lists_, for prefetch_name()
};

}  // namespace sluice
