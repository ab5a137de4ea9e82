// What a policy is made of, before compilation: plain data that the config parser (or a test)
// fills. compile_policy() turns it into an immutable PolicySnapshot or a precise error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/decision.h"

namespace sluice {

enum class ListFormat : uint8_t {
  kDomains,    // one entry per line: `name`, `.name` (name and subdomains), `*.name` (subdomains)
  kHosts,      // hosts-file lines: `0.0.0.0 name [name...]`; exact names; localhost entries skipped
  kPatterns,   // one Hyperscan expression per line, matched against the whole server name
  kAddresses,  // one IPv4/IPv6 address or CIDR per line, matched against the server address
};

// A named list. `#` starts a comment in every format; blank lines are skipped.
struct ListSource {
  std::string name;  // what rules reference and what the audit record shows
  ListFormat format = ListFormat::kDomains;
  std::string path;  // read at compile time; also the label in error messages
  // When set, used instead of reading `path` (built-in lists, tests); `path` is then only a label
  // such as "builtin:never-intercept".
  std::optional<std::string> text;
};

struct RuleSource {
  std::string name;
  std::string origin;                       // where it was written ("sluice.yaml:40"), for errors
  std::vector<std::string> lists;           // names of ListSources; any one matching is a match
  std::vector<std::string> client_subnets;  // CIDRs; empty = every client
  Action action;
};

struct DefaultRule {
  std::string name;
  Action action;
};

// Flows carrying any of `anomalies` get `rule`: the bytes judged may not be what the server got.
struct AnomalyDefault {
  AnomalySet anomalies;
  DefaultRule rule;
};

// Decisions for flows no rule can judge on its own terms. See policy_snapshot.h for the order.
struct PolicyDefaults {
  std::vector<AnomalyDefault> anomalies;  // checked in order, before everything else
  DefaultRule incomplete{"default_incomplete", {Verdict::kPass, true}};
  DefaultRule ech{"default_ech", {Verdict::kPass, true}};
  DefaultRule non_tls{"default_non_tls", {Verdict::kPass, true}};
  DefaultRule no_sni{"default_no_sni", {Verdict::kPass, true}};
  DefaultRule final_default{"default", {Verdict::kPass, true}};
};

// QUIC (HTTP/3) flows, decided before everything else (policy_snapshot.h step 0): a client
// whose QUIC default is block has every QUIC flow blocked, so its browser uses TCP; pass leaves
// QUIC flows to the rest of the policy, by name like TLS.
struct QuicClientDefault {
  std::vector<std::string> client_subnets;  // CIDRs
  DefaultRule rule;                         // verdict pass or block
};
struct QuicPolicySource {
  DefaultRule default_rule{"default_quic", {Verdict::kPass, true}};
  std::vector<QuicClientDefault> clients;  // first match wins over default_rule
  // QUIC cannot be intercepted. With this set, a QUIC flow the policy would intercept is blocked
  // instead (rule `quic_fallback_for_intercept`) and the browser comes back over TCP, where it
  // is intercepted; without it, the intercept verdict stands and the worker's
  // intercept_fallback carries it out, as for any intercept that cannot be done.
  bool fallback_for_intercept = false;
};

struct PolicySource {
  uint64_t generation = 0;  // chosen by the caller (e.g. a reload counter); shown in status
  std::string description;  // e.g. "/etc/sluice/sluice.yaml, loaded 2026-11-27T20:01:02Z"
  std::vector<ListSource> lists;
  std::vector<RuleSource> rules;  // first match wins
  PolicyDefaults defaults;
  QuicPolicySource quic;
};

}  // namespace sluice
