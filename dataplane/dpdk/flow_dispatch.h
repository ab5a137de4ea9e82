// Which worker owns a flow. Both directions of a flow must meet on one worker (its flow state
// lives there and nowhere else), whether the NIC spreads packets with RSS or software does.
//
// - Ports with RSS: Toeplitz with a key of 0x6D5A repeated is symmetric (swapping source and
//   destination gives the same hash; Woo & Park, "Scalable TCP Session Monitoring with
//   Symmetric Receive-side Scaling"), so the NIC sends both directions to the same queue index.
// - Ports without RSS (af_packet, pcap, tap vdevs): the receiving lcore computes the worker from
//   the canonical flow key, which is symmetric by construction, with a seed all lcores share.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/flow_key.h"

namespace sluice {

inline constexpr size_t kSymmetricRssKeyLength = 40;
// The key for rte_eth_rss_conf.rss_key on ports with RSS.
const std::array<uint8_t, kSymmetricRssKeyLength>& symmetric_rss_key();

// Software dispatch for ports without RSS: the same worker for both directions of a flow.
inline uint16_t dispatch_worker(const FlowKey& key, uint16_t workers) {
  // A fixed seed, shared by every receiving lcore: distinct from the flow tables' seeds, which
  // only need to be unpredictable, not shared.
  constexpr uint64_t kDispatchSeed = 0x5a17ce0fd15a7c11ULL;
  return static_cast<uint16_t>((hash_flow_key(key, kDispatchSeed) >> 32) % workers);
}

}  // namespace sluice

namespace sluice {

// Software dispatch straight from a frame, before the full parse: a symmetric hash of the IP
// address pair and the innermost VLAN id. Ports are left out on purpose so that every fragment
// of a datagram (only the first carries ports) meets its flow's worker. Frames that are not IP
// return `self`: ARP and the like need no flow state and go out from whoever received them.
uint16_t dispatch_worker_for_frame(ByteSpan frame, uint16_t workers, uint16_t self);

}  // namespace sluice
