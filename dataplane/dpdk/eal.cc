#include "dataplane/dpdk/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <sched.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace sluice {

absl::Status init_eal(const std::vector<std::string>& args) {
  static bool initialised = false;
  if (initialised) return absl::FailedPreconditionError("the DPDK EAL is already initialised");
  // rte_eal_init may permute argv; give it copies it can own.
  std::vector<std::string> copies = args;
  std::vector<char*> argv;
  for (auto& a : copies) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(copies.size()), argv.data()) < 0) {
    return absl::InternalError(absl::StrCat("DPDK EAL initialisation failed: ",
                                            rte_strerror(rte_errno),
                                            " (check hugepages/--no-huge, permissions, -m)"));
  }
  initialised = true;
  return absl::OkStatus();
}

// The CPUs this process may run on, as an EAL cpu set ("0,1"): the main lcore floats over them
// instead of being pinned to CPU 0, so `taskset` and a shared test machine are respected.
std::string allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return "0";
  std::string cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (!cpus.empty()) cpus += ',';
    cpus += std::to_string(cpu);
  }
  return cpus.empty() ? "0" : cpus;
}

std::vector<std::string> no_hardware_eal_args(const std::string& program, int memory_mb) {
  return {program,
          "--no-huge",
          "--no-pci",
          "-m",
          std::to_string(memory_mb),
          "--file-prefix",
          absl::StrCat("sluice-", getpid()),
          "--no-telemetry",
          "--log-level=*:warning",
          "--lcores",
          absl::StrCat("0@(", allowed_cpus(), ")")};
}

}  // namespace sluice
