// How much a `sluice run` configuration needs: mbufs per packet pool, hugepage memory per NUMA
// socket, ordinary memory for the flow tables, first-flight buffers and the policy. The one
// implementation of the formula in deploy/README.md ("Sizing"): `sluice check-host` and
// `sluice plan-host` print these figures and compare them with the config and the host.
// Structure sizes are sizeof() of the real types, so the figures follow the code.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/config/mbuf_budget.h"
#include "dataplane/config/run_config.h"

namespace sluice {

// What the config alone does not say.
struct SizingInputs {
  uint32_t ports_per_pool = 0;  // ports sharing one packet pool (one per NUMA socket); 0: all
  uint32_t pools = 1;           // packet pools (NUMA sockets with ports)
  uint64_t policy_names = 0;    // entries of the domains and hosts lists
  uint64_t policy_patterns = 0;
  uint64_t policy_cidrs = 0;
};

// One term of a sum, for the printed breakdown.
struct SizingTerm {
  std::string what;     // "RX rings: 4 ports x 4 queues x 2048 descriptors"
  uint64_t amount = 0;  // mbufs or bytes
  std::string key;      // the configuration key that sizes it most ("flows.capacity"), if any
};

struct Sizing {
  // mbufs of one pool: what can be out of the pool at once (dataplane/config/mbuf_budget.h).
  MbufBudget mbufs;
  uint32_t mbufs_configured = 0;

  // Hugepage memory (DPDK's memory), per pool socket and in all.
  uint64_t mbuf_object_bytes = 0;  // one mbuf in its pool (header, data room, mempool overhead)
  std::vector<SizingTerm> huge_terms;
  // What the pools and rings take on one socket (the terms without --socket-mem).
  uint64_t huge_bytes_pools = 0;
  // That, or what eal `--socket-mem` reserves up front on the largest socket, whichever is more;
  // and in all (also at least the --socket-mem sum and `-m` / eal.memory_mb).
  uint64_t huge_bytes_per_socket = 0;
  uint64_t huge_bytes_total = 0;
  std::vector<uint64_t> socket_mem_bytes;  // eal --socket-mem, per socket (empty: not given)

  // Ordinary memory (malloc; big arrays on transparent huge pages).
  std::vector<SizingTerm> ram_terms;
  uint64_t ram_bytes = 0;

  // The ordinary-memory term that takes the most (nullptr when there is none).
  const SizingTerm* largest_ram_term() const;
};

Sizing compute_sizing(const RunConfig& config, const SizingInputs& inputs);

// flows.capacity each worker needs for `expected` concurrent flows over `workers` workers: its
// share plus kFlowHeadroomPercent (RSS spreads by hash, never exactly evenly), rounded up to a
// multiple of 1024.
inline constexpr uint64_t kFlowHeadroomPercent = 25;
inline constexpr uint64_t kMaxFlowCapacity = uint64_t{1} << 24;  // flows.capacity's upper bound
uint64_t required_flow_capacity(uint64_t expected, uint64_t workers);

// Assumptions of the formula, stated where they are used (and printed in the docs).
inline constexpr uint64_t kPolicyBytesPerName = 44;      // hash walk at 5M names: perf/README.md
inline constexpr uint64_t kPolicyBytesPerPattern = 4096;  // Hyperscan database: a generous guess
inline constexpr uint64_t kPolicyBytesPerCidr = 64;
inline constexpr uint64_t kDescriptorBytes = 64;  // HW descriptor + driver's software ring entry
inline constexpr uint64_t kEalOverheadBytes = 64ull << 20;  // EAL, telemetry, RCU, memzones
// A syslog sink's buffer compacts only once its dead bytes are as many as its live ones
// (control/syslog_export.cc, kCompactMin): it holds up to twice its buffer_size.
inline constexpr uint64_t kSyslogBufferFactor = 2;

// Entries of a policy list file as the list parser counts them closely enough for sizing:
// lines that are neither blank nor comments.
absl::StatusOr<uint64_t> count_list_entries(const std::string& path);

// The policy inputs of a config: counts the entries of every list its rules name.
absl::Status count_policy_inputs(const RunConfig& config, SizingInputs& inputs);

}  // namespace sluice
