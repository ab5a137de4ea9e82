// A received frame's bytes as one span. A single-segment mbuf is read in place; a chain is copied
// into `scratch` (which must hold `capacity` bytes and outlive the span). Frames longer than
// `capacity` are cut there: the first flight never needs more.
#pragma once

#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>

#include "dataplane/core/bytes.h"

namespace sluice {

inline ByteSpan mbuf_frame(rte_mbuf* m, uint8_t* scratch, uint32_t capacity) {
  const uint32_t len = std::min<uint32_t>(m->pkt_len, capacity);
  if (m->nb_segs == 1) return ByteSpan(rte_pktmbuf_mtod(m, const uint8_t*), len);
  const auto* data = static_cast<const uint8_t*>(rte_pktmbuf_read(m, 0, len, scratch));
  return data ? ByteSpan(data, len) : ByteSpan();
}

}  // namespace sluice
