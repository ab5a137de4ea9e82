// `sluice replay CAPTURE`: a capture through the real DPDK packet path (net_pcap vdev, EAL with
// --no-huge), the same worker code as live mode, one JSON audit record per flow on stdout and a
// human summary on stderr.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/core/flow_inspector.h"

namespace sluice {

struct ReplayOptions {
  std::string capture;
  InspectorConfig inspector;
  bool print_records = true;
  bool print_summary = true;
  int eal_memory_mb = 512;
};

// Returns the process exit code: 0 done, 2 the capture cannot be read, 1 anything else.
int run_replay(const ReplayOptions& options);

}  // namespace sluice
