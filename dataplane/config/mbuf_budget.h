// How many mbufs one packet pool needs for a run configuration: the one implementation of the
// mbuf part of the sizing formula (deploy/README.md, "Sizing"). The configuration refuses a pool
// that cannot even fill its queues (`queues_fill`); `sluice check-host` reports one below
// `needed`, and both recommend `recommended`.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct RunConfig;

// Capacity of each (from, to) worker ring of software dispatch (mbufs in flight between workers
// for ports without RSS). `sluice run` creates its rings with it.
inline constexpr unsigned kDispatchRingSize = 4096;

// First-flight frames (mbufs) one worker may hold: a quarter of the pool across workers, never
// under 256 each. `sluice run` sizes each inspector with it.
inline uint32_t held_frames_per_worker(uint32_t mbufs, uint32_t workers) {
  return std::max<uint32_t>(256, mbufs / (4 * std::max<uint32_t>(1, workers)));
}

struct MbufTerm {
  std::string what;  // "RX rings: 4 ports x 4 queues x 2048 descriptors"
  uint64_t mbufs = 0;
};

struct MbufBudget {
  std::vector<MbufTerm> terms;  // rings, caches, bursts, dispatch rings
  uint64_t queues_fill = 0;     // rings + caches + bursts: below this RX starves at once
  uint64_t fixed = 0;           // every term (dispatch rings too)
  uint64_t held = 0;            // first-flight frames held at most with the configured pool
  uint64_t needed = 0;          // smallest pool covering fixed + held
  uint64_t recommended = 0;     // needed rounded up to 2^n - 1 (the mempool's best size)
};

// `ports_per_pool`: ports sharing one pool (one pool per NUMA socket); 0: all of them.
MbufBudget mbuf_budget(const RunConfig& config, uint32_t ports_per_pool = 0);

}  // namespace sluice
