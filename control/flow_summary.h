// The human summary printed after a replay: what kinds of flows there were, which server names,
// which anomalies, and what the workers counted (malformed input by reason, drops, overflows).
#pragma once

#include <cstdint>
#include <array>
#include <string>
#include <unordered_map>

#include "dataplane/core/audit_event.h"
#include "dataplane/core/stats.h"

namespace sluice {

class FlowSummary {
 public:
  // Counts the server name of a judged flow.
  void add_verdict(const AuditEvent& verdict);
  // Counts a finished flow: its kind, verdict and anomalies.
  void add_close(const AuditEvent& close);

  // Multi-line text for people. `elapsed_s` is wall time of the run.
  std::string render(const WorkerStats& stats, double elapsed_s, size_t top_names = 10) const;

  uint64_t flows() const { return flows_; }

 private:
  uint64_t flows_ = 0;
  uint64_t with_name_ = 0;
  // Indexed by enum value: counted for every flow, so no string work there.
  std::array<uint64_t, 8> by_first_flight_{};
  std::array<uint64_t, 4> by_verdict_{};
  std::array<uint64_t, static_cast<size_t>(Anomaly::kCount)> by_anomaly_{};
  std::unordered_map<std::string, uint64_t> by_name_;
};

}  // namespace sluice
