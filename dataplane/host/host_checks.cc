#include "dataplane/host/host_checks.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataplane/policy/absl_text.h"

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

// The lcores' CPUs: the workers' and the management lcore's, all isolated by the plan.
CpuSet lcore_cpus(const HostPlan& plan) {
  CpuSet cpus = plan.worker_cpus;
  cpus.insert(plan.management_cpus.begin(), plan.management_cpus.end());
  return cpus;
}

CpuSet intersection(const CpuSet& a, const CpuSet& b) {
  CpuSet out;
  for (uint32_t c : a)
    if (b.contains(c)) out.insert(c);
  return out;
}

CpuSet difference(const CpuSet& a, const CpuSet& b) {
  CpuSet out;
  for (uint32_t c : a)
    if (!b.contains(c)) out.insert(c);
  return out;
}

// Which lcores' CPUs these are, for people: "worker CPUs 2,3 and the management CPU 1".
std::string lcore_cpus_text(const CpuSet& cpus, const HostPlan& plan) {
  const CpuSet workers = intersection(cpus, plan.worker_cpus);
  const CpuSet management = intersection(cpus, plan.management_cpus);
  std::vector<std::string> parts;
  if (!workers.empty())
    parts.push_back(absl::StrCat(workers.size() == 1 ? "worker CPU " : "worker CPUs ",
                                 format_cpu_list(workers)));
  if (!management.empty())
    parts.push_back(absl::StrCat("the management CPU ", format_cpu_list(management)));
  return absl::StrJoin(parts, " and ");
}

// "4 x 1G pages: 2 on node 0, 2 on node 1"; the node is left out where the kernel reports none.
std::string hugepages_text(const HostFacts& facts, const HostPlan& plan) {
  std::string out = absl::StrCat(plan.hugepages_needed, " x ",
                                 hugepage_size_name(plan.hugepage_bytes), " pages");
  if (facts.cpu_node.empty()) return out;
  std::vector<std::string> nodes;
  for (const auto& [node, n] : plan.hugepages_per_node)
    nodes.push_back(absl::StrCat(n, " on node ", node));
  return absl::StrCat(out, ": ", absl::StrJoin(nodes, ", "));
}

void check_hugetlbfs(const HostFacts& facts, const HostPlan& plan, Findings& f) {
  const std::string size = hugepage_size_name(plan.hugepage_bytes);
  if (facts.hugetlbfs_mounts.empty()) {
    f.gap("hugepages", "no hugetlbfs is mounted: DPDK maps its hugepages through one",
          absl::StrCat("`mount -t hugetlbfs -o pagesize=", size, " nodev /dev/hugepages` "
                       "(systemd's dev-hugepages.mount does it at boot, for the size of "
                       "default_hugepagesz=; `systemctl enable --now dev-hugepages.mount`)"));
    return;
  }
  // DPDK maps only pages of a size some hugetlbfs serves: reserved pages of another size are
  // invisible to it. The sizes in use are those reserved now, or the plan's while none is.
  std::set<uint64_t> served;
  std::vector<std::string> mounts;
  for (const HugetlbfsMount& m : facts.hugetlbfs_mounts) {
    if (m.page_bytes == 0) return;  // a size the host does not tell: nothing to compare
    served.insert(m.page_bytes);
    mounts.push_back(absl::StrCat(m.path, " (", hugepage_size_name(m.page_bytes), ")"));
  }
  std::map<uint64_t, uint64_t> reserved;  // page size -> pages
  for (const HugepagePool& p : facts.hugepages)
    if (p.total > 0) reserved[p.page_bytes] += p.total;
  const bool planned_only = reserved.empty();
  if (planned_only) reserved[plan.hugepage_bytes] = plan.hugepages_needed;
  for (const auto& [page, n] : reserved) {
    if (served.contains(page)) continue;
    const std::string name = hugepage_size_name(page);
    f.gap("hugepages",
          absl::StrCat(planned_only ? absl::StrCat("the plan's ", n, " x ", name, " pages")
                                    : absl::StrCat(n, " x ", name, " pages are reserved, but"),
                       planned_only ? " would have " : " have ", "no hugetlbfs serving ", name,
                       " pages (mounted: ", absl::StrJoin(mounts, ", "),
                       "): DPDK maps only pages of a mounted size"),
          absl::StrCat("`mkdir -p /dev/hugepages-", name, " && mount -t hugetlbfs -o pagesize=",
                       name, " nodev /dev/hugepages-", name, "`, or boot with "
                       "`default_hugepagesz=", name, "` so that systemd's dev-hugepages.mount "
                       "serves them"));
    return;
  }
  std::vector<std::string> sizes;
  for (const auto& [page, n] : reserved) sizes.push_back(hugepage_size_name(page));
  f.ok("hugepages", absl::StrCat("hugetlbfs serves the ", absl::StrJoin(sizes, " and "),
                                 " pages: ", absl::StrJoin(mounts, ", ")));
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
  // One figure for the finding and every fix: the plan's pages (sizing's need and --socket-mem,
  // per node, in whole pages).
  const uint64_t needed = plan.hugepages_needed * plan.hugepage_bytes;
  uint64_t socket_mem = 0;
  for (uint64_t b : sizing.socket_mem_bytes) socket_mem += b;
  const std::string size = hugepage_size_name(plan.hugepage_bytes);
  const size_t nodes = plan.hugepages_per_node.size();
  const std::string setup = absl::StrCat(
      "reserve them at boot with `", absl::StrJoin(plan.hugepage_args, " "),
      "` on the kernel command line (`sluice plan-host`",
      nodes > 1 ? absl::StrCat("; the kernel spreads them evenly, ", plan.hugepages / nodes,
                               " on each node")
                : "",
      "), or now with `dpdk-hugepages.py -p ", size, " --setup ",
      hugepage_tool_size(plan.hugepages * plan.hugepage_bytes),
      "` (1G pages may only be found at boot), or `",
      absl::StripTrailingAsciiWhitespace(plan.dpdk_conf),
      "` in /etc/dpdk/dpdk.conf for Debian's dpdk.service");
  if (total_free < needed) {
    f.gap("hugepages",
          absl::StrCat("needs ", format_bytes(needed), " of hugepages in all (",
                       hugepages_text(facts, plan), "; pools and rings take ",
                       format_bytes(sizing.huge_bytes_pools), " per socket",
                       socket_mem == 0
                           ? ""
                           : absl::StrCat(", eal --socket-mem reserves ", format_bytes(socket_mem)),
                       "), ", format_bytes(total_free), " free of ",
                       format_bytes(total_reserved), " reserved",
                       total_reserved == 0 ? " (no hugepages are reserved)" : ""),
          setup);
  } else {
    f.ok("hugepages", absl::StrCat(format_bytes(total_free), " free, ", format_bytes(needed),
                                   " needed (", hugepages_text(facts, plan), ")"));
  }
  // DPDK reserves --socket-mem on each socket it names: one the host does not have fails it.
  std::set<int> host_nodes;
  for (const auto& [cpu, node] : facts.cpu_node) host_nodes.insert(node);
  const size_t node_count = std::max<size_t>(1, host_nodes.size());
  for (size_t i = node_count; i < sizing.socket_mem_bytes.size(); ++i) {
    if (sizing.socket_mem_bytes[i] == 0) continue;
    f.gap("hugepages",
          absl::StrCat("eal --socket-mem asks for ", format_bytes(sizing.socket_mem_bytes[i]),
                       " on socket ", i, ", but this host has ", node_count,
                       " NUMA node(s): DPDK cannot reserve it and will not start"),
          absl::StrCat("give --socket-mem one value per NUMA node (", node_count, ") in eal.args"));
    break;
  }
  check_hugetlbfs(facts, plan, f);
}

// A CPU list parameter on the running kernel's command line.
struct CmdlineCpus {
  std::optional<std::string> value;  // nullopt: absent
  std::set<std::string> flags;       // isolcpus= only: the words before the list
  std::optional<CpuSet> cpus;        // nullopt: absent, or not a list check-host reads
};

CmdlineCpus cmdline_cpus(const HostFacts& facts, const std::string& name, bool takes_flags) {
  CmdlineCpus out;
  out.value = facts.kernel_param(name);
  if (!out.value) return out;
  absl::string_view list = *out.value;
  while (takes_flags && !list.empty() && !absl::ascii_isdigit(list.front())) {
    const size_t comma = list.find(',');
    out.flags.emplace(list.substr(0, comma));
    list = comma == absl::string_view::npos ? "" : list.substr(comma + 1);
  }
  // isolcpus= without flags isolates from the scheduler domains only.
  if (takes_flags && out.flags.empty()) out.flags.insert("domain");
  absl::StatusOr<CpuSet> cpus = parse_cpu_list(sv(list));
  if (cpus.ok()) out.cpus = *std::move(cpus);
  return out;
}

// The plan's argument for `name` ("nohz_full=2,3").
std::string plan_arg(const HostPlan& plan, const std::string& name) {
  for (const std::string& a : plan.isolation_args)
    if (absl::StartsWith(a, absl::StrCat(name, "="))) return a;
  return "";
}

std::string param_fix(const CmdlineCpus& now, const std::string& name, const std::string& arg) {
  return absl::StrCat(now.value ? absl::StrCat("replace `", name, "=", *now.value, "` with `")
                                : std::string("add `"),
                      arg, "` in GRUB_CMDLINE_LINUX in /etc/default/grub, run update-grub and "
                           "reboot (`sluice plan-host` prints the whole line)");
}

// What `isolcpus=` lacks: every lcore's CPU, isolated from the scheduler domains (domain) and
// from managed interrupts (managed_irq).
std::vector<std::string> isolcpus_wrong(const CmdlineCpus& now, const HostPlan& plan) {
  const CpuSet lcores = lcore_cpus(plan);
  if (!now.value)
    return {absl::StrCat("the lcores' CPUs ", format_cpu_list(lcores), " are not isolated at boot")};
  std::vector<std::string> wrong;
  if (now.cpus && !difference(lcores, *now.cpus).empty())
    wrong.push_back(absl::StrCat("`isolcpus=", *now.value, "` leaves out ",
                                 lcore_cpus_text(difference(lcores, *now.cpus), plan),
                                 ": the scheduler may put other tasks there"));
  if (!now.flags.contains("domain"))
    wrong.push_back(absl::StrCat("`isolcpus=", *now.value, "` lacks the domain flag: the "
                                 "scheduler still balances tasks onto the lcores' CPUs"));
  if (!now.flags.contains("managed_irq"))
    wrong.push_back(absl::StrCat("`isolcpus=", *now.value, "` lacks the managed_irq flag: "
                                 "managed interrupts (NVMe, multiqueue NICs) may still land on "
                                 "CPUs ", format_cpu_list(lcores)));
  return wrong;
}

// What `nohz_full=` lacks: the workers, which poll without pause, must lose the tick.
std::vector<std::string> nohz_full_wrong(const CmdlineCpus& now, const HostPlan& plan) {
  const CpuSet ticking = difference(plan.worker_cpus, now.cpus.value_or(CpuSet{}));
  if (ticking.empty()) return {};
  return {absl::StrCat("the scheduler tick still runs on ", lcore_cpus_text(ticking, plan),
                       now.value ? absl::StrCat(" (`nohz_full=", *now.value, "`)") : "")};
}

// What `rcu_nocbs=` lacks. The kernel offloads the RCU callbacks of nohz_full CPUs too
// (rcu_init_nohz), so those count as covered.
std::vector<std::string> rcu_nocbs_wrong(const CmdlineCpus& now, const CmdlineCpus& nohz,
                                         const HostPlan& plan) {
  CpuSet offloaded = now.cpus.value_or(CpuSet{});
  if (nohz.cpus) offloaded.insert(nohz.cpus->begin(), nohz.cpus->end());
  const CpuSet callbacks = difference(plan.worker_cpus, offloaded);
  if (callbacks.empty()) return {};
  return {absl::StrCat("RCU callbacks still run on ", lcore_cpus_text(callbacks, plan),
                       now.value ? absl::StrCat(" (`rcu_nocbs=", *now.value, "`)")
                                 : " (the kernel offloads only nohz_full= CPUs without it)")};
}

// What is wrong with `irqaffinity=`: where interrupts start, so no lcore's CPU may be in it.
std::vector<std::string> irqaffinity_wrong(const CmdlineCpus& now, const HostPlan& plan) {
  const CpuSet lcores = lcore_cpus(plan);
  if (!now.value)
    return {absl::StrCat("interrupts may start on every CPU, ", lcore_cpus_text(lcores, plan),
                         " among them")};
  if (now.cpus && now.cpus->empty())
    return {"`irqaffinity=` is empty: interrupts may start on every CPU"};
  if (now.cpus && !intersection(*now.cpus, lcores).empty())
    return {absl::StrCat("`irqaffinity=", *now.value, "` lets interrupts start on ",
                         lcore_cpus_text(intersection(*now.cpus, lcores), plan))};
  return {};
}

// One parameter's finding: a gap whose fix is the plan's exact value, or a note when its list
// cannot be read. True when it covers the plan.
bool judge_param(const std::string& name, const CmdlineCpus& now, std::vector<std::string> wrong,
                 const HostPlan& plan, Findings& f) {
  if (now.value && !now.cpus) {
    f.note("cmdline", absl::StrCat("`", name, "=", *now.value, "` is not a CPU list check-host "
                                   "reads: compare it with `", plan_arg(plan, name), "` by hand"));
    return false;
  }
  if (wrong.empty()) return true;
  if (!now.value)
    wrong.insert(wrong.begin(), absl::StrCat("the running kernel was booted without `", name,
                                             "=` (/proc/cmdline)"));
  f.gap("cmdline", absl::StrJoin(wrong, "; "), param_fix(now, name, plan_arg(plan, name)));
  return false;
}

// The running kernel's isolation parameters against the plan's. /sys shows the scheduler
// isolation and nohz_full that took effect, but not managed_irq, rcu_nocbs or irqaffinity: only
// the command line the kernel booted with (/proc/cmdline) does.
void check_cmdline(const HostFacts& facts, const HostPlan& plan, Findings& f) {
  const CmdlineCpus isol = cmdline_cpus(facts, "isolcpus", true);
  const CmdlineCpus nohz = cmdline_cpus(facts, "nohz_full", false);
  const CmdlineCpus nocbs = cmdline_cpus(facts, "rcu_nocbs", false);
  const CmdlineCpus irq = cmdline_cpus(facts, "irqaffinity", false);
  bool ok = judge_param("isolcpus", isol, isolcpus_wrong(isol, plan), plan, f);
  // A kernel without full dynticks ignores nohz_full= (the isolation check notes it): nothing
  // to ask of the command line, and it offloads no RCU callbacks on its behalf.
  if (facts.nohz_full_supported)
    ok &= judge_param("nohz_full", nohz, nohz_full_wrong(nohz, plan), plan, f);
  ok &= judge_param("rcu_nocbs", nocbs,
                    rcu_nocbs_wrong(nocbs, facts.nohz_full_supported ? nohz : CmdlineCpus{}, plan),
                    plan, f);
  ok &= judge_param("irqaffinity", irq, irqaffinity_wrong(irq, plan), plan, f);
  if (ok)
    f.ok("cmdline", absl::StrCat("the running kernel's isolcpus, nohz_full, rcu_nocbs and "
                                 "irqaffinity cover the plan's `",
                                 absl::StrJoin(plan.isolation_args, " "), "`"));
}

void check_irqs(const HostFacts& facts, const HostPlan& plan, Findings& f) {
  // Interrupts allowed on a worker CPU steal it for microseconds at a time; on the management
  // CPU they delay the audit drain and the API, which share it.
  const CpuSet lcores = lcore_cpus(plan);
  std::vector<std::string> on_lcores;
  CpuSet hit;
  for (const IrqAffinity& irq : facts.irqs) {
    const CpuSet here = intersection(irq.cpus, lcores);
    if (here.empty()) continue;
    hit.insert(here.begin(), here.end());
    on_lcores.push_back(absl::StrCat(irq.irq, irq.actions.empty() ? "" : "(", irq.actions,
                                     irq.actions.empty() ? "" : ")"));
  }
  const std::string house = format_cpu_list(plan.housekeeping_cpus);
  if (!on_lcores.empty()) {
    const size_t shown = std::min<size_t>(on_lcores.size(), 12);
    f.gap("irqs",
          absl::StrCat(on_lcores.size(), on_lcores.size() == 1 ? " IRQ" : " IRQs",
                       " may run on ", lcore_cpus_text(hit, plan), ": ",
                       absl::StrJoin(on_lcores.begin(), on_lcores.begin() + shown, " "),
                       on_lcores.size() > shown ? " ..." : ""),
          absl::StrCat(cmdline_fix(plan), "; until then `for i in /proc/irq/[0-9]*; do echo ",
                       house, " > $i/smp_affinity_list; done` (managed IRQs refuse; stop "
                       "irqbalance or set IRQBALANCE_BANNED_CPULIST=", format_cpu_list(lcores),
                       " in /etc/default/irqbalance)"));
  } else {
    f.ok("irqs", absl::StrCat("no IRQ is allowed on ", lcore_cpus_text(lcores, plan), " (",
                              facts.irqs.size(), " IRQs read)"));
  }
  if (facts.default_irq_affinity) {
    const CpuSet overlap = intersection(*facts.default_irq_affinity, lcores);
    if (!overlap.empty())
      f.gap("irqs",
            absl::StrCat("new IRQs default to CPUs ",
                         format_cpu_list(*facts.default_irq_affinity),
                         " (/proc/irq/default_smp_affinity), ", lcore_cpus_text(overlap, plan),
                         " among them"),
            absl::StrCat(cmdline_fix(plan), "; until then `echo ",
                         format_cpu_mask(plan.housekeeping_cpus),
                         " > /proc/irq/default_smp_affinity`"));
  }
}

void check_cpus(const HostFacts& facts, const HostPlan& plan, Findings& f) {
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
  const CpuSet isolated = lcore_cpus(plan);
  const CpuSet not_isolated = difference(isolated, facts.isolated_cpus);
  const CpuSet not_tickless = difference(plan.worker_cpus, facts.nohz_full_cpus);
  if (!not_isolated.empty())
    f.gap("isolation",
          absl::StrCat("CPUs ", format_cpu_list(not_isolated),
                       " are not isolated from the scheduler (isolated now: \"",
                       format_cpu_list(facts.isolated_cpus), "\"): other tasks will run on them"),
          cmdline_fix(plan));
  else
    f.ok("isolation", absl::StrCat("CPUs ", format_cpu_list(isolated), " isolated"));
  if (!facts.nohz_full_supported)
    f.note("isolation",
           absl::StrCat("this kernel has no full dynticks (no /sys/devices/system/cpu/nohz_full: "
                        "built without CONFIG_NO_HZ_FULL), so nohz_full= is ignored and worker "
                        "CPUs ", format_cpu_list(plan.worker_cpus), " keep the scheduler tick, "
                        "a few microseconds every tick; a kernel built with it removes that "
                        "(`grep NO_HZ_FULL /boot/config-$(uname -r)`)"));
  else if (!not_tickless.empty())
    f.gap("isolation",
          absl::StrCat("worker CPUs ", format_cpu_list(not_tickless),
                       " keep the scheduler tick (nohz_full now: \"",
                       format_cpu_list(facts.nohz_full_cpus), "\")"),
          cmdline_fix(plan));
  else
    f.ok("isolation", absl::StrCat("worker CPUs ", format_cpu_list(plan.worker_cpus),
                                   " tickless (nohz_full)"));
  check_cmdline(facts, plan, f);
  check_irqs(facts, plan, f);
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
  if (want_vfio && facts.vfio_pci_loaded && facts.iommu_groups_present)
    f.ok("vfio", "vfio-pci loaded, IOMMU groups present");
}

// CPUs by NUMA node (-1: a CPU the host does not place).
std::map<int, CpuSet> by_node(const CpuSet& cpus, const HostFacts& facts) {
  std::map<int, CpuSet> out;
  for (uint32_t c : cpus) out[facts.node_of_cpu(c)].insert(c);
  return out;
}

// "node 0 (CPUs 2,3) and node 1 (CPUs 4,5)"
std::string nodes_text(const std::map<int, CpuSet>& nodes) {
  std::vector<std::string> parts;
  for (const auto& [node, cpus] : nodes)
    parts.push_back(absl::StrCat("node ", node, " (CPU", cpus.size() == 1 ? " " : "s ",
                                 format_cpu_list(cpus), ")"));
  return absl::StrJoin(parts, " and ");
}

CpuSet cpus_of_node(const HostFacts& facts, int node) {
  CpuSet cpus;
  for (const auto& [cpu, n] : facts.cpu_node)
    if (n == node) cpus.insert(cpu);
  return cpus;
}

// Every worker polls every port, so a port on another node than a worker means packets crossing
// the interconnect; and the management lcore builds the policy the workers read (its memory is
// first touched on the management lcore's node) and drains their audit rings.
void check_placement(const RunConfig& config, const HostFacts& facts, const HostPlan& plan,
                     std::map<int, std::vector<std::string>>& users, Findings& f) {
  std::map<int, CpuSet> workers = by_node(plan.worker_cpus, facts);
  workers.erase(-1);
  for (const auto& [node, cpus] : workers)
    users[node].push_back(absl::StrCat("workers ", format_cpu_list(cpus)));
  const uint32_t management_cpu = *plan.management_cpus.begin();
  const int management = facts.node_of_cpu(management_cpu);
  if (management >= 0) users[management].push_back(absl::StrCat("management ", management_cpu));
  bool placed_port = false;
  for (const PortConfig& p : config.ports) {
    auto it = facts.pci.find(p.device);
    if (p.kind != PortKind::kPci || it == facts.pci.end() || !it->second.present) continue;
    const int node = it->second.numa_node;
    if (node < 0) continue;
    placed_port = true;
    users[node].push_back(absl::StrCat("port ", p.name));
    if (workers.empty()) continue;  // the host places none of their CPUs
    if (workers.size() == 1 && workers.contains(node)) {
      f.ok("numa", absl::StrCat("port ", p.name, " and the workers on node ", node));
      continue;
    }
    f.gap("numa",
          absl::StrCat("port ", p.name, " (", p.device, ") sits on NUMA node ", node,
                       " but the workers run on ", nodes_text(workers),
                       ": packets between them cross the interconnect"),
          absl::StrCat("put every worker on CPUs of node ", node, " (",
                       format_cpu_list(cpus_of_node(facts, node)), ")",
                       workers.size() == 1 && !workers.contains(node)
                           ? absl::StrCat(", or the NIC in a slot of node ", workers.begin()->first)
                           : ""));
  }
  if (!placed_port) f.note("numa", "no PCI port with a known NUMA node to place");
  if (management < 0 || workers.empty()) return;
  if (workers.contains(management)) {
    f.ok("numa", absl::StrCat("the management lcore (CPU ", management_cpu, ") on node ",
                              management, " with the workers"));
    return;
  }
  const int home = workers.begin()->first;
  f.gap("numa",
        absl::StrCat("the management lcore (CPU ", management_cpu, ") runs on node ", management,
                     ", the workers on ", nodes_text(workers), ": the policy it builds sits in "
                     "node ", management, "'s memory, so every policy lookup of the workers "
                     "crosses the interconnect"),
        absl::StrCat("set lcores.management (or its lcores.cpus entry) to a CPU of node ", home,
                     " that no worker uses (",
                     format_cpu_list(difference(cpus_of_node(facts, home), plan.worker_cpus)),
                     "), leaving one for the kernel"));
}

// Each node DPDK allocates on (its ports' pools, its lcores' rings) needs its own hugepages:
// DPDK does not take a socket's memory from another node.
void check_node_hugepages(const HostFacts& facts, const HostPlan& plan,
                          const std::map<int, std::vector<std::string>>& users, Findings& f) {
  const std::string size = hugepage_size_name(plan.hugepage_bytes);
  for (const auto& [node, who] : users) {
    auto want = plan.hugepages_per_node.find(node);
    if (want == plan.hugepages_per_node.end()) continue;
    const uint64_t needed = want->second * plan.hugepage_bytes;
    uint64_t free_on_node = 0;
    for (const HugepagePool& hp : facts.hugepages)
      if (hp.node == node) free_on_node += hp.free * hp.page_bytes;
    if (free_on_node >= needed) continue;
    f.gap("numa",
          absl::StrCat("node ", node, " (", absl::StrJoin(who, ", "), ") has ",
                       format_bytes(free_on_node), " of hugepages free; it needs ",
                       format_bytes(needed), " (", want->second, " x ", size, " pages)"),
          absl::StrCat("`dpdk-hugepages.py -n ", node, " -p ", size, " --reserve ",
                       hugepage_tool_size(needed), "`, or `",
                       absl::StripTrailingAsciiWhitespace(plan.dpdk_conf),
                       "` in /etc/dpdk/dpdk.conf, or the boot-time reservation of `sluice "
                       "plan-host`"));
  }
}

void check_numa(const RunConfig& config, const HostFacts& facts, const HostPlan& plan,
                Findings& f) {
  if (facts.cpu_node.empty() || nodes_of(facts.online_cpus, facts).size() <= 1) {
    f.note("numa", "one NUMA node (or none reported): nothing to place");
    return;
  }
  // A layout the host cannot hold is a gap of `cpus`; a test layout places nothing.
  if (!plan.problems.empty() || plan.lcores_share_cpus) return;
  std::map<int, std::vector<std::string>> users;  // node -> what DPDK allocates there for
  check_placement(config, facts, plan, users, f);
  if (config.eal.huge_pages) check_node_hugepages(facts, plan, users, f);
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

// The policy's name table asks for transparent huge pages (dataplane/core/huge_array.h): at
// millions of names it is gigabytes probed at random, where 4 KiB pages would cost a page walk
// per lookup. (The flow tables and first-flight buffers stay on 4 KiB pages on purpose: they are
// faulted in by the workers as flows come, and a 2 MiB fault would stall a worker far longer.)
void check_thp(const HostFacts& facts, Findings& f) {
  if (facts.thp_mode == "always" || facts.thp_mode == "madvise") {
    f.ok("thp", absl::StrCat("transparent huge pages: ", facts.thp_mode,
                             " (the policy's name tables use them)"));
    return;
  }
  f.gap("thp",
        absl::StrCat("transparent huge pages are ",
                     facts.thp_mode.empty() ? "not in this kernel" : facts.thp_mode,
                     ": the policy's name tables get 4 KiB pages, a page walk per name lookup "
                     "at trust scale"),
        facts.thp_mode.empty()
            ? std::string("a kernel with CONFIG_TRANSPARENT_HUGEPAGE (Debian's has it)")
            : std::string("`echo madvise > /sys/kernel/mm/transparent_hugepage/enabled` now, "
                          "`transparent_hugepage=madvise` on the kernel command line for good"));
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

// flows.capacity (per worker) against flows.expected (the site's peak, over all workers). RSS
// spreads flows by hash, never exactly evenly, and a full table evicts live flows: each worker
// gets its share plus kFlowHeadroomPercent.
void check_flow_capacity(const RunConfig& config, Findings& f) {
  const uint64_t workers = std::max<size_t>(1, config.lcores.workers.size());
  const uint64_t capacity = config.inspector.flow_capacity;
  if (config.expected_flows == 0) {
    f.note("flows", absl::StrCat("flows.expected is not set: ", capacity, " flows per worker (",
                                 capacity * workers, " in all) is what is sized; set it to the "
                                 "site's peak of concurrent flows to have the capacity checked"));
    return;
  }
  const uint64_t needed = required_flow_capacity(config.expected_flows, workers);
  if (needed > kMaxFlowCapacity)
    f.gap("flows",
          absl::StrCat("flows.expected is ", config.expected_flows, ": each of the ", workers,
                       " workers would need ", needed, " flows (its share plus ",
                       kFlowHeadroomPercent, "%), more than flows.capacity can hold (",
                       kMaxFlowCapacity, ")"),
          absl::StrCat("add workers (lcores.workers) until each needs at most ", kMaxFlowCapacity,
                       ": ", (config.expected_flows * (100 + kFlowHeadroomPercent) / 100 +
                              kMaxFlowCapacity - 1) / kMaxFlowCapacity, " or more"));
  else if (capacity < needed)
    f.gap("flows",
          absl::StrCat("flows.capacity is ", capacity, " per worker (", capacity * workers,
                       " in all); flows.expected is ", config.expected_flows, ", so each of the ",
                       workers, " workers needs ", needed, " (its share plus ",
                       kFlowHeadroomPercent, "% for the uneven spread of RSS): a full table "
                       "evicts live flows"),
          absl::StrCat("set flows.capacity: ", needed, " in ", config.source,
                       " (memory: see the flow tables term below)"));
  else
    f.ok("flows", absl::StrCat(capacity, " flows per worker (", capacity * workers,
                               " in all) for ", config.expected_flows, " expected"));
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
  check_flow_capacity(config, f);
  if (facts.mem_available_bytes == 0) return;
  const SizingTerm* largest = sizing.largest_ram_term();
  if (sizing.ram_bytes > facts.mem_available_bytes)
    f.gap("memory",
          absl::StrCat("ordinary memory (sizing below) needs ", format_bytes(sizing.ram_bytes),
                       ", ", format_bytes(facts.mem_available_bytes),
                       " available (MemAvailable); the largest term is ", largest->what, ": ",
                       format_bytes(largest->amount)),
          absl::StrCat(largest->key.empty() ? std::string("shorten the policy lists")
                                            : absl::StrCat("lower ", largest->key),
                       " in ", config.source, " until the sum fits, or add ",
                       format_bytes(sizing.ram_bytes - facts.mem_available_bytes),
                       " of memory"));
  else
    f.ok("memory", absl::StrCat(format_bytes(sizing.ram_bytes), " needed, ",
                                format_bytes(facts.mem_available_bytes), " available"));
}

// The API socket is handed to api.unix_socket.group at start; sluice run refuses to start when
// the group does not exist, so a missing one is a gap before the first start.
void check_api_group(const RunConfig& config, const HostFacts& facts, Findings& f) {
  const ApiConfig& api = config.api;
  if (!api.enabled || api.unix_path.empty() || api.unix_group.empty()) return;
  if (!facts.groups) {
    f.note("api", absl::StrCat("cannot read ", facts.root, "/etc/group: whether group '",
                               api.unix_group, "' (api.unix_socket.group) exists is unknown"));
    return;
  }
  if (facts.groups->contains(api.unix_group)) {
    f.ok("api", absl::StrCat("group '", api.unix_group, "' for the API socket exists"));
    return;
  }
  f.gap("api",
        absl::StrCat("group '", api.unix_group, "' (api.unix_socket.group) does not exist: "
                     "sluice run refuses to start"),
        absl::StrCat("`systemd-sysusers sluice.conf` (the .deb's postinst runs it) or "
                     "`groupadd --system ", api.unix_group, "`; then `adduser NAME ",
                     api.unix_group, "` for each manager who may use the API"));
}

}  // namespace

std::vector<HostFinding> check_host(const RunConfig& config, const HostFacts& facts,
                                    const Sizing& sizing, const HostPlan& plan) {
  Findings f;
  check_hugepages(config, facts, sizing, plan, f);
  check_cpus(facts, plan, f);
  check_nics(config, facts, plan, f);
  check_numa(config, facts, plan, f);
  check_cpu_features(facts, f);
  check_clock(facts, f);
  check_thp(facts, f);
  check_sizing(config, facts, sizing, f);
  check_api_group(config, facts, f);
  return f.take();
}

HostFinding check_policy_lists(const RunConfig& config, const SizingInputs& inputs,
                               const absl::Status& lists) {
  if (!lists.ok())
    return {"policy", FindingLevel::kGap,
            absl::StrCat(lists.message(), " (the policy memory below counts only the lists "
                                          "that can be read)"),
            "install them, or fix the rules' `files` in the configuration"};
  size_t files = 0;
  for (const PolicyRuleConfig& rule : config.policy.rules) files += rule.files.size();
  return {"policy", FindingLevel::kOk,
          absl::StrCat(files, files == 1 ? " list" : " lists", " read: ", inputs.policy_names,
                       " names, ", inputs.policy_patterns, " patterns, ", inputs.policy_cidrs,
                       " addresses"),
          ""};
}

bool has_gap(const std::vector<HostFinding>& findings) {
  return std::any_of(findings.begin(), findings.end(),
                     [](const HostFinding& x) { return x.level == FindingLevel::kGap; });
}

}  // namespace sluice
