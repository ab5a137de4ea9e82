// The DPDK Environment Abstraction Layer, initialised once per process.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sluice {

// Initialises the EAL with `args` (argv[0] first). A second call is an error: DPDK cannot be
// re-initialised in one process.
absl::Status init_eal(const std::vector<std::string>& args);

// Arguments for a process that needs no NIC and no hugepages (replay, tests, benchmarks):
// --no-huge, --no-pci, a memory size and a file prefix unique to this process.
std::vector<std::string> no_hardware_eal_args(const std::string& program, int memory_mb);

}  // namespace sluice
