// pcap_floor: the floor for `sluice replay` — a DPDK program that only receives a capture
// through the same net_pcap vdev and frees the mbufs.
//
//   pcap_floor CAPTURE
//
// Everything up to the packets is what replay does (dataplane/app/replay_command.cc): the same
// EAL arguments (no_hardware_eal_args, 512 MB), the same mbuf pool, open_pcap_port, bursts of 32
// and the same end-of-file rule (4 empty bursts in a row). Per packet it does nothing but count
// and free, so replay's packets/s over this program's is the share of the receive path that
// sluice's own work leaves. Prints one line: packets, bytes, seconds since main() started, Mpps.
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/pcap_port.h"

namespace {

constexpr char kPortName[] = "net_pcap_floor";
constexpr uint16_t kBurst = 32;             // sluice::Worker::kBurst
constexpr int kEmptyBurstsAtEnd = 4;        // as replay_command.cc
constexpr int kEalMemoryMb = 512;           // ReplayOptions::eal_memory_mb

}  // namespace

int main(int argc, char** argv) {
  const auto started = std::chrono::steady_clock::now();
  if (argc != 2) {
    std::fprintf(stderr, "usage: pcap_floor CAPTURE\n");
    return 2;
  }
  const std::string capture = argv[1];
  if (absl::Status s = sluice::check_capture_file(capture); !s.ok()) {
    std::fprintf(stderr, "pcap_floor: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (absl::Status s = sluice::init_eal(sluice::no_hardware_eal_args("pcap_floor", kEalMemoryMb));
      !s.ok()) {
    std::fprintf(stderr, "pcap_floor: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  rte_mempool* pool = sluice::create_capture_mbuf_pool("floor_mbufs");
  if (pool == nullptr) {
    std::fprintf(stderr, "pcap_floor: cannot allocate packet buffers\n");
    return 1;
  }
  absl::StatusOr<sluice::PcapPort> port = sluice::open_pcap_port(kPortName, capture, pool);
  if (!port.ok()) {
    std::fprintf(stderr, "pcap_floor: %s\n", std::string(port.status().message()).c_str());
    return 2;
  }

  uint64_t packets = 0;
  uint64_t bytes = 0;
  rte_mbuf* pkts[kBurst];
  for (int empty = 0; empty < kEmptyBurstsAtEnd;) {
    const uint16_t n = rte_eth_rx_burst(port->port_id, 0, pkts, kBurst);
    if (n == 0) {
      ++empty;
      continue;
    }
    empty = 0;
    packets += n;
    for (uint16_t i = 0; i < n; ++i) bytes += pkts[i]->pkt_len;
    rte_pktmbuf_free_bulk(pkts, n);
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("pcap_floor: %llu packets, %llu bytes, %.3f s, %.3f Mpps\n",
              static_cast<unsigned long long>(packets), static_cast<unsigned long long>(bytes),
              elapsed, packets / elapsed / 1e6);
  sluice::close_pcap_port(*port, kPortName);
  return 0;
}
