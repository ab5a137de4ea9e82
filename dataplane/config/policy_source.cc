#include "dataplane/config/policy_source.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "dataplane/policy/compile_policy.h"

namespace sluice {
namespace {

ListFormat format_of(RuleKind kind) {
  switch (kind) {
    case RuleKind::kDomains:
      return ListFormat::kDomains;
    case RuleKind::kHosts:
      return ListFormat::kHosts;
    case RuleKind::kPatterns:
      return ListFormat::kPatterns;
    case RuleKind::kCidrs:
      return ListFormat::kAddresses;
  }
  return ListFormat::kDomains;
}

std::string_view basename_of(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// The name of the list for (path, format), adding it to `lists` the first time.
std::string list_for(std::vector<ListSource>& lists, const std::string& path, ListFormat format) {
  for (const ListSource& l : lists) {
    if (l.path == path && l.format == format) return l.name;
  }
  const std::string base(basename_of(path));
  std::string name = base;
  for (int n = 2;; ++n) {
    bool taken = false;
    for (const ListSource& l : lists) taken = taken || l.name == name;
    if (!taken) break;
    name = absl::StrCat(base, "#", n);
  }
  lists.push_back(ListSource{name, format, path, std::nullopt});
  return name;
}

}  // namespace

absl::StatusOr<PolicySource> policy_source_from_config(const PolicyConfig& config,
                                                       std::string description) {
  PolicySource source;
  source.description = std::move(description);
  for (const PolicyRuleConfig& rc : config.rules) {
    if (rc.files.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(rc.defined_at, ": rule '", rc.name, "' names no files"));
    }
    RuleSource rule;
    rule.name = rc.name;
    rule.origin = rc.defined_at;
    for (const std::string& file : rc.files)
      rule.lists.push_back(list_for(source.lists, file, format_of(rc.kind)));
    for (const IpPrefix& client : rc.clients) rule.client_subnets.push_back(client.text);
    rule.action = Action{rc.action, rc.audit};
    source.rules.push_back(std::move(rule));
  }

  const PolicyDefaultsConfig& d = config.defaults;
  PolicyDefaults& out = source.defaults;
  for (const auto& [anomaly, verdict] : d.anomalies) {
    AnomalyDefault ad;
    ad.anomalies.add(anomaly);
    ad.rule = DefaultRule{"default_anomaly_" + std::string(anomaly_name(anomaly)), {verdict, true}};
    out.anomalies.push_back(std::move(ad));
  }
  out.incomplete.action.verdict = d.incomplete;
  out.ech.action.verdict = d.ech;
  out.non_tls.action.verdict = d.non_tls_443;
  out.no_sni.action.verdict = d.no_sni;
  out.final_default.action.verdict = d.final;

  const QuicPolicyConfig& q = config.quic;
  source.quic.default_rule.action.verdict = q.verdict;
  source.quic.fallback_for_intercept = q.fallback_for_intercept;
  for (size_t i = 0; i < q.clients.size(); ++i) {
    QuicClientDefault c;
    c.rule = DefaultRule{absl::StrCat("default_quic_clients_", i + 1), {q.clients[i].verdict, true}};
    for (const IpPrefix& subnet : q.clients[i].subnets) c.client_subnets.push_back(subnet.text);
    source.quic.clients.push_back(std::move(c));
  }
  return source;
}

absl::StatusOr<ConfiguredPolicy> load_configured_policy(const std::string& path, uint64_t load) {
  absl::StatusOr<RunConfig> config = load_run_config(path);
  if (!config.ok()) return config.status();
  absl::StatusOr<PolicySource> source = policy_source_from_config(config->policy, path);
  if (!source.ok()) return source.status();
  source->generation = load;
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> snapshot = compile_policy(*source);
  if (!snapshot.ok()) return snapshot.status();
  ConfiguredPolicy policy;
  policy.snapshot = std::move(*snapshot);
  // With an `intercept` section the judges keep intercept verdicts and the worker carries them
  // out (handoff, or the configured fallback while the interceptor is absent).
  policy.intercept_fallback =
      config->intercept.enabled ? Verdict::kIntercept : config->policy.intercept_fallback;
  return policy;
}

}  // namespace sluice
