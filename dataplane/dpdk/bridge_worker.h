// The live worker of `sluice run`: one per worker lcore, sharing nothing with the others but
// SPSC rings. Each loop iteration:
//   1. picks up the current policy (RCU: PolicyPublisher::judge_for),
//   2. receives a burst from each RX queue it owns; frames of ports without RSS whose flow
//      belongs to another worker go to that worker through a dispatch ring,
//   3. takes what the other workers dispatched to it,
//   4. runs its frames through the FlowInspector (inline: held until judged, released, dropped
//      or answered with resets through this class's EnforcementSink),
//   5. transmits on its own TX queue of each port, runs timers, publishes its counters, and
//      reports a quiescent state.
// No allocation, locks or system calls, except the optional idle sleep for test boxes whose
// lcores share CPUs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <vector>

#include "dataplane/config/run_config.h"
#include "dataplane/core/enforcement.h"
#include "dataplane/core/flow_inspector.h"
#include "dataplane/dpdk/audit_ring.h"
#include "dataplane/dpdk/ethdev_ports.h"
#include "dataplane/dpdk/policy_publisher.h"
#include "dataplane/dpdk/stats_mailbox.h"
#include "dataplane/dpdk/tsc_clock.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace sluice {

struct BridgeWorkerSetup {
  uint16_t id = 0;
  uint16_t workers = 1;
  std::vector<RxQueueRef> rx;           // the RX queues this worker polls
  std::vector<bool> software_dispatch;  // by port id: the port has no RSS
  PortPeers peers;
  uint16_t burst = 32;
  IdleBackoff idle;
  // dispatch_out[w]: SPSC ring from this worker to worker w (nullptr for itself);
  // dispatch_in[w]: from worker w to this one.
  std::vector<rte_ring*> dispatch_out;
  std::vector<rte_ring*> dispatch_in;
  rte_mempool* inject_pool = nullptr;  // for resets and alerts the inspector builds
  // Interception (`intercept:`): the TAP, the port the appliance's own traffic leaves by, and
  // the last interceptor heartbeat any worker saw (written by whichever worker receives one,
  // read by all; no lock, one relaxed atomic). Disabled unless intercept.enabled.
  InterceptPath intercept;
  uint16_t intercept_outside = UINT16_MAX;
  std::atomic<uint64_t>* interceptor_seen_ns = nullptr;
  uint64_t interceptor_liveness_ns = 2'000'000'000ULL;
};

class BridgeWorker final : public EnforcementSink {
 public:
  BridgeWorker(const BridgeWorkerSetup& setup, FlowInspector& inspector, AuditRing& audit,
               PolicyPublisher& policy, StatsMailbox& mailbox);

  // Runs until `stop` is set, then stops receiving, closes every flow (releasing held frames,
  // writing close records at the pace the audit ring drains) and returns.
  void run(const std::atomic<bool>& stop);

  // EnforcementSink
  void release(void* handle) override;
  void discard(void* handle) override;
  void inject(ByteSpan frame, uint16_t client_port, bool toward_client) override;
  bool inject_to_interceptor(ByteSpan frame) override;
  void to_interceptor(void* handle, uint16_t l3_offset) override;
  void to_client(void* handle, uint16_t l3_offset, const L2Header& client_l2,
                 uint16_t client_port) override;

 private:
  static constexpr uint16_t kMaxPorts = 32;
  static constexpr uint16_t kTxBatch = 64;
  static constexpr uint16_t kLocalMax = 256;

  uint32_t poll_once();
  void process_local();
  void send(rte_mbuf* m, uint16_t port);
  void flush_tx(uint16_t port);
  void flush_all_tx();
  uint16_t out_port(uint16_t in_port) const;
  void publish_stats(bool force);
  void idle(uint32_t& empty_polls);
  void shut_down();
  // The appliance's own traffic and heartbeats, which bypass the inspector; true when taken.
  bool steer_appliance(rte_mbuf* m);
  bool solicits_appliance_ip6(const uint8_t* d, uint32_t len) const;
  rte_mbuf* new_frame(ByteSpan frame);

  BridgeWorkerSetup setup_;
  FlowInspector& inspector_;
  AuditRing& audit_;
  PolicyPublisher& policy_;
  StatsMailbox& mailbox_;
  FlowJudge* judge_ = nullptr;
  TscClock clock_;
  uint64_t next_stats_ns_ = 0;
  uint64_t next_expire_ns_ = 0;
  uint64_t sleep_ns_ = 0;
  uint64_t idle_sleeps_ = 0;
  bool monitor_ = false;
  uint16_t peer_[kMaxPorts];

  // Frames this worker owns and has yet to run through the inspector.
  rte_mbuf* local_[kLocalMax];
  uint16_t local_count_ = 0;
  rte_mbuf* tx_[kMaxPorts][kTxBatch];
  uint16_t tx_count_[kMaxPorts] = {};
  uint32_t tx_pending_ = 0;  // bit p: tx_count_[p] > 0
  static_assert(kMaxPorts <= 32, "tx_pending_ has a bit per port");
  // process_local()'s arrays for the inspector, reused for every burst (as locals they would be
  // value-initialised on every call).
  ByteSpan frames_[FlowInspector::kMaxBurst];
  uint64_t times_[FlowInspector::kMaxBurst] = {};
  FrameRef refs_[FlowInspector::kMaxBurst];
  PacketAction actions_[FlowInspector::kMaxBurst] = {};
  // Chained mbufs are copied here before parsing, one area per burst slot.
  static constexpr uint32_t kLinearBytes = 65536 + 2048;
  std::vector<uint8_t> linear_;
};

}  // namespace sluice
