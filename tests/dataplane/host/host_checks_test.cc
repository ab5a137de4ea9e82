#include "dataplane/host/host_checks.h"

#include <gtest/gtest.h>

#include "dataplane/host/host_report.h"
#include "tests/dataplane/host/host_test_data.h"

namespace sluice {
namespace {

std::vector<HostFinding> check_tree(const std::string& tree, const RunConfig& c) {
  absl::StatusOr<HostFacts> facts =
      read_host_facts(testing::host_data(tree), {"0000:3b:00.0", "0000:3b:00.1"});
  EXPECT_TRUE(facts.ok()) << facts.status();
  SizingInputs in;
  EXPECT_TRUE(count_policy_inputs(c, in).ok());
  const Sizing sizing = compute_sizing(c, in);
  return check_host(c, *facts, sizing, plan_host(c, *facts, sizing));
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
  for (const char* check : {"hugepages", "cpus", "isolation", "irqs", "nic", "numa", "cpu",
                            "clock", "mbufs", "memory"})
    EXPECT_TRUE(find(all, check, FindingLevel::kOk, "")) << check << "\n" << render_findings(all);
  EXPECT_TRUE(find(all, "nic", FindingLevel::kOk, "port outside0 (0000:3b:00.1) bound to vfio-pci"));
  EXPECT_TRUE(find(all, "cpu", FindingLevel::kOk, "ssse3 sse4_2 avx2 avx512bw"));
  EXPECT_NE(render_findings(all).find("no gaps"), std::string::npos);
}

TEST(HostChecks, AFreshInstallShowsEveryGapWithItsFix) {
  const std::vector<HostFinding> all = check_tree("fresh", testing::appliance_config());
  ASSERT_TRUE(has_gap(all));
  const HostFinding* f = find(all, "hugepages", FindingLevel::kGap, "no hugepages are reserved");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("dpdk-hugepages.py -p 1G --setup 2G`"), std::string::npos) << f->fix;
  EXPECT_NE(f->fix.find("NR_1G_PAGES=\"1 1\""), std::string::npos) << f->fix;
  EXPECT_TRUE(find(all, "hugepages", FindingLevel::kGap, "no hugetlbfs is mounted"));

  f = find(all, "isolation", FindingLevel::kGap, "CPUs 1-3 are not isolated");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("isolcpus=managed_irq,domain,1-3 nohz_full=2,3"), std::string::npos);
  EXPECT_TRUE(find(all, "isolation", FindingLevel::kGap, "worker CPUs 2,3 keep the scheduler tick"));
  // IRQ 0 stays on CPU 0: only those allowed on a worker CPU are named.
  f = find(all, "irqs", FindingLevel::kGap, "3 IRQs may run on worker CPUs 2,3: 24(ahci) "
                                            "30(i40e-eno1-TxRx-0) 31(nvme0q1)");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("echo 0,4-7 > $i/smp_affinity_list"), std::string::npos) << f->fix;
  EXPECT_TRUE(find(all, "irqs", FindingLevel::kGap, "/proc/irq/default_smp_affinity"));

  f = find(all, "nic", FindingLevel::kGap, "bound to the kernel driver i40e");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("dpdk-devbind.py -b vfio-pci 0000:3b:00.0"), std::string::npos);
  EXPECT_NE(f->fix.find("pci 0000:3b:00.0 vfio-pci` in /etc/dpdk/interfaces"), std::string::npos);
  EXPECT_TRUE(find(all, "nic", FindingLevel::kGap, "outside0 (0000:3b:00.1): no driver bound"));
  EXPECT_TRUE(find(all, "vfio", FindingLevel::kGap, "vfio-pci driver is not loaded"));
  f = find(all, "vfio", FindingLevel::kGap, "no IOMMU groups");
  ASSERT_TRUE(f);
  EXPECT_NE(f->fix.find("intel_iommu=on iommu=pt"), std::string::npos);

  f = find(all, "numa", FindingLevel::kGap, "port outside0 (0000:3b:00.1) sits on NUMA node 1");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("node 1 (4-7)"), std::string::npos) << f->fix;
  EXPECT_TRUE(find(all, "numa", FindingLevel::kOk, "port inside0 and the workers on node 0"));

  f = find(all, "clock", FindingLevel::kGap, "clock source is hpet");
  ASSERT_TRUE(f) << render_findings(all);
  EXPECT_NE(f->fix.find("echo tsc >"), std::string::npos);
  EXPECT_TRUE(find(all, "clock", FindingLevel::kGap, "nonstop_tsc"));
  // What is fine on a fresh box is still said to be fine.
  EXPECT_TRUE(find(all, "cpu", FindingLevel::kOk, "avx2"));
  EXPECT_TRUE(find(all, "mbufs", FindingLevel::kOk, "16383 per pool"));
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

}  // namespace
}  // namespace sluice
