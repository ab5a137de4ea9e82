#include "dataplane/dpdk/worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>

#include <algorithm>

#include "dataplane/dpdk/mbuf_frame.h"

namespace sluice {

Worker::Worker(FlowInspector& inspector, const WorkerRx& rx) : inspector_(inspector), rx_(rx) {}

uint64_t Worker::packet_time(const rte_mbuf* m) {
  if (rx_.capture_timestamps && m != nullptr && (m->ol_flags & rx_.timestamp_flag)) {
    // net_pcap stores the capture time in microseconds (it opens files at pcap's default
    // precision), not the nanoseconds the dynfield usually carries.
    const uint64_t t =
        *RTE_MBUF_DYNFIELD(m, rx_.timestamp_offset, const rte_mbuf_timestamp_t*) * 1000;
    now_ns_ = std::max(now_ns_, t);  // captures can step back; flow time never does
    return now_ns_;
  }
  now_ns_ = std::max(now_ns_, clock_.now_ns());
  return now_ns_;
}

uint16_t Worker::poll_once() {
  rte_mbuf* pkts[kBurst];
  const uint16_t n = rte_eth_rx_burst(rx_.port_id, rx_.queue_id, pkts, kBurst);
  ByteSpan frames[kBurst];
  uint64_t times[kBurst];
  PacketAction actions[kBurst];
  uint16_t count = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (m->nb_segs == 1) rte_prefetch0(rte_pktmbuf_mtod(m, void*));
    // A chain is copied into this packet's own linear buffer, which lives until the burst ends.
    frames[count] = mbuf_frame(m, linear_ + size_t{count} * kLinearBytes, kLinearBytes);
    if (frames[count].data() == nullptr) continue;  // a chain that could not be read
    times[count++] = packet_time(m);
  }
  inspector_.on_burst(frames, times, count, actions);
  if (n > 0) rte_pktmbuf_free_bulk(pkts, n);
  if (n == 0 && !rx_.capture_timestamps) packet_time(nullptr);
  inspector_.expire(now_ns_);
  return n;
}

}  // namespace sluice
