#include "dataplane/host/host_facts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/dataplane/host/host_test_data.h"

namespace sluice {
namespace {

using testing::host_data;
const std::vector<std::string> kPorts = {"0000:3b:00.0", "0000:3b:00.1", "0000:99:00.0"};

TEST(HostFacts, ReadsAPreparedAppliance) {
  absl::StatusOr<HostFacts> f = read_host_facts(host_data("ready"), kPorts);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->online_cpus, (CpuSet{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(f->isolated_cpus, (CpuSet{1, 2, 3}));
  EXPECT_EQ(f->nohz_full_cpus, (CpuSet{2, 3}));
  EXPECT_EQ(f->node_of_cpu(3), 0);
  EXPECT_EQ(f->node_of_cpu(4), 1);
  EXPECT_EQ(f->node_of_cpu(99), -1);
  uint64_t free_1g = 0;
  for (const HugepagePool& p : f->hugepages)
    if (p.page_bytes == (1ull << 30)) free_1g += p.free;
  EXPECT_EQ(f->hugepages.size(), 4u);  // two sizes on two nodes
  EXPECT_EQ(free_1g, 4u);
  ASSERT_EQ(f->irqs.size(), 4u);
  EXPECT_EQ(f->irqs[2].irq, 30u);
  EXPECT_EQ(f->irqs[2].cpus, (CpuSet{4, 5, 6, 7}));
  EXPECT_EQ(f->irqs[2].actions, "i40e-eno1-TxRx-0");
  EXPECT_EQ(*f->default_irq_affinity, (CpuSet{0, 4, 5, 6, 7}));
  const PciDeviceFacts& nic = f->pci.at("0000:3b:00.0");
  EXPECT_TRUE(nic.present);
  EXPECT_EQ(nic.driver, "vfio-pci");
  EXPECT_EQ(nic.numa_node, 0);
  EXPECT_EQ(nic.iommu_group, "40");
  EXPECT_FALSE(f->pci.at("0000:99:00.0").present);
  EXPECT_TRUE(f->vfio_pci_loaded);
  EXPECT_TRUE(f->iommu_groups_present);
  EXPECT_TRUE(f->has_cpu_flag("avx2"));
  EXPECT_TRUE(f->has_cpu_flag("nonstop_tsc"));
  EXPECT_FALSE(f->has_cpu_flag("avx2x"));
  EXPECT_EQ(f->clocksource, "tsc");
  EXPECT_EQ(f->available_clocksources, (std::vector<std::string>{"tsc", "hpet", "acpi_pm"}));
  ASSERT_EQ(f->hugetlbfs_mounts.size(), 1u);
  EXPECT_EQ(f->hugetlbfs_mounts[0].path, "/dev/hugepages");
  EXPECT_EQ(f->hugetlbfs_mounts[0].page_bytes, 1ull << 30);  // pagesize=1024M
  EXPECT_EQ(f->default_hugepage_bytes, 1ull << 30);
  EXPECT_EQ(f->mem_available_bytes, 62000000ull * 1024);
  EXPECT_EQ(f->kernel_param("isolcpus"), "managed_irq,domain,1-3");
  EXPECT_EQ(f->kernel_param("ro"), "");  // a bare flag
  EXPECT_EQ(f->kernel_param("isolcpu"), std::nullopt);  // whole names only
  EXPECT_FALSE(f->hyperscan_platform_ok.has_value());  // only asked of the running machine
}

TEST(HostFacts, ReadsAFreshInstall) {
  absl::StatusOr<HostFacts> f = read_host_facts(host_data("fresh"), kPorts);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(f->isolated_cpus.empty());
  EXPECT_TRUE(f->nohz_full_cpus.empty());  // "(null)": booted without nohz_full=
  EXPECT_TRUE(f->nohz_full_supported);
  EXPECT_EQ(f->pci.at("0000:3b:00.0").driver, "i40e");
  EXPECT_EQ(f->pci.at("0000:3b:00.1").driver, "");
  EXPECT_EQ(f->pci.at("0000:3b:00.1").numa_node, 1);
  EXPECT_FALSE(f->vfio_pci_loaded);
  EXPECT_FALSE(f->iommu_groups_present);
  EXPECT_EQ(f->clocksource, "hpet");
  EXPECT_FALSE(f->has_cpu_flag("nonstop_tsc"));
  EXPECT_TRUE(f->hugetlbfs_mounts.empty());
  EXPECT_EQ(f->kernel_param("isolcpus"), std::nullopt);
}

TEST(HostFacts, KernelParamsAsTheKernelTakesThem) {
  HostFacts f;
  // The last occurrence is the one the kernel keeps; what follows `--` is init's.
  f.kernel_cmdline = "ro nohz_full=1 quiet nohz_full=2,3 -- nohz_full=9 irqaffinity=0";
  EXPECT_EQ(f.kernel_param("nohz_full"), "2,3");
  EXPECT_EQ(f.kernel_param("irqaffinity"), std::nullopt);
}

// A scratch tree under /tmp with the files given, removed when the test ends.
class ScratchTree {
 public:
  ScratchTree()
      : root_(std::filesystem::temp_directory_path() /
              ("sluice-host-" + std::to_string(getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    write("sys/devices/system/cpu/online", "0-1\n");
    std::filesystem::create_directories(root_ / "proc");
  }
  ~ScratchTree() { std::filesystem::remove_all(root_); }
  void write(const std::string& path, const std::string& text) {
    std::filesystem::create_directories((root_ / path).parent_path());
    std::ofstream(root_ / path) << text;
  }
  std::string root() const { return root_.string(); }

 private:
  std::filesystem::path root_;
};

TEST(HostFacts, HugetlbfsMountsServeTheirPageSize) {
  ScratchTree t;
  t.write("proc/meminfo", "MemAvailable: 1000 kB\nHugepagesize:    1048576 kB\n");
  t.write("proc/mounts",
          "hugetlbfs /dev/hugepages hugetlbfs rw,relatime 0 0\n"
          "nodev /mnt/huge-2M hugetlbfs rw,relatime,pagesize=2M 0 0\n"
          "tmpfs /run tmpfs rw 0 0\n");
  absl::StatusOr<HostFacts> f = read_host_facts(t.root(), {});
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->hugetlbfs_mounts.size(), 2u);
  EXPECT_EQ(f->hugetlbfs_mounts[0].page_bytes, 1ull << 30);  // no pagesize=: the default size
  EXPECT_EQ(f->hugetlbfs_mounts[1].path, "/mnt/huge-2M");
  EXPECT_EQ(f->hugetlbfs_mounts[1].page_bytes, 2ull << 20);
}

TEST(HostFacts, RefusesADirectoryThatIsNoHost) {
  absl::StatusOr<HostFacts> f = read_host_facts(host_data("lists"), {});
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(f.status().message().find("no sys/ and proc/"), std::string::npos);
}

TEST(HostFacts, NamesAFileItCannotUnderstand) {
  ScratchTree t;
  t.write("sys/devices/system/cpu/isolated", "one\n");
  absl::StatusOr<HostFacts> f = read_host_facts(t.root(), {});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("cpu/isolated: not a CPU list"), std::string::npos)
      << f.status();
}

TEST(HostFacts, ReadsThisMachine) {
  absl::StatusOr<HostFacts> f = read_host_facts("/", {});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->online_cpus.size(), static_cast<size_t>(sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_FALSE(f->cpu_flags.empty());
  EXPECT_FALSE(f->clocksource.empty());
}

}  // namespace
}  // namespace sluice
