#include "dataplane/host/host_checks.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "dataplane/host/host_report.h"
#include "tests/dataplane/host/host_test_data.h"

namespace sluice {
namespace {

HostFacts tree_facts(const std::string& tree) {
  absl::StatusOr<HostFacts> facts =
      read_host_facts(testing::host_data(tree), {"0000:3b:00.0", "0000:3b:00.1"});
  EXPECT_TRUE(facts.ok()) << facts.status();
  return facts.ok() ? *facts : HostFacts{};
}

std::vector<HostFinding> check_facts(const HostFacts& facts, const RunConfig& c) {
  SizingInputs in;
  EXPECT_TRUE(count_policy_inputs(c, in).ok());
  const Sizing sizing = compute_sizing(c, in);
  return check_host(c, facts, sizing, plan_host(c, facts, sizing));
}

std::vector<HostFinding> check_tree(const std::string& tree, const RunConfig& c) {
  return check_facts(tree_facts(tree), c);
}

// The ready appliance with one fact changed: what a host that drifted from the plan shows.
template <typename Change>
std::vector<HostFinding> check_ready_but(Change change,
                                         const RunConfig& c = testing::appliance_config()) {
  HostFacts facts = tree_facts("ready");
  change(facts);
  return check_facts(facts, c);
}

size_t count(const std::vector<HostFinding>& all, const std::string& check, FindingLevel level) {
  return std::count_if(all.begin(), all.end(), [&](const HostFinding& f) {
    return f.check == check && f.level == level;
  });
}

// The finding of this check and level whose detail holds `text`, or nullptr.
const HostFinding* find(const std::vector<HostFinding>& all, const std::string& check,
                        FindingLevel level, const std::string& text) {
  for (const HostFinding& f : all)
    if (f.check == check && f.level == level && f.detail.find(text) != std::string::npos)
      return &f;
  return nullptr;
}

TEST(HostChecks, APreparedApplianceHasNoGap) {
  const std::vector<HostFinding> all = check_tree("ready", testing::appliance_config());
  EXPECT_FALSE(has_gap(all)) << render_findings(all);
  for (const char* check : {"hugepages", "cpus", "isolation", "cmdline", "irqs", "nic", "vfio",
                            "numa", "cpu", "clock", "thp", "mbufs", "memory"})
    EXPECT_TRUE(find(all, check, FindingLevel::kOk, "")) << check << "\n" << render_findings(all);
  EXPECT_TRUE(find(all, "nic", FindingLevel::kOk, "port outside0 (0000:3b:00.1) bound to vfio-pci"));
  EXPECT_TRUE(find(all, "vfio", FindingLevel::kOk, "vfio-pci loaded, IOMMU groups present"));
  EXPECT_TRUE(find(all, "cpu", FindingLevel::kOk, "ssse3 sse4_2 avx2 avx512bw"));
  EXPECT_TRUE(find(all, "hugepages", FindingLevel::kOk,
                   "4.0 GiB free, 2.0 GiB needed (2 x 1G pages: 1 on node 0, 1 on node 1)"))
      << render_findings(all);
  EXPECT_TRUE(find(all, "hugepages", FindingLevel::kOk,
                   "hugetlbfs serves the 1G pages: /dev/hugepages (1G)"));
  EXPECT_TRUE(find(all, "cmdline", FindingLevel::kOk,
                   "cover the plan's `isolcpus=managed_irq,domain,1-3 nohz_full=2,3 "
                   "rcu_nocbs=2,3 irqaffinity=0,4-7`"));
  EXPECT_TRUE(find(all, "irqs", FindingLevel::kOk,
                   "no IRQ is allowed on worker CPUs 2,3 and the management CPU 1"));
  EXPECT_TRUE(find(all, "numa", FindingLevel::kOk, "management lcore (CPU 1) on node 0"));
  EXPECT_NE(render_findings(all).find("no gaps"), std::string::npos);
}

TEST(HostChecks, AFreshInstallShowsEveryGapWithItsFix) {
  const std::vector<HostFinding> all = check_tree("fresh", testing::appliance_config());
  ASSERT_TRUE(has_gap(all));
  const HostFinding* f = find(all, "hugepages", FindingLevel::kGap, "no hugepages are reserved");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->detail.find("needs 2.0 GiB of hugepages in all (2 x 1G pages: 1 on node 0, 1 on "
                           "node 1"), std::string::npos) << f->detail;
  EXPECT_NE(f->fix.find("hugepages=2` on the kernel command line"), std::string::npos) << f->fix;
  EXPECT_NE(f->fix.find("dpdk-hugepages.py -p 1G --setup 2G`"), std::string::npos) << f->fix;
  EXPECT_NE(f->fix.find("NR_1G_PAGES=\"1 1\""), std::string::npos) << f->fix;
  f = find(all, "hugepages", FindingLevel::kGap, "no hugetlbfs is mounted");
  ASSERT_TRUE(f);
  EXPECT_NE(f->fix.find("mount -t hugetlbfs -o pagesize=1G nodev /dev/hugepages"),
            std::string::npos) << f->fix;

  f = find(all, "isolation", FindingLevel::kGap, "CPUs 1-3 are not isolated");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("isolcpus=managed_irq,domain,1-3 nohz_full=2,3"), std::string::npos);
  EXPECT_TRUE(find(all, "isolation", FindingLevel::kGap, "worker CPUs 2,3 keep the scheduler tick"));
  // Booted without any of the plan's isolation: each parameter is a gap with its exact value.
  EXPECT_EQ(count(all, "cmdline", FindingLevel::kGap), 4u) << render_findings(all);
  for (const char* arg : {"isolcpus=managed_irq,domain,1-3", "nohz_full=2,3", "rcu_nocbs=2,3",
                          "irqaffinity=0,4-7"}) {
    const std::string name = std::string(arg).substr(0, std::string(arg).find('='));
    f = find(all, "cmdline", FindingLevel::kGap, "booted without `" + name + "=`");
    ASSERT_TRUE(f) << name << "\n" << render_findings(all);
    EXPECT_NE(f->fix.find("add `" + std::string(arg) + "` in GRUB_CMDLINE_LINUX"),
              std::string::npos) << f->fix;
  }
  // IRQ 0 stays on CPU 0: only those allowed on an lcore's CPU are named.
  f = find(all, "irqs", FindingLevel::kGap, "3 IRQs may run on worker CPUs 2,3 and the "
                                            "management CPU 1: 24(ahci) 30(i40e-eno1-TxRx-0) "
                                            "31(nvme0q1)");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("echo 0,4-7 > $i/smp_affinity_list"), std::string::npos) << f->fix;
  EXPECT_NE(f->fix.find("IRQBALANCE_BANNED_CPULIST=1-3"), std::string::npos) << f->fix;
  f = find(all, "irqs", FindingLevel::kGap, "/proc/irq/default_smp_affinity), worker CPUs 2,3 "
                                            "and the management CPU 1 among them");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("`echo f1 > /proc/irq/default_smp_affinity`"), std::string::npos)
      << f->fix;

  f = find(all, "nic", FindingLevel::kGap, "bound to the kernel driver i40e");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("dpdk-devbind.py -b vfio-pci 0000:3b:00.0"), std::string::npos);
  EXPECT_NE(f->fix.find("pci 0000:3b:00.0 vfio-pci` in /etc/dpdk/interfaces"), std::string::npos);
  EXPECT_TRUE(find(all, "nic", FindingLevel::kGap, "outside0 (0000:3b:00.1): no driver bound"));
  EXPECT_TRUE(find(all, "vfio", FindingLevel::kGap, "vfio-pci driver is not loaded"));
  f = find(all, "vfio", FindingLevel::kGap, "no IOMMU groups");
  ASSERT_TRUE(f);
  EXPECT_NE(f->fix.find("intel_iommu=on iommu=pt"), std::string::npos);

  f = find(all, "numa", FindingLevel::kGap, "port outside0 (0000:3b:00.1) sits on NUMA node 1 "
                                            "but the workers run on node 0 (CPUs 2,3)");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("node 1 (4-7), or the NIC in a slot of node 0"), std::string::npos)
      << f->fix;
  EXPECT_TRUE(find(all, "numa", FindingLevel::kOk, "port inside0 and the workers on node 0"));
  // Each node DPDK allocates on needs its own pages; the fix reserves what the plan gives it.
  f = find(all, "numa", FindingLevel::kGap,
           "node 1 (port outside0) has 0 KiB of hugepages free; it needs 1.0 GiB (1 x 1G pages)");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("`dpdk-hugepages.py -n 1 -p 1G --reserve 1G`"), std::string::npos)
      << f->fix;
  EXPECT_TRUE(find(all, "numa", FindingLevel::kGap,
                   "node 0 (workers 2,3, management 1, port inside0) has 0 KiB of hugepages free"))
      << render_findings(all);

  f = find(all, "clock", FindingLevel::kGap, "clock source is hpet");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("echo tsc >"), std::string::npos);
  EXPECT_TRUE(find(all, "clock", FindingLevel::kGap, "nonstop_tsc"));
  // What is fine on a fresh box is still said to be fine.
  EXPECT_TRUE(find(all, "cpu", FindingLevel::kOk, "avx2"));
  EXPECT_TRUE(find(all, "mbufs", FindingLevel::kOk, "16383 per pool"));
}

TEST(HostChecks, AnIrqOnTheManagementCpuIsAGap) {
  const std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    for (IrqAffinity& irq : f.irqs)
      if (irq.irq == 31) irq.cpus = {1};
    f.default_irq_affinity = CpuSet{0, 1};
  });
  const HostFinding* g =
      find(all, "irqs", FindingLevel::kGap, "1 IRQ may run on the management CPU 1: 31(nvme0q1)");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("echo 0,4-7 > $i/smp_affinity_list"), std::string::npos) << g->fix;
  EXPECT_TRUE(find(all, "irqs", FindingLevel::kGap,
                   "new IRQs default to CPUs 0,1 (/proc/irq/default_smp_affinity), the "
                   "management CPU 1 among them"))
      << render_findings(all);
  EXPECT_FALSE(find(all, "irqs", FindingLevel::kOk, ""));
}

TEST(HostChecks, AKernelLineShortOfThePlanIsAGapPerParameter) {
  const std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    f.kernel_cmdline = "BOOT_IMAGE=/vmlinuz ro isolcpus=2,3 nohz_full=2 irqaffinity=0-7";
  });
  EXPECT_FALSE(find(all, "cmdline", FindingLevel::kOk, ""));
  const HostFinding* g = find(all, "cmdline", FindingLevel::kGap,
                              "`isolcpus=2,3` leaves out the management CPU 1");
  ASSERT_TRUE(g) << render_findings(all);
  // Without flags isolcpus= means `domain` only: managed interrupts still land there.
  EXPECT_NE(g->detail.find("lacks the managed_irq flag"), std::string::npos) << g->detail;
  EXPECT_EQ(g->detail.find("lacks the domain flag"), std::string::npos) << g->detail;
  EXPECT_NE(g->fix.find("replace `isolcpus=2,3` with `isolcpus=managed_irq,domain,1-3`"),
            std::string::npos) << g->fix;
  g = find(all, "cmdline", FindingLevel::kGap, "the scheduler tick still runs on worker CPU 3");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("replace `nohz_full=2` with `nohz_full=2,3`"), std::string::npos);
  g = find(all, "cmdline", FindingLevel::kGap, "booted without `rcu_nocbs=`");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->detail.find("RCU callbacks still run on worker CPU 3"), std::string::npos)
      << g->detail;
  EXPECT_NE(g->fix.find("add `rcu_nocbs=2,3`"), std::string::npos);
  g = find(all, "cmdline", FindingLevel::kGap,
           "`irqaffinity=0-7` lets interrupts start on worker CPUs 2,3 and the management CPU 1");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("replace `irqaffinity=0-7` with `irqaffinity=0,4-7`"), std::string::npos);
  EXPECT_EQ(count(all, "cmdline", FindingLevel::kGap), 4u) << render_findings(all);
}

TEST(HostChecks, TheKernelLineIsJudgedAsTheKernelReadsIt) {
  // nohz_full= CPUs have their RCU callbacks offloaded too; more flags or CPUs than the plan's
  // do no harm; the last isolcpus= counts.
  std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    f.kernel_cmdline = "isolcpus=1 isolcpus=nohz,managed_irq,domain,1-3,7 nohz_full=2-3 "
                       "irqaffinity=0";
  });
  EXPECT_TRUE(find(all, "cmdline", FindingLevel::kOk, "")) << render_findings(all);
  // The flags alone are not a domain isolation: `managed_irq,1-3` lacks domain.
  all = check_ready_but([](HostFacts& f) {
    f.kernel_cmdline = "isolcpus=managed_irq,1-3 nohz_full=2,3 rcu_nocbs=2,3 irqaffinity=0,4-7";
  });
  EXPECT_TRUE(find(all, "cmdline", FindingLevel::kGap,
                   "`isolcpus=managed_irq,1-3` lacks the domain flag"))
      << render_findings(all);
  // A list check-host cannot read is left to people, not guessed.
  all = check_ready_but([](HostFacts& f) {
    f.kernel_cmdline = "isolcpus=managed_irq,domain,1-3 nohz_full=2-N rcu_nocbs=2,3 "
                       "irqaffinity=0,4-7";
  });
  EXPECT_TRUE(find(all, "cmdline", FindingLevel::kNote,
                   "`nohz_full=2-N` is not a CPU list check-host reads: compare it with "
                   "`nohz_full=2,3` by hand"))
      << render_findings(all);
  EXPECT_FALSE(find(all, "cmdline", FindingLevel::kGap, ""));
}

TEST(HostChecks, WorkersOnTwoNodesAreAllNamed) {
  const std::vector<HostFinding> all =
      check_tree("ready", testing::appliance_config_with("workers: [2, 3]", "workers: [2, 5]"));
  const HostFinding* g = find(all, "numa", FindingLevel::kGap,
                              "port inside0 (0000:3b:00.0) sits on NUMA node 0 but the workers "
                              "run on node 0 (CPU 2) and node 1 (CPU 5)");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("put every worker on CPUs of node 0 (0-3)"), std::string::npos) << g->fix;
  EXPECT_TRUE(find(all, "numa", FindingLevel::kGap, "port outside0 (0000:3b:00.1) sits on NUMA "
                                                    "node 0 but the workers run on node 0"));
  // The management lcore is on node 0 with one of them.
  EXPECT_TRUE(find(all, "numa", FindingLevel::kOk, "management lcore (CPU 1) on node 0"));
}

TEST(HostChecks, TheManagementLcoreOnAnotherNodeIsAGap) {
  const std::vector<HostFinding> all =
      check_tree("ready", testing::appliance_config_with("management: 1", "management: 5"));
  const HostFinding* g = find(all, "numa", FindingLevel::kGap,
                              "the management lcore (CPU 5) runs on node 1, the workers on node 0 "
                              "(CPUs 2,3)");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("a CPU of node 0 that no worker uses (0,1)"), std::string::npos) << g->fix;
  // Ports and workers still agree.
  EXPECT_TRUE(find(all, "numa", FindingLevel::kOk, "port inside0 and the workers on node 0"));
}

TEST(HostChecks, HugepagesOnOneNodeOnlyAreAGapForTheOther) {
  const std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    for (HugepagePool& p : f.hugepages)
      if (p.node == 0) p.free = 0;  // node 1 still has 2 x 1G free: enough in all
  });
  EXPECT_TRUE(find(all, "hugepages", FindingLevel::kOk, "2.0 GiB free, 2.0 GiB needed"))
      << render_findings(all);
  const HostFinding* g = find(all, "numa", FindingLevel::kGap,
                              "node 0 (workers 2,3, management 1, port inside0, port outside0) "
                              "has 0 KiB of hugepages free; it needs 1.0 GiB (1 x 1G pages)");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("`dpdk-hugepages.py -n 0 -p 1G --reserve 1G`"), std::string::npos)
      << g->fix;
  EXPECT_NE(g->fix.find("`NR_1G_PAGES=\"1 1\"`"), std::string::npos) << g->fix;
  EXPECT_EQ(count(all, "numa", FindingLevel::kGap), 1u) << render_findings(all);
}

TEST(HostChecks, HugetlbfsMustServeThePagesReserved) {
  std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    f.hugetlbfs_mounts = {{"/dev/hugepages", 2ull << 20}};
  });
  const HostFinding* g = find(all, "hugepages", FindingLevel::kGap,
                              "4 x 1G pages are reserved, but have no hugetlbfs serving 1G pages "
                              "(mounted: /dev/hugepages (2M))");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("mount -t hugetlbfs -o pagesize=1G nodev /dev/hugepages-1G"),
            std::string::npos) << g->fix;
  // Nothing reserved yet: the plan's pages are what must be served.
  all = check_ready_but([](HostFacts& f) {
    f.hugetlbfs_mounts = {{"/dev/hugepages", 2ull << 20}};
    for (HugepagePool& p : f.hugepages) p.total = p.free = 0;
  });
  EXPECT_TRUE(find(all, "hugepages", FindingLevel::kGap,
                   "the plan's 2 x 1G pages would have no hugetlbfs serving 1G pages"))
      << render_findings(all);
  // A mount whose size the host does not tell is not judged.
  all = check_ready_but([](HostFacts& f) { f.hugetlbfs_mounts = {{"/dev/hugepages", 0}}; });
  EXPECT_FALSE(has_gap(all)) << render_findings(all);
}

TEST(HostChecks, NoSsse3IsAGap) {
  const std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    std::erase(f.cpu_flags, "ssse3");
  });
  const HostFinding* g =
      find(all, "cpu", FindingLevel::kGap, "the CPU has no SSSE3: Hyperscan (pattern rules) "
                                           "cannot run");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("an x86-64 CPU with SSSE3"), std::string::npos) << g->fix;
  EXPECT_FALSE(find(all, "cpu", FindingLevel::kOk, "Hyperscan can use"));
}

TEST(HostChecks, TooLittleMemoryNamesTheKeyToLower) {
  const RunConfig c = testing::appliance_config();
  const std::vector<HostFinding> all =
      check_ready_but([](HostFacts& f) { f.mem_available_bytes = 64ull << 20; }, c);
  const HostFinding* g = find(all, "memory", FindingLevel::kGap, "64.0 MiB available (MemAvailable)");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->detail.find("the largest term is first-flight buffers"), std::string::npos)
      << g->detail;
  EXPECT_NE(g->fix.find("lower first_flight.buffers in appliance.yaml"), std::string::npos)
      << g->fix;
  EXPECT_FALSE(find(all, "memory", FindingLevel::kOk, ""));
}

TEST(HostChecks, PolicyListsReadOrNamed) {
  const RunConfig c = testing::appliance_config();
  SizingInputs in;
  absl::Status lists = count_policy_inputs(c, in);
  HostFinding f = check_policy_lists(c, in, lists);
  EXPECT_EQ(f.level, FindingLevel::kOk);
  EXPECT_EQ(f.detail, "2 lists read: 3 names, 0 patterns, 1 addresses");
  RunConfig broken = c;
  broken.policy.rules[0].files.push_back(testing::host_data("lists/missing.txt"));
  SizingInputs partial;
  lists = count_policy_inputs(broken, partial);
  f = check_policy_lists(broken, partial, lists);
  EXPECT_EQ(f.level, FindingLevel::kGap);
  EXPECT_NE(f.detail.find("policy lists that cannot be read: "), std::string::npos) << f.detail;
  EXPECT_NE(f.detail.find("lists/missing.txt"), std::string::npos) << f.detail;
  EXPECT_NE(f.fix.find("install them"), std::string::npos);
}

TEST(HostChecks, TooFewMbufsIsAGapWithTheNumberToSet) {
  const std::vector<HostFinding> all =
      check_tree("ready", testing::appliance_config_with("mbufs: 16383", "mbufs: 10239"));
  const HostFinding* f = find(all, "mbufs", FindingLevel::kGap, "mempool.mbufs is 10239");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->detail.find("12628 needed"), std::string::npos) << f->detail;
  EXPECT_NE(f->fix.find("mempool.mbufs: 16383"), std::string::npos);
}

TEST(HostChecks, SocketMemForANodeTheHostLacks) {
  const std::vector<HostFinding> ok = check_tree(
      "ready", testing::appliance_config_with("  file_prefix: host-test\n",
                                              "  file_prefix: host-test\n  args: [\"--socket-mem=1024,1024\"]\n"));
  EXPECT_FALSE(find(ok, "hugepages", FindingLevel::kGap, "--socket-mem")) << render_findings(ok);
  const std::vector<HostFinding> bad = check_tree(
      "ready", testing::appliance_config_with("  file_prefix: host-test\n",
                                              "  file_prefix: host-test\n  args: [\"--socket-mem=1024,0,512\"]\n"));
  EXPECT_TRUE(find(bad, "hugepages", FindingLevel::kGap,
                   "asks for 512.0 MiB on socket 2, but this host has 2 NUMA node(s)"))
      << render_findings(bad);
}

// The finding and every fix it prints give one number: the larger of --socket-mem's sum and the
// sizing's need, in whole pages per node.
TEST(HostChecks, TheHugepageFindingAndItsFixesAgree) {
  const RunConfig c = testing::appliance_config_with(
      "  file_prefix: host-test\n",
      "  file_prefix: host-test\n  args: [\"--socket-mem=2048,2048\"]\n");
  // One node, no pages: the sum of --socket-mem (4 GiB) is more than one socket's 2 GiB.
  std::vector<HostFinding> all = check_ready_but([](HostFacts& f) {
    f.cpu_node.clear();
    f.hugepages = {{1ull << 30, -1, 0, 0}};
  }, c);
  const HostFinding* g = find(all, "hugepages", FindingLevel::kGap, "needs 4.0 GiB of hugepages in "
                                                                    "all (4 x 1G pages;");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->detail.find("eal --socket-mem reserves 4.0 GiB"), std::string::npos) << g->detail;
  for (const char* fix : {"hugepages=4`", "--setup 4G`", "`NR_1G_PAGES=4`"})
    EXPECT_NE(g->fix.find(fix), std::string::npos) << fix << "\n" << g->fix;
  // Two nodes, uneven --socket-mem: each node its own; the boot line evens them out.
  const RunConfig uneven = testing::appliance_config_with(
      "  file_prefix: host-test\n",
      "  file_prefix: host-test\n  args: [\"--socket-mem=2048,1024\"]\n");
  all = check_ready_but([](HostFacts& f) {
    for (HugepagePool& p : f.hugepages) p.total = p.free = 0;
  }, uneven);
  g = find(all, "hugepages", FindingLevel::kGap,
           "needs 3.0 GiB of hugepages in all (3 x 1G pages: 2 on node 0, 1 on node 1;");
  ASSERT_TRUE(g) << render_findings(all);
  EXPECT_NE(g->fix.find("hugepages=4` on the kernel command line (`sluice plan-host`; the kernel "
                        "spreads them evenly, 2 on each node)"),
            std::string::npos) << g->fix;
  EXPECT_NE(g->fix.find("`NR_1G_PAGES=\"2 1\"`"), std::string::npos) << g->fix;
  EXPECT_TRUE(find(all, "numa", FindingLevel::kGap, "node 0 (workers 2,3, management 1, port "
                                                    "inside0, port outside0) has 0 KiB of "
                                                    "hugepages free; it needs 2.0 GiB"))
      << render_findings(all);
}

TEST(HostChecks, AMissingNicAndAVdevPort) {
  const std::vector<HostFinding> all = check_tree(
      "ready", testing::appliance_config_with("device: \"0000:3b:00.1\"",
                                              "device: \"0000:5e:00.0\""));
  EXPECT_TRUE(find(all, "nic", FindingLevel::kGap, "no PCI device 0000:5e:00.0 on this host"))
      << render_findings(all);
  const std::vector<HostFinding> vdev = check_tree(
      "ready", testing::appliance_config_with("device: \"0000:3b:00.1\"",
                                              "device: \"net_null0\""));
  EXPECT_TRUE(find(vdev, "nic", FindingLevel::kNote, "port outside0 is a vdev (net_null0)"));
}

TEST(HostChecks, ALayoutTheHostCannotHoldIsAGap) {
  const std::vector<HostFinding> all =
      check_tree("ready", testing::appliance_config_with("workers: [2, 3]", "workers: [2, 12]"));
  EXPECT_TRUE(find(all, "cpus", FindingLevel::kGap, "lcore 12 runs on CPU 12"));
  // The rest is still checked.
  EXPECT_TRUE(find(all, "nic", FindingLevel::kOk, "bound to vfio-pci"));
}

TEST(HostChecks, SharedCpusAreATestLayout) {
  const std::vector<HostFinding> all = check_tree(
      "ready", testing::appliance_config_with(
                   "  workers: [2, 3]\n",
                   "  workers: [2, 3]\n  cpus: {1: 0, 2: 0, 3: 0}\n  idle_backoff: {enabled: true}\n"));
  EXPECT_TRUE(find(all, "cpus", FindingLevel::kNote, "a test layout")) << render_findings(all);
  EXPECT_FALSE(find(all, "isolation", FindingLevel::kGap, ""));
}

TEST(HostChecks, AKernelWithoutFullDynticksIsANoteNotAGapThatCannotClose) {
  // "(null)" (fresh tree): the kernel can, and was booted without nohz_full=: a gap.
  const std::vector<HostFinding> fresh = check_tree("fresh", testing::appliance_config());
  EXPECT_TRUE(find(fresh, "isolation", FindingLevel::kGap, "keep the scheduler tick"))
      << render_findings(fresh);
  // No nohz_full file: the kernel cannot, whatever its command line says.
  const std::vector<HostFinding> none = check_ready_but([](HostFacts& facts) {
    facts.nohz_full_supported = false;
    facts.nohz_full_cpus.clear();
  });
  EXPECT_TRUE(find(none, "isolation", FindingLevel::kNote, "CONFIG_NO_HZ_FULL"))
      << render_findings(none);
  EXPECT_FALSE(find(none, "isolation", FindingLevel::kGap, "")) << render_findings(none);
  EXPECT_FALSE(find(none, "cmdline", FindingLevel::kGap, "nohz_full")) << render_findings(none);
  // Such a kernel offloads no RCU callbacks for nohz_full=: without rcu_nocbs= they stay.
  const std::vector<HostFinding> no_nocbs = check_ready_but([](HostFacts& facts) {
    facts.nohz_full_supported = false;
    facts.kernel_cmdline = "ro isolcpus=managed_irq,domain,1-3 nohz_full=2-3 irqaffinity=0,4-7";
  });
  EXPECT_TRUE(find(no_nocbs, "cmdline", FindingLevel::kGap, "RCU callbacks still run"))
      << render_findings(no_nocbs);
}

TEST(HostChecks, TransparentHugePagesMustNotBeOff) {
  EXPECT_TRUE(find(check_tree("ready", testing::appliance_config()), "thp", FindingLevel::kOk,
                   "madvise"));
  const std::vector<HostFinding> fresh = check_tree("fresh", testing::appliance_config());
  const HostFinding* gap = find(fresh, "thp", FindingLevel::kGap, "transparent huge pages are never");
  ASSERT_NE(gap, nullptr) << render_findings(fresh);
  EXPECT_NE(gap->fix.find("transparent_hugepage=madvise"), std::string::npos) << gap->fix;
  const std::vector<HostFinding> none =
      check_ready_but([](HostFacts& facts) { facts.thp_mode.clear(); });
  EXPECT_TRUE(find(none, "thp", FindingLevel::kGap, "not in this kernel")) << render_findings(none);
}

TEST(HostChecks, FlowCapacityIsHeldAgainstTheExpectedFlows) {
  RunConfig c = testing::appliance_config();  // 2 workers, 65536 flows each
  EXPECT_TRUE(find(check_tree("ready", c), "flows", FindingLevel::kNote, "flows.expected is not set"));
  c.expected_flows = 100'000;  // 50 000 each, 62 500 with headroom: fits
  EXPECT_TRUE(find(check_tree("ready", c), "flows", FindingLevel::kOk, "for 100000 expected"));
  c.expected_flows = 200'000;  // 125 000 with headroom
  const std::vector<HostFinding> all = check_tree("ready", c);
  const HostFinding* gap = find(all, "flows", FindingLevel::kGap, "flows.expected is 200000");
  ASSERT_NE(gap, nullptr) << render_findings(all);
  EXPECT_NE(gap->fix.find("set flows.capacity: 125952"), std::string::npos) << gap->fix;
  c.expected_flows = 100'000'000;  // 62.5M each: more than a table may hold
  const std::vector<HostFinding> huge = check_tree("ready", c);
  const HostFinding* more = find(huge, "flows", FindingLevel::kGap, "more than flows.capacity can hold");
  ASSERT_NE(more, nullptr) << render_findings(huge);
  EXPECT_NE(more->fix.find("add workers"), std::string::npos) << more->fix;
  EXPECT_EQ(more->fix.find("set flows.capacity"), std::string::npos) << more->fix;
}

// The example's API socket, handed to a group that must exist before sluice starts.
RunConfig with_api_group() {
  RunConfig c = testing::appliance_config();
  c.api.enabled = true;
  c.api.unix_path = "/run/sluice/api.sock";
  c.api.unix_group = "sluice-admin";
  return c;
}

TEST(HostChecks, TheApiSocketsGroupMustExist) {
  const std::vector<HostFinding> ready = check_tree("ready", with_api_group());
  EXPECT_TRUE(find(ready, "api", FindingLevel::kOk, "group 'sluice-admin'")) << render_findings(ready);
  const std::vector<HostFinding> fresh = check_tree("fresh", with_api_group());
  const HostFinding* gap =
      find(fresh, "api", FindingLevel::kGap, "group 'sluice-admin' (api.unix_socket.group) does not exist");
  ASSERT_NE(gap, nullptr) << render_findings(fresh);
  EXPECT_NE(gap->fix.find("systemd-sysusers sluice.conf"), std::string::npos) << gap->fix;
  EXPECT_NE(gap->fix.find("groupadd --system sluice-admin"), std::string::npos) << gap->fix;

  const std::vector<HostFinding> unknown =
      check_ready_but([](HostFacts& facts) { facts.groups.reset(); }, with_api_group());
  EXPECT_TRUE(find(unknown, "api", FindingLevel::kNote, "is unknown")) << render_findings(unknown);
  EXPECT_EQ(count(unknown, "api", FindingLevel::kGap), 0u);
  // No group configured (the socket keeps sluice's own): nothing to check.
  EXPECT_EQ(count(check_tree("fresh", testing::appliance_config()), "api", FindingLevel::kGap), 0u);
}

}  // namespace
}  // namespace sluice
