// `sluice replay CAPTURE`: a capture through the real DPDK packet path (net_pcap vdev, EAL with
// --no-huge), the same worker code as live mode, one JSON audit record per flow on stdout and a
// human summary on stderr. With --config, the policy of a `sluice run` configuration judges every
// flow.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/core/flow_inspector.h"

namespace sluice {

struct ReplayOptions {
  std::string capture;
  std::string config;  // a `sluice run` configuration whose policy judges the flows; empty: none
  InspectorConfig inspector;
  bool print_records = true;
  bool print_summary = true;
  int eal_memory_mb = 512;
};

// Returns the process exit code: 0 done, 2 the capture cannot be read or the configuration or
// its policy is refused, 1 anything else.
int run_replay(const ReplayOptions& options);

}  // namespace sluice
