// A received frame's bytes as one span. A single-segment mbuf is read in place; a chain is copied
// into `scratch` (which must hold `capacity` bytes and outlive the span). Frames longer than
// `capacity` are cut there: the first flight never needs more.
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/enforcement.h"

namespace sluice {

inline ByteSpan mbuf_frame(rte_mbuf* m, uint8_t* scratch, uint32_t capacity) {
  const uint32_t len = std::min<uint32_t>(m->pkt_len, capacity);
  if (m->nb_segs == 1) return ByteSpan(rte_pktmbuf_mtod(m, const uint8_t*), len);
  const auto* data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, scratch));
  return data ? ByteSpan(data, len) : ByteSpan();
}

// What the NIC's RX checksum offload says of the frame's TCP/UDP checksum. Only "good" is
// passed on. A bad one is summed again by the inspector (it is rare, and bad is then told from
// an unfinished offload checksum as without offload), and so is "none", which drivers use both
// for UDP without a checksum and for data known intact behind an unfinished one.
// For a tunnelled packet (VXLAN, GENEVE, ...) the flag speaks of the inner L4, which is not
// what the inspector reads: such a verdict is not passed on either.
inline NicChecksum mbuf_l4_checksum(const rte_mbuf* m) {
  return (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD &&
                 (m->packet_type & RTE_PTYPE_TUNNEL_MASK) == 0
             ? NicChecksum::kGood
             : NicChecksum::kUnknown;
}

}  // namespace sluice
