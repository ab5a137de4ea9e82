// One worker's receive loop over one RX queue: burst in, frames through the FlowInspector,
// timers. Replay runs it on a capture port; live mode (sluice run) runs the same code per lcore.
#pragma once

#include <cstdint>
#include <memory>

#include "dataplane/core/flow_inspector.h"
#include "dataplane/dpdk/tsc_clock.h"

struct rte_mbuf;

namespace sluice {

struct WorkerRx {
  uint16_t port_id = 0;
  uint16_t queue_id = 0;
  // Where packet times come from: the capture's timestamps (replay) or the TSC (live).
  bool capture_timestamps = false;
  int timestamp_offset = -1;
  uint64_t timestamp_flag = 0;
};

class Worker {
 public:
  static constexpr uint16_t kBurst = 32;

  Worker(FlowInspector& inspector, const WorkerRx& rx);

  // Receives one burst and processes it; returns the number of packets (0: the queue was empty).
  uint16_t poll_once();

  // Nanoseconds since the Unix epoch, per the configured clock: the newest capture timestamp
  // seen, or wall time derived from the TSC.
  uint64_t now_ns() const { return now_ns_; }

 private:
  uint64_t packet_time(const rte_mbuf* m);

  FlowInspector& inspector_;
  WorkerRx rx_;
  uint64_t now_ns_ = 0;
  TscClock clock_;
  // Frames that arrive as mbuf chains are copied here before parsing, one area per burst slot
  // (heap-allocated once at construction: too large for an lcore's stack).
  static constexpr uint32_t kLinearBytes = 65536 + 2048;
  std::unique_ptr<uint8_t[]> linear_storage_{new uint8_t[size_t{kBurst} * kLinearBytes]};
  uint8_t* linear_ = linear_storage_.get();
};

}  // namespace sluice
