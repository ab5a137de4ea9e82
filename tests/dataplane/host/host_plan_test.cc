#include "dataplane/host/host_plan.h"

#include <gtest/gtest.h>

#include "tests/dataplane/host/host_test_data.h"

namespace sluice {
namespace {

HostFacts ready_facts() {
  absl::StatusOr<HostFacts> f =
      read_host_facts(testing::host_data("ready"), {"0000:3b:00.0", "0000:3b:00.1"});
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

TEST(HostPlan, KernelCommandLineComesFromTheLcoreMap) {
  const RunConfig c = testing::appliance_config();
  const HostFacts facts = ready_facts();
  const HostPlan p = plan_host(c, facts, compute_sizing(c, {}));
  const HostPlan* plan = &p;
  ASSERT_TRUE(plan->problems.empty());
  EXPECT_EQ(plan->isolation_args,
            (std::vector<std::string>{"isolcpus=managed_irq,domain,1-3", "nohz_full=2,3",
                                      "rcu_nocbs=2,3", "irqaffinity=0,4-7"}));
  // The CPU has pdpe1gb: 1G pages, what one socket needs on each of the two nodes.
  EXPECT_EQ(plan->hugepage_args, (std::vector<std::string>{"default_hugepagesz=1G",
                                                           "hugepagesz=1G", "hugepages=2"}));
  EXPECT_EQ(plan->dpdk_conf, "NR_1G_PAGES=\"1 1\"\n");  // one per node
  EXPECT_EQ(plan->hugepages_per_node, (std::map<int, uint64_t>{{0, 1}, {1, 1}}));
  EXPECT_EQ(plan->hugepages_needed, 2u);
  EXPECT_EQ(plan->dpdk_interfaces, "pci 0000:3b:00.0 vfio-pci\npci 0000:3b:00.1 vfio-pci\n");
  EXPECT_EQ(plan->kernel_cmdline(),
            "isolcpus=managed_irq,domain,1-3 nohz_full=2,3 rcu_nocbs=2,3 irqaffinity=0,4-7 "
            "default_hugepagesz=1G hugepagesz=1G hugepages=2 intel_iommu=on iommu=pt");
  // The ready tree was prepared with exactly this line.
  EXPECT_NE(facts.kernel_cmdline.find("isolcpus=managed_irq,domain,1-3 nohz_full=2-3"),
            std::string::npos);
}

// --socket-mem is per node: each node gets its own value (or one socket's pools and rings, if
// more); the sum of the need, in whole pages, is never less than the --socket-mem sum.
TEST(HostPlan, HugepagesFollowSocketMemPerNode) {
  RunConfig c = testing::appliance_config();
  HostFacts two = ready_facts();
  c.eal.extra_args = {"--socket-mem=2048,1024"};
  HostPlan p = plan_host(c, two, compute_sizing(c, {}));
  EXPECT_EQ(p.hugepages_per_node, (std::map<int, uint64_t>{{0, 2}, {1, 1}}));
  EXPECT_EQ(p.hugepages_needed, 3u);
  EXPECT_EQ(p.dpdk_conf, "NR_1G_PAGES=\"2 1\"\n");
  // The kernel spreads boot-time pages evenly: node 0 gets its 2 only with 4 in all.
  EXPECT_EQ(p.hugepages, 4u);
  EXPECT_EQ(p.hugepage_args.back(), "hugepages=4");

  // One node (no NUMA information), --socket-mem for two: the sum is what DPDK asks for.
  HostFacts one = ready_facts();
  one.cpu_node.clear();
  c.eal.extra_args = {"--socket-mem=2048,2048"};
  p = plan_host(c, one, compute_sizing(c, {}));
  EXPECT_EQ(p.hugepages_per_node, (std::map<int, uint64_t>{{0, 4}}));
  EXPECT_EQ(p.hugepages, 4u);
  EXPECT_EQ(p.dpdk_conf, "NR_1G_PAGES=4\n");

  // -m beyond the nodes' own shares is spread over them, as the kernel would.
  c.eal.extra_args = {};
  c.eal.memory_mb = 5 * 1024;
  p = plan_host(c, two, compute_sizing(c, {}));
  EXPECT_EQ(p.hugepages_per_node, (std::map<int, uint64_t>{{0, 3}, {1, 2}}));
  EXPECT_EQ(p.hugepages, 6u);

  // Without pdpe1gb: 2M pages, the pools and rings rounded up to whole ones.
  HostFacts small = ready_facts();
  std::erase(small.cpu_flags, "pdpe1gb");
  c.eal.memory_mb = 0;
  const Sizing s = compute_sizing(c, {});
  p = plan_host(c, small, s);
  EXPECT_EQ(p.hugepage_args[0], "default_hugepagesz=2M");
  EXPECT_EQ(p.hugepages_per_node.at(1), (s.huge_bytes_pools + (2 << 20) - 1) / (2 << 20));
}

TEST(HostPlan, SizesAsPeopleAndToolsReadThem) {
  EXPECT_EQ(format_bytes(uint64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(format_bytes(uint64_t{1536} << 10), "1.5 MiB");
  EXPECT_EQ(format_bytes(1), "1 KiB");
  EXPECT_EQ(hugepage_tool_size(uint64_t{6} << 30), "6G");
  EXPECT_EQ(hugepage_tool_size((uint64_t{281} << 20) + 1), "282M");
  EXPECT_EQ(hugepage_size_name(uint64_t{1} << 30), "1G");
  EXPECT_EQ(hugepage_size_name(uint64_t{2} << 20), "2M");
}

TEST(HostPlan, FollowsTheCpuMap) {
  const RunConfig c = testing::appliance_config_with("  workers: [2, 3]\n",
                                                     "  workers: [2, 3]\n  cpus: {1: 5, 2: 6, 3: 7}\n");
  const HostPlan p = plan_host(c, ready_facts(), compute_sizing(c, {}));
  const HostPlan* plan = &p;
  ASSERT_TRUE(plan->problems.empty());
  EXPECT_EQ(plan->isolation_args[0], "isolcpus=managed_irq,domain,5-7");
  EXPECT_EQ(plan->isolation_args[3], "irqaffinity=0-4");
}

TEST(HostPlan, RefusesLcoresTheHostDoesNotHave) {
  const RunConfig c = testing::appliance_config_with("workers: [2, 3]", "workers: [2, 9]");
  const HostPlan plan = plan_host(c, ready_facts(), compute_sizing(c, {}));
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("lcore 9 runs on CPU 9"), std::string::npos) << plan.problems[0];
  EXPECT_TRUE(plan.isolation_args.empty());
}

TEST(HostPlan, RefusesALayoutThatLeavesTheKernelNoCpu) {
  const RunConfig c = testing::appliance_config_with(
      "  management: 1\n  workers: [2, 3]", "  management: 0\n  workers: [1, 2, 3, 4, 5, 6, 7]",
      "mbufs: 16383", "mbufs: 65535");
  const HostPlan plan = plan_host(c, ready_facts(), compute_sizing(c, {}));
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].find("leave at least one CPU"), std::string::npos);
}

TEST(HostPlan, SharedCpusAreATestLayout) {
  const RunConfig c = testing::appliance_config_with(
      "  workers: [2, 3]\n",
      "  workers: [2, 3]\n  cpus: {1: 0, 2: 0, 3: 0}\n  idle_backoff: {enabled: true}\n");
  const HostPlan p = plan_host(c, ready_facts(), compute_sizing(c, {}));
  const HostPlan* plan = &p;
  ASSERT_TRUE(plan->problems.empty());
  EXPECT_TRUE(plan->lcores_share_cpus);
  EXPECT_TRUE(plan->isolation_args.empty());
}

}  // namespace
}  // namespace sluice
