// The live ports of `sluice run`: turns the ports of a RunConfig into started DPDK ethdev ports,
// with their packet pools, and says which worker polls which queue.
//
// Queue layout (the contract with the workers):
// - TX: every worker has its own TX queue on every port, queue w for worker w, so no two lcores
//   ever share a TX queue and no lock is needed. A port that cannot offer that many is refused.
// - RX, RSS path (PCI ports whose NIC hashes IPv4/IPv6 TCP/UDP and has a queue per worker): one
//   RX queue per worker, hashed with the symmetric key, so both directions of a flow land on the
//   queue of the worker that owns the flow. Worker w polls queue w.
// - RX, software path (every vdev: af_packet, tap, pcap, ring, null; PCI ports without enough
//   RSS): min(max RX queues, workers) queues, queue q polled by worker q % workers. The kernel or
//   the driver spreads packets by its own rule, so the polling worker re-dispatches each packet
//   to its owner with dispatch_worker() (flow_dispatch.h).
//
// Every failure names the port as the operator wrote it: `FILE:LINE:COLUMN: port 'NAME'
// (DEVICE): what went wrong (DPDK's reason); what to change`.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/config/run_config.h"

struct rte_mempool;

namespace sluice {

// How a port's received packets reach the worker that owns their flow.
enum class RxDispatch : uint8_t {
  kRss,       // the NIC's symmetric hash picks the queue, and the queue is the owner
  kSoftware,  // the polling worker re-dispatches every packet by the software hash
};
std::string_view rx_dispatch_name(RxDispatch d);

// What a port offers, as far as choosing its queues goes (taken from rte_eth_dev_info).
struct PortCapabilities {
  uint16_t max_rx_queues = 0;
  uint16_t max_tx_queues = 0;
  uint64_t flow_type_rss_offloads = 0;  // RTE_ETH_RSS_* the NIC can hash on
  uint64_t rx_offload_capa = 0;         // RTE_ETH_RX_OFFLOAD_* the port offers
};

// The queues chosen for one port.
struct QueuePlan {
  RxDispatch dispatch = RxDispatch::kSoftware;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint64_t rss_hf = 0;  // hash types asked of the NIC (RSS path only)
  // RX offloads asked of the port: the TCP and UDP checksum checks where it has them, so a
  // worker need not sum every first-flight segment itself (mbuf_l4_checksum reads the result).
  uint64_t rx_offloads = 0;
  std::string note;     // why a PCI port does not get RSS; empty otherwise
};

// Chooses the queues of `port` for `workers` workers (see the top of this file), or refuses the
// port with a message that says what to change. No DPDK call: planning is separate from opening
// so that every port is checked before any is touched.
absl::StatusOr<QueuePlan> plan_port_queues(const PortConfig& port, const PortCapabilities& caps,
                                           uint16_t workers);

// One started port.
struct EthdevPort {
  std::string name;        // as in the config (pairs, monitor and statistics use it)
  std::string device;      // the config's device string
  std::string defined_at;  // FILE:LINE:COLUMN of its config entry
  uint16_t port_id = 0;
  int socket = 0;  // NUMA socket of its queues and pool (a vdev's "any socket" counts as 0)
  RxDispatch dispatch = RxDispatch::kSoftware;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint16_t rx_descriptors = 0;  // per queue, after the driver's adjustment
  uint16_t tx_descriptors = 0;
  std::array<uint8_t, 6> mac{};
  bool promiscuous = false;
  bool rx_checksum_offload = false;  // the NIC checks TCP and/or UDP checksums (QueuePlan)
  std::string link_at_start;  // e.g. "link up, 10000 Mbps full duplex", read without waiting
  // What the operator should know but need not act on at once: descriptor counts the driver
  // changed, a driver that refused promiscuous mode. summary() includes them.
  std::vector<std::string> notes;

  bool rss() const { return dispatch == RxDispatch::kRss; }
};

// An RX queue a worker polls.
struct RxQueueRef {
  uint16_t port_id = 0;
  uint16_t queue_id = 0;
  bool operator==(const RxQueueRef&) const = default;
};

// Where frames go. Inline: a frame received on a port leaves on its peer (inside <-> outside of
// its pair). Monitor: frames are only read from `mirror`; resets are sent from `inject`.
struct PortPeers {
  RunMode mode = RunMode::kInline;
  std::map<uint16_t, uint16_t> peer;  // inline: port_id -> peer port_id, both directions
  uint16_t mirror = 0;                // monitor
  uint16_t inject = 0;                // monitor
};

// Link state and counters of one port, as the management thread reads them while workers run
// (rte_eth_link_get_nowait and rte_eth_stats_get are safe beside the datapath).
struct PortStatus {
  bool link_up = false;
  uint32_t link_speed_mbps = 0;
  bool full_duplex = false;
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_missed = 0;     // dropped by the port: RX queues full (workers too slow)
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_no_mbuf = 0;    // RX allocation failures: the pool ran dry
};

// Owns the started ports and their pools. Stops and closes them on stop() or destruction.
class EthdevPorts {
 public:
  // Opens every port of `config`: the EAL must already be initialised with the devices of
  // eal_arguments(config). Every port is looked up and its queues planned before any is
  // configured; all refusals are reported together, one per line. On a later failure the ports
  // already configured are closed again.
  static absl::StatusOr<std::unique_ptr<EthdevPorts>> open(const RunConfig& config);

  ~EthdevPorts();
  EthdevPorts(const EthdevPorts&) = delete;
  EthdevPorts& operator=(const EthdevPorts&) = delete;

  // In config order.
  const std::vector<EthdevPort>& ports() const { return ports_; }
  // The port with this config name, or nullptr.
  const EthdevPort* find(std::string_view name) const;
  uint16_t workers() const { return workers_; }

  // The RX queues worker `worker` (0-based index into lcores.workers) polls, port by port.
  // Its TX queue on every port is queue `worker`.
  std::vector<RxQueueRef> rx_queues_for_worker(uint16_t worker) const;

  // The packet pool of NUMA socket `socket`, or nullptr if no port is on that socket.
  rte_mempool* mempool(int socket) const;

  // Which port a received frame leaves on (inline) or the mirror and inject ports (monitor).
  const PortPeers& port_pair_peer() const { return peers_; }

  // Link state and counters of ports()[index]; callable from the management thread while
  // workers poll. Not after stop().
  absl::StatusOr<PortStatus> read_status(size_t index) const;

  // One line per port: id, dispatch path, queues, descriptors, socket, MAC, link, then notes.
  std::string summary() const;

  // Stops and closes every port, then frees the pools. Workers must have stopped polling.
  // Idempotent; the destructor calls it.
  void stop();

 private:
  EthdevPorts() = default;

  std::vector<EthdevPort> ports_;
  uint16_t workers_ = 0;
  std::map<int, rte_mempool*> pools_;  // socket -> pool
  std::vector<uint16_t> configured_;   // port ids to stop and close
  PortPeers peers_;
  bool stopped_ = false;
};

// "02:00:00:00:00:01".
std::string format_mac(const std::array<uint8_t, 6>& mac);

}  // namespace sluice
