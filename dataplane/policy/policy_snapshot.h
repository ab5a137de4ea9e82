// The compiled policy: an immutable snapshot built once on the management core and read by every
// worker at once without locks (nothing in it changes after compile_policy() returns; workers
// keep their mutable state in their own PolicyScratch). Publication and reclamation (RCU) belong
// to the caller.
//
// decide() precedence, first match wins:
//   0. QUIC: a QUIC flow whose client's QUIC default (policy_source.h) is block;
//   1. anomaly defaults, in order: the flow carries an anomaly that means what we judged may not
//      be what the server received (overlap_conflict, ...), so no rule can trust its name;
//   2. `incomplete` default: the first flight never completed, nothing was judged;
//   3. rules, in order. A rule applies only to clients inside its client_subnets (all if none);
//      it matches when any of its lists does: name lists and pattern lists match the server name
//      only for TLS, QUIC and plain HTTP flows that carry one; address lists match the server
//      address of every flow (so an address rule can pass a known app that speaks non-TLS on
//      443, or decide no-SNI connections);
//   4. `ech` default: an ECH hello that no rule took. Rules come first because Chromium sends an
//      ECH extension (GREASE) in every hello, with the real name in the SNI: putting ECH first
//      would let every Chromium flow past every name rule. With real ECH the SNI is the
//      provider's public name, which rules may still match (a provider can be blocked whole);
//   5. `non_tls` default: a non-TLS first flight on a TLS port that no address rule took;
//   6. `no_sni` default: no server name (TLS without SNI, no payload, server-speaks-first);
//   7. the final default.
// Afterwards, with QUIC's fallback_for_intercept set, an intercept verdict on a QUIC flow becomes
// block (rule `quic_fallback_for_intercept`, list: what matched), so the browser uses TCP.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "dataplane/core/decision.h"
#include "dataplane/policy/policy_scratch.h"

namespace sluice {

class PolicySnapshot {
 public:
  virtual ~PolicySnapshot() = default;

  // Packet path: no allocation, no locks, no syscalls. `scratch` comes from allocate_scratch()
  // of this snapshot (a scratch of an older snapshot may be too small for this one's databases).
  virtual Decision decide(const FlowFacts& facts, PolicyScratch& scratch) const = 0;

  // Packet path. False when steps 1-2 above decide the flow (an anomaly or the `incomplete`
  // default), so nothing matched by name — a rule or a bypass entry — may decide it.
  virtual bool rules_apply(const FlowFacts& facts) const = 0;

  // Control path (the explicit proxy, before it looks a name up): whether decide() could answer
  // otherwise for some server address than for `facts`, whose server_ip is unknown: true when
  // a rule that applies to the client consults an address list before the rule that decides
  // (or, when none does, before the defaults after the rules). False lets a proxy refuse a
  // blocked name without resolving it.
  virtual bool address_may_matter(const FlowFacts& facts, PolicyScratch& scratch) const = 0;

  // Packet path: a hint that decide() will soon be asked about a flow naming `server_name`
  // (normalised); see NameSet::prefetch. Decides nothing.
  virtual void prefetch_name(std::string_view /*server_name*/) const {}

  // Control path: a scratch sized for every Hyperscan database in this snapshot. One per worker.
  virtual absl::StatusOr<std::unique_ptr<PolicyScratch>> allocate_scratch() const = 0;

  virtual uint64_t generation() const = 0;
  virtual std::string_view description() const = 0;
  // One line for status output: rules, lists, names, patterns, addresses, bytes.
  virtual std::string summary() const = 0;
};

}  // namespace sluice
