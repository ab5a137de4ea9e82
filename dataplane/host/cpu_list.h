// CPU lists as the kernel writes them ("0-3,8,10-11": /sys/devices/system/cpu/isolated,
// /proc/irq/N/smp_affinity_list, nodeN/cpulist) and as its command line takes them (isolcpus=,
// nohz_full=, rcu_nocbs=, irqaffinity=).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice {

using CpuSet = std::set<uint32_t>;

// Parses a kernel CPU list; an empty (or all-blank) text is the empty set. Refuses anything
// else than numbers, ranges and commas.
absl::StatusOr<CpuSet> parse_cpu_list(std::string_view text);

// The shortest kernel form: ascending, runs of three or more as ranges ("0-3,8,10,11").
std::string format_cpu_list(const CpuSet& cpus);

// The hexadecimal mask the kernel takes for the same set (/proc/irq/default_smp_affinity):
// "f1"; 32-bit groups separated by commas above CPU 31 ("1,00000001").
std::string format_cpu_mask(const CpuSet& cpus);

// Parses a hexadecimal CPU mask as /proc/irq/default_smp_affinity writes it ("ff" or
// "00000000,000000ff").
absl::StatusOr<CpuSet> parse_cpu_mask(std::string_view text);

}  // namespace sluice
