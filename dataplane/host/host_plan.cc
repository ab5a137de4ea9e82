#include "dataplane/host/host_plan.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace sluice {
namespace {

constexpr uint64_t k1G = 1ull << 30;
constexpr uint64_t k2M = 2ull << 20;

// NUMA nodes the kernel spreads boot-time hugepages over: node 0 alone where it reports none.
std::set<int> host_nodes(const HostFacts& facts) {
  std::set<int> nodes;
  for (const auto& [cpu, node] : facts.cpu_node) nodes.insert(node);
  if (nodes.empty()) nodes.insert(0);
  return nodes;
}

// See HostPlan::hugepages_per_node. --socket-mem is per socket, and a socket is a node.
std::map<int, uint64_t> hugepages_per_node(const HostFacts& facts, const Sizing& sizing,
                                           uint64_t page_bytes) {
  const auto pages = [page_bytes](uint64_t bytes) { return (bytes + page_bytes - 1) / page_bytes; };
  std::map<int, uint64_t> per_node;
  uint64_t placed = 0;
  for (int node : host_nodes(facts)) {
    uint64_t bytes = sizing.huge_bytes_pools;
    if (node >= 0 && static_cast<size_t>(node) < sizing.socket_mem_bytes.size())
      bytes = std::max(bytes, sizing.socket_mem_bytes[node]);
    per_node[node] = pages(bytes);
    placed += per_node[node];
  }
  // The whole need (the --socket-mem sum, -m, every pool) may hold more than the nodes' own
  // shares: --socket-mem naming sockets this host lacks (a gap of its own), or -m. Round-robin,
  // as the kernel itself spreads pages.
  for (auto it = per_node.begin(); placed < pages(sizing.huge_bytes_total); ++placed) {
    ++it->second;
    if (++it == per_node.end()) it = per_node.begin();
  }
  return per_node;
}

}  // namespace

uint32_t cpu_of_lcore(const RunConfig& config, uint32_t lcore) {
  auto it = config.lcores.cpus.find(lcore);
  return it == config.lcores.cpus.end() ? lcore : it->second;
}

std::string HostPlan::kernel_cmdline() const {
  std::vector<std::string> all = isolation_args;
  all.insert(all.end(), hugepage_args.begin(), hugepage_args.end());
  all.insert(all.end(), iommu_args.begin(), iommu_args.end());
  return absl::StrJoin(all, " ");
}

std::string format_bytes(uint64_t bytes) {
  if (bytes >= k1G) return absl::StrFormat("%.1f GiB", static_cast<double>(bytes) / k1G);
  if (bytes >= (1ull << 20))
    return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1ull << 20));
  return absl::StrCat((bytes + 1023) / 1024, " KiB");
}

std::string hugepage_size_name(uint64_t page_bytes) {
  return page_bytes >= k1G ? absl::StrCat(page_bytes / k1G, "G")
                           : absl::StrCat(page_bytes >> 20, "M");
}

std::string hugepage_tool_size(uint64_t bytes) {
  if (bytes % k1G == 0) return absl::StrCat(bytes / k1G, "G");
  return absl::StrCat((bytes + (1ull << 20) - 1) >> 20, "M");
}

HostPlan plan_host(const RunConfig& config, const HostFacts& facts, const Sizing& sizing) {
  HostPlan plan;
  std::vector<uint32_t> all_lcores = config.lcores.workers;
  all_lcores.push_back(config.lcores.management);
  std::set<uint32_t> seen;
  for (uint32_t lcore : all_lcores) {
    const uint32_t cpu = cpu_of_lcore(config, lcore);
    if (!facts.online_cpus.contains(cpu))
      plan.problems.push_back(absl::StrCat(
          config.source, ": lcore ", lcore, " runs on CPU ", cpu, ", which this host (",
          facts.root, ") does not have online (online: ", format_cpu_list(facts.online_cpus),
          ")"));
    if (!seen.insert(cpu).second) plan.lcores_share_cpus = true;
  }
  for (uint32_t lcore : config.lcores.workers)
    plan.worker_cpus.insert(cpu_of_lcore(config, lcore));
  plan.management_cpus.insert(cpu_of_lcore(config, config.lcores.management));
  for (uint32_t cpu : facts.online_cpus)
    if (!plan.worker_cpus.contains(cpu) && !plan.management_cpus.contains(cpu))
      plan.housekeeping_cpus.insert(cpu);

  if (!plan.problems.empty()) {
    // Nothing to isolate on a host the layout does not fit.
  } else if (plan.lcores_share_cpus) {
    plan.notes.push_back(
        "several lcores share a CPU (a test layout): no isolation is planned; on an appliance "
        "give every lcore a CPU of its own");
  } else if (plan.housekeeping_cpus.empty()) {
    plan.problems.push_back(absl::StrCat(
        config.source, ": the lcores take every online CPU (", format_cpu_list(facts.online_cpus),
        "); leave at least one CPU (CPU 0 is usual) out of `lcores` for the kernel, its "
        "interrupts and other services"));
  } else {
    CpuSet isolated = plan.worker_cpus;
    isolated.insert(plan.management_cpus.begin(), plan.management_cpus.end());
    // managed_irq: keep managed interrupts (NVMe, multiqueue NICs) off these CPUs too; domain:
    // no scheduler load balancing onto them. Workers poll without pause, so they also lose the
    // scheduler tick and RCU callbacks; the management lcore sleeps between loops, so it keeps
    // both (nohz_full only helps a CPU that never enters the kernel).
    plan.isolation_args = {
        absl::StrCat("isolcpus=managed_irq,domain,", format_cpu_list(isolated)),
        absl::StrCat("nohz_full=", format_cpu_list(plan.worker_cpus)),
        absl::StrCat("rcu_nocbs=", format_cpu_list(plan.worker_cpus)),
        absl::StrCat("irqaffinity=", format_cpu_list(plan.housekeeping_cpus)),
    };
  }

  if (config.eal.huge_pages) {
    plan.hugepage_bytes = facts.has_cpu_flag("pdpe1gb") ? k1G : k2M;
    plan.hugepages_per_node = hugepages_per_node(facts, sizing, plan.hugepage_bytes);
    uint64_t largest = 0;
    // Debian's dpdk-init takes one number per node, from node 0 up ("2 1"), so each node gets
    // exactly its own; a node id the kernel skips gets 0.
    std::vector<uint64_t> per_node(plan.hugepages_per_node.rbegin()->first + 1, 0);
    for (const auto& [node, n] : plan.hugepages_per_node) {
      plan.hugepages_needed += n;
      largest = std::max(largest, n);
      per_node[node] = n;
    }
    plan.hugepages = largest * plan.hugepages_per_node.size();
    const std::string size = hugepage_size_name(plan.hugepage_bytes);
    plan.hugepage_args = {absl::StrCat("default_hugepagesz=", size),
                          absl::StrCat("hugepagesz=", size),
                          absl::StrCat("hugepages=", plan.hugepages)};
    plan.dpdk_conf = absl::StrCat(plan.hugepage_bytes == k1G ? "NR_1G_PAGES" : "NR_2M_PAGES",
                                  per_node.size() == 1 ? "=" : "=\"",
                                  absl::StrJoin(per_node, " "), per_node.size() == 1 ? "" : "\"",
                                  "\n");
  } else {
    plan.notes.push_back("eal.huge_pages is false: no hugepages planned (test layout)");
  }

  bool pci = false;
  for (const PortConfig& p : config.ports) {
    if (p.kind != PortKind::kPci) continue;
    pci = true;
    absl::StrAppend(&plan.dpdk_interfaces, "pci ", p.device, " vfio-pci\n");
  }
  if (pci) {
    // vfio-pci needs the IOMMU; passthrough mode keeps it out of the kernel's own DMA path.
    // intel_iommu=on is ignored on AMD, whose IOMMU is on by default.
    plan.iommu_args = {"intel_iommu=on", "iommu=pt"};
  }
  return plan;
}

}  // namespace sluice
