// What to set on a host for a `sluice run` configuration, derived from its lcore map and sizes:
// the kernel command line (core isolation, hugepages, IOMMU), /etc/dpdk/dpdk.conf and
// /etc/dpdk/interfaces lines. `sluice plan-host` prints it; `sluice check-host` quotes it in
// its fixes, so what is checked and what is advised cannot drift apart.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/config/run_config.h"
#include "dataplane/host/cpu_list.h"
#include "dataplane/host/host_facts.h"
#include "dataplane/host/sizing.h"

namespace sluice {

struct HostPlan {
  CpuSet worker_cpus;      // polled without pause: isolated, tickless, no RCU callbacks
  CpuSet management_cpus;  // the management lcore (and the API and reload threads it starts)
  CpuSet housekeeping_cpus;  // everything else: the kernel, IRQs, other services
  bool lcores_share_cpus = false;  // a test layout (several lcores on one CPU)
  // isolcpus=, nohz_full=, rcu_nocbs=, irqaffinity=; empty when there is nothing to isolate.
  std::vector<std::string> isolation_args;
  uint64_t hugepage_bytes = 0;  // 1G or 2M, the largest the CPU supports
  // Pages each NUMA node needs, by node (node 0 alone where the kernel reports no nodes): one
  // socket's pools and rings or that node's --socket-mem, whichever is more; then, spread over
  // the nodes, what the whole need has beyond their sum (--socket-mem for sockets the host lacks,
  // `-m`). Rounded up to whole pages. check-host compares the free pages with these, and every
  // fix it prints reserves them.
  std::map<int, uint64_t> hugepages_per_node;
  uint64_t hugepages_needed = 0;  // their sum
  // Pages at boot (hugepages=, or dpdk-hugepages.py without -n): the kernel spreads them evenly
  // over the nodes, so it takes nodes x the largest per-node need to give each node its own.
  uint64_t hugepages = 0;
  std::vector<std::string> hugepage_args;  // default_hugepagesz= hugepagesz= hugepages=
  std::vector<std::string> iommu_args;     // for vfio-pci, when the config has PCI ports
  std::string dpdk_conf;        // NR_1G_PAGES / NR_2M_PAGES for /etc/dpdk/dpdk.conf, per node
  std::string dpdk_interfaces;  // lines for /etc/dpdk/interfaces
  std::vector<std::string> notes;  // what the plan could not decide
  // Why this lcore layout cannot work on this host (a CPU it does not have, no CPU left for the
  // kernel). check-host reports each as a gap; plan-host refuses to print a plan.
  std::vector<std::string> problems;

  std::string kernel_cmdline() const;  // every argument above, space-separated
};

// The CPU each lcore runs on (lcores.cpus, or the lcore id itself).
uint32_t cpu_of_lcore(const RunConfig& config, uint32_t lcore);

// Always a plan; a layout that names a CPU the host does not have, or leaves the kernel no
// CPU, has `problems` (and no isolation arguments).
HostPlan plan_host(const RunConfig& config, const HostFacts& facts, const Sizing& sizing);

// "2.0 GiB", "512.0 MiB", "1536 KiB": binary units, one decimal above KiB; for people.
std::string format_bytes(uint64_t bytes);
// The same rounded up, as dpdk-hugepages.py takes it: "6G", "282M".
std::string hugepage_tool_size(uint64_t bytes);
// A page size as the kernel command line and dpdk-hugepages.py -p take it: "1G", "2M".
std::string hugepage_size_name(uint64_t page_bytes);

}  // namespace sluice
