// `sluice run --config FILE`: the appliance. Reads and checks the whole configuration, compiles
// the policy, starts the EAL and the ports, runs one BridgeWorker per worker lcore and the
// management loop on the main lcore (audit export, policy reloads published with RCU, counters),
// until SIGTERM or SIGINT.
#pragma once

#include <string>

namespace sluice {

struct RunOptions {
  std::string config;
};

// The process exit code: 0 after a clean stop, 2 when the configuration, its policy or the
// ports are refused before start, 1 for anything else.
int run_appliance(const RunOptions& options);

}  // namespace sluice
