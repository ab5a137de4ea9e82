// What `sluice check-host` needs to know about a machine, read from its sysfs and procfs under
// a root directory ("/" for this machine, a fake tree under tests/data/host/ for tests). Only
// reading: nothing here changes the host. Files that are missing are facts too (no IOMMU groups,
// no such PCI device), so they become empty fields rather than errors; a file that exists but
// cannot be understood is an error naming it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/host/cpu_list.h"

namespace sluice {

// Hugepages of one size on one NUMA node (or the whole machine: node -1).
struct HugepagePool {
  uint64_t page_bytes = 0;
  int node = -1;
  uint64_t total = 0;
  uint64_t free = 0;
};

struct IrqAffinity {
  uint32_t irq = 0;
  CpuSet cpus;
  std::string actions;  // the handler names in /proc/interrupts, for the report ("" if unknown)
};

// A hugetlbfs mount: DPDK maps hugepages of its page size only, so pages of a size no mount
// serves are invisible to it.
struct HugetlbfsMount {
  std::string path;
  uint64_t page_bytes = 0;  // pagesize= of its options, else the default size; 0: unknown
};

struct PciDeviceFacts {
  std::string address;   // DDDD:BB:DD.F
  bool present = false;  // /sys/bus/pci/devices/ADDR exists
  std::string driver;    // basename of the driver link; empty: no driver bound
  int numa_node = -1;    // -1: the firmware does not say (single-node machines)
  std::string iommu_group;  // empty: no IOMMU group (IOMMU off or absent)
};

struct HostFacts {
  std::string root;  // what was read ("/" or a test tree)
  CpuSet online_cpus;
  CpuSet isolated_cpus;   // /sys/devices/system/cpu/isolated
  CpuSet nohz_full_cpus;  // /sys/devices/system/cpu/nohz_full
  bool nohz_full_supported = false;  // that file exists: the kernel has CONFIG_NO_HZ_FULL
  std::string kernel_cmdline;  // /proc/cmdline: what the running kernel was booted with
  std::map<uint32_t, int> cpu_node;  // CPU -> NUMA node; empty: no NUMA information
  std::vector<HugepagePool> hugepages;  // per node where the kernel has nodes, else node -1
  std::vector<IrqAffinity> irqs;
  std::optional<CpuSet> default_irq_affinity;
  std::map<std::string, PciDeviceFacts> pci;  // the addresses asked for
  bool vfio_pci_loaded = false;   // /sys/bus/pci/drivers/vfio-pci exists
  bool iommu_groups_present = false;
  std::vector<std::string> cpu_flags;  // of the first processor in /proc/cpuinfo
  std::string cpu_model;
  std::string clocksource;                         // current_clocksource
  // Transparent huge pages: the bracketed word of .../transparent_hugepage/enabled ("always",
  // "madvise", "never"); empty when the kernel has no THP.
  std::string thp_mode;
  std::vector<std::string> available_clocksources;
  std::vector<HugetlbfsMount> hugetlbfs_mounts;  // hugetlbfs in /proc/mounts
  uint64_t default_hugepage_bytes = 0;  // /proc/meminfo Hugepagesize (default_hugepagesz=)
  uint64_t mem_total_bytes = 0;         // /proc/meminfo
  uint64_t mem_available_bytes = 0;
  // hs_valid_platform() on the machine that runs the check; only known when the root is "/".
  std::optional<bool> hyperscan_platform_ok;
  // The group names in etc/group under the root; nullopt when it cannot be read.
  std::optional<std::set<std::string>> groups;

  bool has_cpu_flag(const std::string& flag) const;
  bool hypervisor() const { return has_cpu_flag("hypervisor"); }
  int node_of_cpu(uint32_t cpu) const;  // -1 when unknown
  // The value of `name=` on the kernel command line: its last occurrence (the one the kernel
  // keeps), "" for a bare `name`, nullopt when absent. Arguments after `--` are init's.
  std::optional<std::string> kernel_param(std::string_view name) const;
};

// Reads the facts under `root`; `pci_addresses` are the devices to look at (the config's PCI
// ports).
absl::StatusOr<HostFacts> read_host_facts(const std::string& root,
                                          const std::vector<std::string>& pci_addresses);

}  // namespace sluice
