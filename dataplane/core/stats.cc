#include "dataplane/core/stats.h"

namespace sluice {

std::string_view malformed_name(Malformed m) {
  switch (m) {
#define SLUICE_MALFORMED_NAME(name, str) \
  case Malformed::name:                  \
    return str;
    SLUICE_MALFORMED_REASONS(SLUICE_MALFORMED_NAME)
#undef SLUICE_MALFORMED_NAME
    case Malformed::kCount:
      break;
  }
  return "unknown";
}

void WorkerStats::add(const WorkerStats& other) {
#define SLUICE_COUNTER_ADD(name, help) name += other.name;
  SLUICE_WORKER_COUNTERS(SLUICE_COUNTER_ADD)
#undef SLUICE_COUNTER_ADD
  for (size_t i = 0; i < malformed_by_reason.size(); ++i)
    malformed_by_reason[i] += other.malformed_by_reason[i];
  for (size_t i = 0; i < flows_by_verdict.size(); ++i) flows_by_verdict[i] += other.flows_by_verdict[i];
  for (size_t i = 0; i < flows_by_anomaly.size(); ++i) flows_by_anomaly[i] += other.flows_by_anomaly[i];
}

}  // namespace sluice
