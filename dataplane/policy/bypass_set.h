// Bypass entries: server names a network manager (or the interceptor's learning) has said must
// pass, whatever the policy's rules say — added and removed while Sluice runs, without
// recompiling the policy. An immutable set built on the management side and published beside
// the compiled policy (PolicyPublisher::publish_bypass); workers only read it.
//
// Where it sits in decide() (policy_snapshot.h): after the anomaly and `incomplete` defaults (a
// flow whose name may not be what the server received is never bypassed by its name) and
// before every rule. Only flows that name their server (TLS, QUIC, plain HTTP) can match.
// An entry may be limited to one client fingerprint (JA4): a learned entry passes the app that
// pins its certificates, while browsers (other JA4) to the same name keep their verdict.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "dataplane/core/decision.h"
#include "dataplane/policy/cidr_set.h"
#include "dataplane/policy/list_parser.h"
#include "dataplane/policy/name_entry.h"

namespace sluice {

// The rule name every bypass decision carries in the audit record.
inline constexpr std::string_view kBypassRule = "bypass";

struct BypassEntry {
  uint64_t id = 0;
  NameEntry name;             // list syntax: `name`, `.name` (and subdomains), `*.name`
  std::vector<Cidr> clients;  // empty: every client
  std::string ja4;            // empty: every client fingerprint
};

class BypassSet {
 public:
  // Control path. Entries may overlap; the first one (in the given order) that matches wins.
  static std::unique_ptr<const BypassSet> build(const std::vector<BypassEntry>& entries);

  // Packet path: no allocation. The entry's label ("bypass:ID") for the audit record, or
  // nullptr. The view is valid as long as the set.
  const std::string* match(const FlowFacts& facts) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  struct Compiled {
    uint8_t scope = 0;
    CidrSet clients;
    std::string ja4;
    std::string label;
  };
  BypassSet() = default;

  std::vector<Compiled> entries_;  // in the order given
  // Normalised name -> indexes into entries_, in order.
  absl::flat_hash_map<std::string, std::vector<uint32_t>> by_name_;
};

}  // namespace sluice
