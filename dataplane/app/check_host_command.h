// `sluice check-host --config FILE [--root DIR]`: inspects the machine (or a fake sysfs/procfs
// tree under DIR) against a run configuration and prints every gap with its fix, the checks
// that passed and the sizing figures. `sluice plan-host --config FILE [--root DIR]`: prints what
// to set on the host (kernel command line derived from the lcore map, hugepages,
// /etc/dpdk/interfaces) and the same sizing. Neither changes anything.
#pragma once

#include <string>

namespace sluice {

struct HostCommandOptions {
  std::string config;
  std::string root = "/";
};

// 0: no gap; 1: at least one gap; 2: the configuration or the host tree cannot be read.
int run_check_host(const HostCommandOptions& options);
// 0: printed; 2: the configuration or the host tree cannot be read, or the layout cannot work.
int run_plan_host(const HostCommandOptions& options);

}  // namespace sluice
