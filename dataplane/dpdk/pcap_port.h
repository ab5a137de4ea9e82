// A capture file as a DPDK port, through the net_pcap vdev: the same rte_eth_rx_burst path a
// NIC takes, so replay exercises the real worker loop.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

struct rte_mempool;

namespace sluice {

struct PcapPort {
  uint16_t port_id = 0;
  bool has_timestamps = false;  // mbufs carry the capture timestamp (ns since the epoch)
  int timestamp_offset = -1;    // dynfield offset of the timestamp
  uint64_t timestamp_flag = 0;  // ol_flags bit set when the timestamp is valid
};

// The packet buffers a capture port receives into (replay and its benchmark floor use the same):
// 8191 standard mbufs; larger frames arrive as chains. nullptr when DPDK memory is short.
rte_mempool* create_capture_mbuf_pool(const char* name);

// Checks that `path` is a readable pcap or pcapng file, with a one-line reason if it is not.
absl::Status check_capture_file(const std::string& path);

// Creates the vdev `name` reading `path` (transmit is discarded), configures one RX queue from
// `pool` and starts it.
absl::StatusOr<PcapPort> open_pcap_port(const std::string& name, const std::string& path,
                                        rte_mempool* pool);

void close_pcap_port(const PcapPort& port, const std::string& name);

}  // namespace sluice
