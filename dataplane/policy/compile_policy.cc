#include "dataplane/policy/compile_policy.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"
#include "dataplane/policy/compiled_policy.h"
#include "dataplane/policy/list_parser.h"
#include "dataplane/policy/name_set_factory.h"

namespace sluice {
namespace {

absl::StatusOr<CompiledList> compile_list(const ListSource& source) {
  if (source.name.empty())
    return absl::InvalidArgumentError(absl::StrCat(source.path, ": list has no name"));
  absl::StatusOr<std::string> text = read_list_text(source);
  if (!text.ok()) return text.status();
  CompiledList list;
  list.name = source.name;
  list.format = source.format;
  switch (source.format) {
    case ListFormat::kDomains:
    case ListFormat::kHosts: {
      auto entries = source.format == ListFormat::kDomains ? parse_domain_list(*text, source.path)
                                                           : parse_hosts_list(*text, source.path);
      if (!entries.ok()) return entries.status();
      auto names = make_name_set(*entries);
      if (!names.ok()) {
        return absl::Status(names.status().code(),
                            absl::StrCat(source.path, ": ", names.status().message()));
      }
      list.names = *std::move(names);
      break;
    }
    case ListFormat::kPatterns: {
      std::vector<PatternLine> lines;
      for (const ListLine& line : split_list_lines(*text))
        lines.push_back({std::string(line.text), absl::StrCat(source.path, ":", line.line)});
      auto patterns = PatternSet::compile(lines);
      if (!patterns.ok()) return patterns.status();
      list.patterns = *std::move(patterns);
      break;
    }
    case ListFormat::kAddresses: {
      std::vector<Cidr> cidrs;
      for (const ListLine& line : split_list_lines(*text)) {
        absl::StatusOr<Cidr> cidr = parse_cidr(line.text);
        if (!cidr.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat(source.path, ":", line.line, ": ", cidr.status().message()));
        }
        cidrs.push_back(*cidr);
      }
      list.addresses = CidrSet(cidrs);
      break;
    }
  }
  return list;
}

std::string rule_label(const RuleSource& rule) {
  std::string where = rule.origin.empty() ? "" : absl::StrCat(rule.origin, ": ");
  return absl::StrCat(where, "rule '", rule.name, "'");
}

}  // namespace

absl::StatusOr<std::unique_ptr<const PolicySnapshot>> compile_policy(const PolicySource& source) {
  std::vector<CompiledList> lists;
  absl::flat_hash_map<std::string, uint32_t> list_index;
  for (const ListSource& list_source : source.lists) {
    if (list_index.contains(list_source.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(list_source.path, ": a list named '", list_source.name, "' already exists"));
    }
    absl::StatusOr<CompiledList> list = compile_list(list_source);
    if (!list.ok()) return list.status();
    list_index[list_source.name] = static_cast<uint32_t>(lists.size());
    lists.push_back(*std::move(list));
  }

  std::vector<CompiledRule> rules;
  for (const RuleSource& rule_source : source.rules) {
    if (rule_source.name.empty())
      return absl::InvalidArgumentError(absl::StrCat(rule_label(rule_source), ": has no name"));
    CompiledRule rule;
    rule.name = rule_source.name;
    rule.action = rule_source.action;
    if (rule_source.lists.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(rule_label(rule_source), " names no list, so it could never match"));
    }
    for (const std::string& name : rule_source.lists) {
      auto it = list_index.find(name);
      if (it == list_index.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(rule_label(rule_source), " uses list '", name, "', which is not defined"));
      }
      rule.lists.push_back(it->second);
    }
    std::vector<Cidr> subnets;
    for (const std::string& text : rule_source.client_subnets) {
      absl::StatusOr<Cidr> cidr = parse_cidr(text);
      if (!cidr.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            rule_label(rule_source), ": client subnet ", cidr.status().message()));
      }
      subnets.push_back(*cidr);
    }
    rule.client_subnets = CidrSet(subnets);
    rules.push_back(std::move(rule));
  }
  CompiledQuic quic;
  quic.default_rule = source.quic.default_rule;
  quic.fallback_for_intercept = source.quic.fallback_for_intercept;
  for (const QuicClientDefault& c : source.quic.clients) {
    if (c.rule.action.verdict == Verdict::kIntercept)
      return absl::InvalidArgumentError(
          absl::StrCat("QUIC default '", c.rule.name, "': QUIC cannot be intercepted"));
    std::vector<Cidr> subnets;
    for (const std::string& text : c.client_subnets) {
      absl::StatusOr<Cidr> cidr = parse_cidr(text);
      if (!cidr.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("QUIC default '", c.rule.name, "': client subnet ", cidr.status().message()));
      }
      subnets.push_back(*cidr);
    }
    quic.clients.push_back({CidrSet(subnets), c.rule});
  }
  if (quic.default_rule.action.verdict == Verdict::kIntercept)
    return absl::InvalidArgumentError("the QUIC default cannot be intercept: QUIC cannot be intercepted");
  return std::make_unique<const CompiledPolicy>(source.generation, source.description,
                                                std::move(lists), std::move(rules),
                                                source.defaults, std::move(quic));
}

}  // namespace sluice
