#include "dataplane/host/host_checks.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sluice {
namespace {

// Drivers DPDK can drive a PCI port through: vfio-pci (the one to use), the older UIO ones,
// and the bifurcated Mellanox drivers, which stay bound to the kernel.
const std::set<std::string>& dpdk_capable_drivers() {
  static const std::set<std::string> drivers = {"vfio-pci", "uio_pci_generic", "igb_uio",
                                                "mlx5_core", "mlx4_core"};
  return drivers;
}

class Findings {
 public:
  void ok(std::string check, std::string detail) {
    out_.push_back({std::move(check), FindingLevel::kOk, std::move(detail), ""});
  }
  void note(std::string check, std::string detail) {
    out_.push_back({std::move(check), FindingLevel::kNote, std::move(detail), ""});
  }
  void gap(std::string check, std::string detail, std::string fix) {
    out_.push_back({std::move(check), FindingLevel::kGap, std::move(detail), std::move(fix)});
  }
  std::vector<HostFinding> take() { return std::move(out_); }

 private:
  std::vector<HostFinding> out_;
};

std::string cmdline_fix(const HostPlan& plan) {
  return absl::StrCat("add `", plan.kernel_cmdline(),
                      "` to GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and reboot "
                      "(`sluice plan-host --config FILE` prints it)");
}

std::set<int> nodes_of(const CpuSet& cpus, const HostFacts& facts) {
  std::set<int> nodes;
  for (uint32_t c : cpus) nodes.insert(facts.node_of_cpu(c));
  return nodes;
}

void check_hugepages(const RunConfig& config, const HostFacts& facts, const Sizing& sizing,
                     const HostPlan& plan, Findings& f) {
  if (!config.eal.huge_pages) {
    f.note("hugepages", "eal.huge_pages is false: DPDK runs on ordinary memory (a test "
                        "layout; an appliance needs hugepages for its NICs' DMA and its TLB)");
    return;
  }
  uint64_t total_free = 0, total_reserved = 0;
  for (const HugepagePool& p : facts.hugepages) {
    total_free += p.free * p.page_bytes;
    total_reserved += p.total * p.page_bytes;
  }
  const std::string setup = absl::StrCat(
      "reserve them at boot with `", absl::StrJoin(plan.hugepage_args, " "),
      "` on the kernel command line (`sluice plan-host`), or now with `dpdk-hugepages.py -p ",
      plan.hugepage_bytes == (1ull << 30) ? "1G" : "2M", " --setup ",
      hugepage_tool_size(plan.hugepages * plan.hugepage_bytes), "` (1G pages may only be found at "
      "boot), or `", absl::StripTrailingAsciiWhitespace(plan.dpdk_conf),
      "` in /etc/dpdk/dpdk.conf for Debian's dpdk.service");
  if (total_free < sizing.huge_bytes_total) {
    f.gap("hugepages",
          absl::StrCat("needs ", format_bytes(sizing.huge_bytes_total), " of hugepages in all (",
                       format_bytes(sizing.huge_bytes_per_socket), " on a socket with ports); ",
                       format_bytes(total_free), " free of ",
                       format_bytes(total_reserved), " reserved",
                       total_reserved == 0 ? " (no hugepages are reserved)" : ""),
          setup);
  } else {
    f.ok("hugepages", absl::StrCat(format_bytes(total_free), " free, ",
                                   format_bytes(sizing.huge_bytes_total), " needed"));
  }
  // DPDK reserves --socket-mem on each socket it names: one the host does not have fails it.
  std::set<int> nodes;
  for (const auto& [cpu, node] : facts.cpu_node) nodes.insert(node);
  const size_t node_count = std::max<size_t>(1, nodes.size());
  for (size_t i = node_count; i < sizing.socket_mem_bytes.size(); ++i) {
    if (sizing.socket_mem_bytes[i] == 0) continue;
    f.gap("hugepages",
          absl::StrCat("eal --socket-mem asks for ", format_bytes(sizing.socket_mem_bytes[i]),
                       " on socket ", i, ", but this host has ", node_count,
                       " NUMA node(s): DPDK cannot reserve it and will not start"),
          absl::StrCat("give --socket-mem one value per NUMA node (", node_count, ") in eal.args"));
    break;
  }
  if (facts.hugetlbfs_mounts.empty()) {
    f.gap("hugepages", "no hugetlbfs is mounted: DPDK maps its hugepages through one",
          "`mount -t hugetlbfs nodev /dev/hugepages` (systemd's dev-hugepages.mount does it at "
          "boot; `systemctl enable --now dev-hugepages.mount`)");
  }
}

void check_cpus(const HostFacts& facts, const HostPlan& plan,
                Findings& f) {
  if (!plan.problems.empty()) {
    // Isolation and IRQ placement mean nothing for CPUs the layout cannot have.
    for (const std::string& p : plan.problems)
      f.gap("cpus", p, "change `lcores` (and `lcores.cpus`) in the configuration to CPUs this "
                       "host has, leaving one for the kernel");
    return;
  }
  if (plan.lcores_share_cpus) {
    f.note("cpus", absl::StrCat("several lcores share a CPU (workers on ",
                                format_cpu_list(plan.worker_cpus), ", management on ",
                                format_cpu_list(plan.management_cpus),
                                "): a test layout; nothing about isolation is checked"));
    return;
  }
  f.ok("cpus", absl::StrCat("workers on CPUs ", format_cpu_list(plan.worker_cpus),
                            ", management on CPU ", format_cpu_list(plan.management_cpus),
                            ", kernel and IRQs on ", format_cpu_list(plan.housekeeping_cpus)));
  CpuSet isolated = plan.worker_cpus;
  isolated.insert(plan.management_cpus.begin(), plan.management_cpus.end());
  CpuSet not_isolated, not_tickless;
  for (uint32_t c : isolated)
    if (!facts.isolated_cpus.contains(c)) not_isolated.insert(c);
  for (uint32_t c : plan.worker_cpus)
    if (!facts.nohz_full_cpus.contains(c)) not_tickless.insert(c);
  if (!not_isolated.empty())
    f.gap("isolation",
          absl::StrCat("CPUs ", format_cpu_list(not_isolated),
                       " are not isolated from the scheduler (isolated now: \"",
                       format_cpu_list(facts.isolated_cpus), "\"): other tasks will run on them"),
          cmdline_fix(plan));
  else
    f.ok("isolation", absl::StrCat("CPUs ", format_cpu_list(isolated), " isolated"));
  if (!not_tickless.empty())
    f.gap("isolation",
          absl::StrCat("worker CPUs ", format_cpu_list(not_tickless),
                       " keep the scheduler tick (nohz_full now: \"",
                       format_cpu_list(facts.nohz_full_cpus), "\")"),
          cmdline_fix(plan));
  else
    f.ok("isolation", absl::StrCat("worker CPUs ", format_cpu_list(plan.worker_cpus),
                                   " tickless (nohz_full)"));

  // Interrupts allowed on a worker CPU steal it for microseconds at a time.
  std::vector<std::string> on_workers;
  for (const IrqAffinity& irq : facts.irqs) {
    bool hits = false;
    for (uint32_t c : irq.cpus) hits |= plan.worker_cpus.contains(c);
    if (hits)
      on_workers.push_back(absl::StrCat(irq.irq, irq.actions.empty() ? "" : "(", irq.actions,
                                        irq.actions.empty() ? "" : ")"));
  }
  const std::string house = format_cpu_list(plan.housekeeping_cpus);
  if (!on_workers.empty()) {
    const size_t shown = std::min<size_t>(on_workers.size(), 12);
    f.gap("irqs",
          absl::StrCat(on_workers.size(), " IRQs may run on worker CPUs ",
                       format_cpu_list(plan.worker_cpus), ": ",
                       absl::StrJoin(on_workers.begin(), on_workers.begin() + shown, " "),
                       on_workers.size() > shown ? " ..." : ""),
          absl::StrCat(cmdline_fix(plan), "; until then `for i in /proc/irq/[0-9]*; do echo ",
                       house, " > $i/smp_affinity_list; done` (managed IRQs refuse; stop "
                       "irqbalance or set IRQBALANCE_BANNED_CPULIST=",
                       format_cpu_list(plan.worker_cpus), " in /etc/default/irqbalance)"));
  } else {
    f.ok("irqs", absl::StrCat("no IRQ is allowed on worker CPUs (", facts.irqs.size(),
                              " IRQs read)"));
  }
  if (facts.default_irq_affinity) {
    CpuSet overlap;
    for (uint32_t c : *facts.default_irq_affinity)
      if (plan.worker_cpus.contains(c)) overlap.insert(c);
    if (!overlap.empty())
      f.gap("irqs",
            absl::StrCat("new IRQs default to CPUs ",
                         format_cpu_list(*facts.default_irq_affinity),
                         " (/proc/irq/default_smp_affinity), worker CPUs ",
                         format_cpu_list(overlap), " among them"),
            cmdline_fix(plan));
  }
}

void check_nics(const RunConfig& config, const HostFacts& facts, const HostPlan& plan,
                Findings& f) {
  bool any_pci = false, want_vfio = false;
  for (const PortConfig& p : config.ports) {
    if (p.kind != PortKind::kPci) {
      f.note("nic", absl::StrCat("port ", p.name, " is a vdev (", p.device,
                                 "): no NIC to check"));
      continue;
    }
    any_pci = true;
    auto it = facts.pci.find(p.device);
    const std::string bind = absl::StrCat(
        "`modprobe vfio-pci; dpdk-devbind.py -b vfio-pci ", p.device,
        "`, and for every boot the line `pci ", p.device,
        " vfio-pci` in /etc/dpdk/interfaces (Debian's dpdk.service binds it)");
    if (it == facts.pci.end() || !it->second.present) {
      f.gap("nic", absl::StrCat("port ", p.name, ": no PCI device ", p.device, " on this host"),
            "find the NIC's address with `dpdk-devbind.py --status` or `lspci -D | grep "
            "Ethernet` and put it in the port's `device`");
      continue;
    }
    const PciDeviceFacts& d = it->second;
    if (d.driver.empty()) {
      want_vfio = true;
      f.gap("nic", absl::StrCat("port ", p.name, " (", p.device, "): no driver bound"), bind);
    } else if (!dpdk_capable_drivers().contains(d.driver)) {
      want_vfio = true;
      f.gap("nic",
            absl::StrCat("port ", p.name, " (", p.device, ") is bound to the kernel driver ",
                         d.driver, ": DPDK cannot use it"),
            absl::StrCat("take the interface down, then ", bind));
    } else {
      want_vfio |= d.driver == "vfio-pci";
      f.ok("nic", absl::StrCat("port ", p.name, " (", p.device, ") bound to ", d.driver));
    }
  }
  if (any_pci && !config.eal.pci)
    f.gap("nic", "ports are PCI addresses but eal.pci is false", "set eal.pci: true");
  if (!any_pci) return;
  if (want_vfio && !facts.vfio_pci_loaded)
    f.gap("vfio", "the vfio-pci driver is not loaded",
          "`modprobe vfio-pci`, and `echo vfio-pci > /etc/modules-load.d/vfio-pci.conf`");
  if (want_vfio && !facts.iommu_groups_present)
    f.gap("vfio", "no IOMMU groups (/sys/kernel/iommu_groups is empty): vfio-pci needs the "
                  "IOMMU on",
          absl::StrCat("enable VT-d / AMD-Vi in the firmware and add `",
                       absl::StrJoin(plan.iommu_args, " "), "` to the kernel command line"));
}

void check_numa(const RunConfig& config, const HostFacts& facts, const Sizing& sizing,
                const HostPlan& plan, Findings& f) {
  const std::set<int> worker_nodes = nodes_of(plan.worker_cpus, facts);
  bool checked = false;
  for (const PortConfig& p : config.ports) {
    auto it = facts.pci.find(p.device);
    if (p.kind != PortKind::kPci || it == facts.pci.end() || !it->second.present) continue;
    const int node = it->second.numa_node;
    if (node < 0 || facts.cpu_node.empty()) continue;
    checked = true;
    std::set<int> others = worker_nodes;
    others.erase(node);
    if (!others.empty()) {
      CpuSet same_node;
      for (const auto& [cpu, n] : facts.cpu_node)
        if (n == node) same_node.insert(cpu);
      f.gap("numa",
            absl::StrCat("port ", p.name, " (", p.device, ") sits on NUMA node ", node,
                         " but workers run on node(s) ", absl::StrJoin(others, ","),
                         ": every packet would cross the interconnect"),
            absl::StrCat("put the workers on CPUs of node ", node, " (",
                         format_cpu_list(same_node), "), or the NIC in a slot of their node"));
    } else {
      f.ok("numa", absl::StrCat("port ", p.name, " and the workers on node ", node));
    }
    if (config.eal.huge_pages) {
      uint64_t free_on_node = 0;
      for (const HugepagePool& hp : facts.hugepages)
        if (hp.node == node) free_on_node += hp.free * hp.page_bytes;
      if (free_on_node < sizing.huge_bytes_per_socket)
        f.gap("numa",
              absl::StrCat("node ", node, " (port ", p.name, ") has ",
                           format_bytes(free_on_node), " of hugepages free; its packet pool "
                           "and rings need ", format_bytes(sizing.huge_bytes_per_socket)),
              absl::StrCat("`dpdk-hugepages.py -n ", node, " -p ",
                           plan.hugepage_bytes == (1ull << 30) ? "1G" : "2M", " --reserve ",
                           hugepage_tool_size(sizing.huge_bytes_per_socket),
                           "` or the boot-time reservation of `sluice plan-host`"));
    }
  }
  if (!checked)
    f.note("numa", facts.cpu_node.empty() || nodes_of(facts.online_cpus, facts).size() <= 1
                       ? "one NUMA node (or none reported): nothing to place"
                       : "no PCI port with a known NUMA node to place");
}

void check_cpu_features(const HostFacts& facts, Findings& f) {
  // Hyperscan needs SSSE3 at least (hs_valid_platform); Debian's libhs picks AVX2 / AVX-512
  // code paths at run time where the CPU has them.
  if (!facts.has_cpu_flag("ssse3"))
    f.gap("cpu", "the CPU has no SSSE3: Hyperscan (pattern rules) cannot run",
          "run on an x86-64 CPU with SSSE3 (every server CPU since 2008)");
  std::vector<std::string> simd;
  for (const char* flag : {"ssse3", "sse4_2", "avx2", "avx512bw", "avx512vbmi"})
    if (facts.has_cpu_flag(flag)) simd.emplace_back(flag);
  if (facts.has_cpu_flag("ssse3"))
    f.ok("cpu", absl::StrCat("Hyperscan can use: ", absl::StrJoin(simd, " "),
                             facts.has_cpu_flag("avx2") ? "" : " (no AVX2: slower patterns)"));
  if (facts.hyperscan_platform_ok.has_value() && !*facts.hyperscan_platform_ok)
    f.gap("cpu", "hs_valid_platform() refuses this CPU", "run on a CPU Hyperscan supports");
  if (facts.hypervisor())
    f.note("cpu", "running under a hypervisor: timings and isolation depend on the host too");
}

void check_clock(const HostFacts& facts, Findings& f) {
  // Sluice's clocks read the TSC (rte_rdtsc): it must tick at a constant rate in every power
  // state and be the kernel's clock source, which the kernel only keeps when it trusts it.
  const bool invariant = facts.has_cpu_flag("constant_tsc") && facts.has_cpu_flag("nonstop_tsc");
  if (!invariant)
    f.gap("clock", "the CPU's TSC is not invariant (constant_tsc and nonstop_tsc flags missing)",
          "use a CPU with an invariant TSC, or enable it in the firmware / hypervisor");
  if (facts.clocksource == "tsc") {
    f.ok("clock", "clock source tsc");
    return;
  }
  const bool tsc_available =
      std::find(facts.available_clocksources.begin(), facts.available_clocksources.end(),
                "tsc") != facts.available_clocksources.end();
  f.gap("clock",
        absl::StrCat("the kernel's clock source is ",
                     facts.clocksource.empty() ? "unknown" : facts.clocksource,
                     ", not tsc: the kernel does not trust the TSC that Sluice's timers read"),
        tsc_available
            ? "`echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource`, "
              "and `clocksource=tsc` on the kernel command line"
            : absl::StrCat("tsc is not among the available sources (",
                           absl::StrJoin(facts.available_clocksources, " "),
                           "): check `dmesg | grep -i tsc` for why the kernel marked it "
                           "unstable; on a VM, give it an invariant TSC (or run on metal)"));
}

void check_sizing(const RunConfig& config, const HostFacts& facts, const Sizing& sizing,
                  Findings& f) {
  if (sizing.mbufs_configured < sizing.mbufs.needed)
    f.gap("mbufs",
          absl::StrCat("mempool.mbufs is ", sizing.mbufs_configured, "; rings, caches and bursts "
                       "take ", sizing.mbufs.fixed, " and held first flights up to ",
                       sizing.mbufs.held, ": ", sizing.mbufs.needed, " needed"),
          absl::StrCat("set mempool.mbufs: ", sizing.mbufs.recommended, " in ", config.source));
  else
    f.ok("mbufs", absl::StrCat(sizing.mbufs_configured, " per pool, ", sizing.mbufs.needed,
                               " needed"));
  if (facts.mem_available_bytes == 0) return;
  if (sizing.ram_bytes > facts.mem_available_bytes)
    f.gap("memory",
          absl::StrCat("flow tables, first-flight buffers and policy need ",
                       format_bytes(sizing.ram_bytes), "; ",
                       format_bytes(facts.mem_available_bytes), " available"),
          "lower flows.capacity or first_flight.buffers, or add memory");
  else
    f.ok("memory", absl::StrCat(format_bytes(sizing.ram_bytes), " needed, ",
                                format_bytes(facts.mem_available_bytes), " available"));
}

}  // namespace

std::vector<HostFinding> check_host(const RunConfig& config, const HostFacts& facts,
                                    const Sizing& sizing, const HostPlan& plan) {
  Findings f;
  check_hugepages(config, facts, sizing, plan, f);
  check_cpus(facts, plan, f);
  check_nics(config, facts, plan, f);
  check_numa(config, facts, sizing, plan, f);
  check_cpu_features(facts, f);
  check_clock(facts, f);
  check_sizing(config, facts, sizing, f);
  return f.take();
}

bool has_gap(const std::vector<HostFinding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const HostFinding& x) { return x.level == FindingLevel::kGap; });
}

}  // namespace sluice
