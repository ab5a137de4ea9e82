// EthdevPorts against real DPDK ports (net_null, net_ring and net_af_packet vdevs created by the
// EAL environment of this binary), with configurations parsed from YAML as `sluice run` parses
// them. The RSS path needs a NIC this machine does not have; its decision is tested through
// plan_port_queues with a NIC's capabilities.
#include "dataplane/dpdk/ethdev_ports.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "dataplane/dpdk/mbuf_frame.h"
#include "tests/dataplane/core/packet_builder.h"
#include "tests/dataplane/dpdk_eal/checksum_tap.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Queues and a pool small enough for `-m 512`, shared by every configuration here.
constexpr const char* kSmallQueues = R"(queues:
  rx_descriptors: 256
  tx_descriptors: 256
mempool:
  mbufs: 4095
)";

// Two ports bridged inline, two workers. Line 2 defines port `in`, line 4 port `out` (column 5).
std::string pair_yaml(const std::string& in, const std::string& out) {
  return absl::StrCat(absl::StrReplaceAll(R"(ports:
  - name: in
    device: "IN"
  - name: out
    device: "OUT"
pairs:
  - inside: in
    outside: out
lcores:
  workers: [1, 2]
)",
                                          {{"IN", in}, {"OUT", out}}),
                      kSmallQueues);
}

// One port in monitor mode that both reads and injects; line 2 defines it (column 5).
std::string single_port_yaml(const std::string& name, const std::string& device,
                             const std::string& workers) {
  return absl::StrCat("ports:\n  - name: ", name, "\n    device: ", device,
                      "\nmode: monitor\nmonitor:\n  mirror: ", name, "\n  inject: ", name,
                      "\nlcores:\n  workers: ", workers, "\n", kSmallQueues);
}

RunConfig parse(const std::string& yaml) {
  absl::StatusOr<RunConfig> c = parse_run_config(yaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *std::move(c) : RunConfig{};
}

// Opens a pair that must open: nullptr (after reporting why) if it does not.
std::unique_ptr<EthdevPorts> open_pair(const std::string& in, const std::string& out) {
  absl::StatusOr<std::unique_ptr<EthdevPorts>> opened = EthdevPorts::open(parse(pair_yaml(in, out)));
  EXPECT_TRUE(opened.ok()) << opened.status();
  return opened.ok() ? *std::move(opened) : nullptr;
}

uint16_t port_id_of(const char* name) {
  uint16_t id = RTE_MAX_ETHPORTS;
  EXPECT_EQ(rte_eth_dev_get_port_by_name(name, &id), 0) << name;
  return id;
}

// Either the port is promiscuous, or the refusal is reported to the operator.
void expect_promiscuous_or_noted(const EthdevPort& p) {
  if (p.promiscuous) return;
  bool noted = false;
  for (const std::string& n : p.notes) noted |= n.find("promiscuous") != std::string::npos;
  EXPECT_TRUE(noted) << p.name << " is not promiscuous and nothing says so";
}

TEST(EthdevPorts, QueuesFollowTheWorkers) {
  std::unique_ptr<EthdevPorts> owned = open_pair("net_null0", "net_null1");
  ASSERT_NE(owned, nullptr);
  const EthdevPorts& ports = *owned;
  const uint16_t in = port_id_of("net_null0");
  const uint16_t out = port_id_of("net_null1");

  ASSERT_EQ(ports.workers(), 2);
  ASSERT_EQ(ports.ports().size(), 2u);
  for (const EthdevPort& p : ports.ports()) {
    SCOPED_TRACE(p.name);
    // A vdev has no RSS: software dispatch, one RX queue per worker (net_null has plenty), and
    // one TX queue per worker so no two workers share one.
    EXPECT_EQ(p.dispatch, RxDispatch::kSoftware);
    EXPECT_FALSE(p.rss());
    EXPECT_EQ(p.rx_queues, 2);
    EXPECT_EQ(p.tx_queues, 2);
    EXPECT_EQ(p.rx_descriptors, 256);
    EXPECT_EQ(p.tx_descriptors, 256);
    EXPECT_EQ(p.socket, 0);
    expect_promiscuous_or_noted(p);
  }
  EXPECT_EQ(ports.ports()[0].name, "in");
  EXPECT_EQ(ports.ports()[0].port_id, in);
  EXPECT_EQ(ports.ports()[0].device, "net_null0");
  EXPECT_EQ(ports.ports()[0].defined_at, "test.yaml:2:5");
  EXPECT_EQ(ports.find("out"), &ports.ports()[1]);
  EXPECT_EQ(ports.find("nowhere"), nullptr);

  // Worker w polls queue w of every port.
  EXPECT_THAT(ports.rx_queues_for_worker(0),
              ElementsAre(RxQueueRef{in, 0}, RxQueueRef{out, 0}));
  EXPECT_THAT(ports.rx_queues_for_worker(1),
              ElementsAre(RxQueueRef{in, 1}, RxQueueRef{out, 1}));
  EXPECT_TRUE(ports.rx_queues_for_worker(2).empty());

  // Frames received on one side of the pair leave on the other.
  EXPECT_EQ(ports.port_pair_peer().mode, RunMode::kInline);
  EXPECT_EQ(ports.port_pair_peer().peer.at(in), out);
  EXPECT_EQ(ports.port_pair_peer().peer.at(out), in);

  EXPECT_NE(ports.mempool(0), nullptr);
  EXPECT_EQ(ports.mempool(SOCKET_ID_ANY), ports.mempool(0));
  EXPECT_EQ(ports.mempool(1), nullptr);

  const std::string summary = ports.summary();
  EXPECT_THAT(summary, HasSubstr(absl::StrCat("in: port ", in,
                                              " (net_null0), software dispatch, 2 RX / 2 TX "
                                              "queues of 256 / 256 descriptors, socket 0")));
  EXPECT_THAT(summary, HasSubstr("out: port "));
  std::printf("%s", summary.c_str());
}

TEST(EthdevPorts, NullPortsCountWhatPasses) {
  std::unique_ptr<EthdevPorts> owned = open_pair("net_null2", "net_null3");
  ASSERT_NE(owned, nullptr);
  EthdevPorts& ports = *owned;
  const EthdevPort& in = ports.ports()[0];

  // net_null hands out a burst of 64-byte frames from our pool on every poll and swallows what
  // is sent: each worker polls its own RX queue and sends on its own TX queue.
  rte_mbuf* burst[8];
  for (uint16_t worker = 0; worker < ports.workers(); ++worker) {
    for (const RxQueueRef& q : ports.rx_queues_for_worker(worker)) {
      if (q.port_id != in.port_id) continue;
      const uint16_t n = rte_eth_rx_burst(q.port_id, q.queue_id, burst, 8);
      ASSERT_EQ(n, 8);
      EXPECT_EQ(burst[0]->pool, ports.mempool(in.socket));
      EXPECT_EQ(rte_eth_tx_burst(in.port_id, worker, burst, n), n);
    }
  }
  absl::StatusOr<PortStatus> status = ports.read_status(0);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(status->link_up);
  EXPECT_EQ(status->rx_packets, 16u);
  EXPECT_EQ(status->tx_packets, 16u);
  // (net_null counts packets only, not bytes.)
  EXPECT_EQ(status->rx_no_mbuf, 0u);
  EXPECT_EQ(ports.read_status(2).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(EthdevPorts, PacketsGoOutAndComeBackOnARing) {
  std::unique_ptr<EthdevPorts> owned = open_pair("net_ring0", "net_ring1");
  ASSERT_NE(owned, nullptr);
  EthdevPorts& ports = *owned;
  const EthdevPort& in = ports.ports()[0];
  EXPECT_EQ(in.rx_queues, 2);
  EXPECT_EQ(in.tx_queues, 2);
  EXPECT_TRUE(ports.read_status(0)->link_up);

  // A net_ring port's TX queue q feeds its own RX queue q: what worker 1 sends, worker 1 reads.
  uint8_t frame[60];
  for (size_t i = 0; i < sizeof(frame); ++i) frame[i] = static_cast<uint8_t>(i * 7);
  rte_mbuf* m = rte_pktmbuf_alloc(ports.mempool(in.socket));
  ASSERT_NE(m, nullptr);
  std::memcpy(rte_pktmbuf_append(m, sizeof(frame)), frame, sizeof(frame));
  ASSERT_EQ(rte_eth_tx_burst(in.port_id, 1, &m, 1), 1);

  const std::vector<RxQueueRef> worker1 = ports.rx_queues_for_worker(1);
  ASSERT_EQ(worker1.size(), 2u);
  ASSERT_EQ(worker1[0], (RxQueueRef{in.port_id, 1}));
  rte_mbuf* got[4];
  EXPECT_EQ(rte_eth_rx_burst(in.port_id, 0, got, 4), 0) << "worker 0's queue got the frame";
  ASSERT_EQ(rte_eth_rx_burst(worker1[0].port_id, worker1[0].queue_id, got, 4), 1);
  ASSERT_EQ(rte_pktmbuf_data_len(got[0]), sizeof(frame));
  EXPECT_EQ(std::memcmp(rte_pktmbuf_mtod(got[0], const uint8_t*), frame, sizeof(frame)), 0);
  rte_pktmbuf_free(got[0]);

  absl::StatusOr<PortStatus> status = ports.read_status(0);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->tx_packets, 1u);
  EXPECT_EQ(status->rx_packets, 1u);
}

TEST(EthdevPorts, TooFewTxQueuesIsRefusedAndTouchesNothing) {
  absl::StatusOr<std::unique_ptr<EthdevPorts>> opened =
      EthdevPorts::open(parse(pair_yaml("net_null4", "net_af_packet0,iface=lo")));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(opened.status().message(),
            "test.yaml:4:5: port 'out' (net_af_packet0,iface=lo): 2 workers need a TX queue each, "
            "but the port offers 1; add qpairs=2 to its device string "
            "(\"net_af_packet0,iface=lo,qpairs=2\")");

  // Refused before anything was configured: the other port still opens.
  absl::StatusOr<std::unique_ptr<EthdevPorts>> again =
      EthdevPorts::open(parse(single_port_yaml("in", "net_null4", "[1, 2]")));
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST(EthdevPorts, EveryRefusalIsReportedAtOnce) {
  absl::StatusOr<std::unique_ptr<EthdevPorts>> opened =
      EthdevPorts::open(parse(pair_yaml("net_null99", "net_af_packet0,iface=lo")));
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kNotFound);
  const std::string message(opened.status().message());
  EXPECT_THAT(message, HasSubstr("test.yaml:2:5: port 'in' (net_null99): DPDK has no port named "
                                 "net_null99"));
  EXPECT_THAT(message, HasSubstr("\ntest.yaml:4:5: port 'out' (net_af_packet0,iface=lo): 2 "
                                 "workers need a TX queue each"));
  // The port that was fine is left alone.
  EXPECT_TRUE(rte_eth_dev_is_valid_port(port_id_of("net_af_packet0")));
}

TEST(EthdevPorts, MonitorModeNamesMirrorAndInject) {
  const RunConfig config = parse(absl::StrCat(R"(ports:
  - name: span
    device: net_null5
  - name: uplink
    device: net_null6
mode: monitor
monitor:
  mirror: span
  inject: uplink
lcores:
  workers: [1]
)",
                                              kSmallQueues));
  absl::StatusOr<std::unique_ptr<EthdevPorts>> opened = EthdevPorts::open(config);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const PortPeers& peers = (*opened)->port_pair_peer();
  EXPECT_EQ(peers.mode, RunMode::kMonitor);
  EXPECT_TRUE(peers.peer.empty());
  EXPECT_EQ(peers.mirror, port_id_of("net_null5"));
  EXPECT_EQ(peers.inject, port_id_of("net_null6"));
  // One worker polls everything.
  EXPECT_EQ((*opened)->rx_queues_for_worker(0).size(), 2u);
}

TEST(EthdevPorts, PortStatusAndStop) {
  std::unique_ptr<EthdevPorts> owned = open_pair("net_null8", "net_null9");
  ASSERT_NE(owned, nullptr);
  EthdevPorts& ports = *owned;
  const uint16_t id = ports.ports()[0].port_id;
  ports.stop();
  EXPECT_FALSE(rte_eth_dev_is_valid_port(id)) << "stop() closes (and so releases) the port";
  EXPECT_EQ(ports.mempool(0), nullptr);
  ports.stop();  // idempotent
  absl::StatusOr<PortStatus> status = ports.read_status(0);
  EXPECT_EQ(status.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.status().message(), HasSubstr("test.yaml:2:5: port 'in' (net_null8)"));
}

// A port whose driver checks TCP/UDP checksums (net_tap does it in software, as a NIC does in
// hardware) is asked to, and its verdict reaches the worker through the mbuf: a frame the kernel
// sends into the TAP with a correct checksum reads as good, one with a corrupt checksum does not.
TEST(EthdevPorts, TapPortChecksL4Checksums) {
  const std::string iface = checksum_tap_iface();
  absl::StatusOr<std::unique_ptr<EthdevPorts>> opened = EthdevPorts::open(parse(single_port_yaml(
      "tap", absl::StrCat(kChecksumTapDevice, ",iface=", iface), "[1]")));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EthdevPorts& ports = **opened;
  const EthdevPort& tap = ports.ports()[0];
  EXPECT_TRUE(tap.rx_checksum_offload);
  EXPECT_THAT(ports.summary(), HasSubstr(", RX checksum offload"));

  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  ASSERT_NE(to.sll_ifindex, 0) << iface;
  to.sll_halen = 6;
  std::map<uint16_t, test::L4Checksum> sent = {{4431, test::L4Checksum::kCorrect},
                                               {4432, test::L4Checksum::kCorrupt}};
  for (const auto& [port, checksum] : sent) {
    test::TcpSpec spec;
    spec.dst_port = port;
    spec.frame.l4_checksum = checksum;
    spec.payload = test::Bytes(300, 0x16);
    const test::Bytes frame = test::build_tcp_frame(spec);
    ASSERT_EQ(sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(frame.size()))
        << std::strerror(errno);
  }
  close(fd);

  // The kernel sends its own frames too once the link is up (IPv6 neighbour discovery): ours
  // are told by their TCP destination port.
  std::map<uint16_t, NicChecksum> seen;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (seen.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    rte_mbuf* got[8];
    const uint16_t n = rte_eth_rx_burst(tap.port_id, 0, got, 8);
    for (uint16_t i = 0; i < n; ++i) {
      const uint8_t* d = rte_pktmbuf_mtod(got[i], const uint8_t*);
      // Ethernet, IPv4 without options (the builder's), TCP: the destination port at 14+20+2.
      if (rte_pktmbuf_data_len(got[i]) > 40 && d[12] == 0x08 && d[13] == 0x00 && d[23] == 6) {
        const uint16_t port = static_cast<uint16_t>(d[36] << 8 | d[37]);
        if (sent.count(port)) seen[port] = mbuf_l4_checksum(got[i]);
      }
      rte_pktmbuf_free(got[i]);
    }
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(seen.size(), sent.size()) << "not every frame sent into " << iface << " was received";
  EXPECT_EQ(seen[4431], NicChecksum::kGood);
  EXPECT_EQ(seen[4432], NicChecksum::kUnknown) << "a bad checksum is left to the inspector";
}

TEST(EthdevPorts, DestructorClosesThePorts) {
  const RunConfig config = parse(single_port_yaml("tap", "net_ring2", "[1]"));
  const uint16_t id = port_id_of("net_ring2");
  {
    absl::StatusOr<std::unique_ptr<EthdevPorts>> opened = EthdevPorts::open(config);
    ASSERT_TRUE(opened.ok()) << opened.status();
    (*opened)->stop();  // then the destructor stops again
  }
  EXPECT_FALSE(rte_eth_dev_is_valid_port(id));
  // Reopening finds nothing, with the place to look.
  absl::StatusOr<std::unique_ptr<EthdevPorts>> reopened = EthdevPorts::open(config);
  ASSERT_FALSE(reopened.ok());
  EXPECT_THAT(reopened.status().message(),
              HasSubstr("test.yaml:2:5: port 'tap' (net_ring2): DPDK has no port named net_ring2"));
}

// The RSS decision, with the capabilities a NIC reports (this machine has none).
PortConfig pci_port() {
  PortConfig p;
  p.name = "wan";
  p.device = "0000:3b:00.0";
  p.kind = PortKind::kPci;
  p.defined_at = "sluice.yaml:7:5";
  return p;
}

PortConfig vdev_port(const std::string& name, const std::string& device,
                     const std::string& driver, const std::string& vdev_name) {
  PortConfig p;
  p.name = name;
  p.device = device;
  p.kind = PortKind::kVdev;
  p.driver = driver;
  p.vdev_name = vdev_name;
  p.defined_at = "sluice.yaml:3:5";
  return p;
}

constexpr uint64_t kNicRss = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 |
                             RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                             RTE_ETH_RSS_NONFRAG_IPV4_SCTP | RTE_ETH_RSS_IPV6 |
                             RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
                             RTE_ETH_RSS_L2_PAYLOAD;

TEST(PlanPortQueues, PciPortWithRssGetsAQueuePerWorker) {
  absl::StatusOr<QueuePlan> plan = plan_port_queues(pci_port(), {64, 64, kNicRss}, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->dispatch, RxDispatch::kRss);
  EXPECT_EQ(plan->note, "");
  EXPECT_EQ(plan->rx_queues, 4);
  EXPECT_EQ(plan->tx_queues, 4);
  // Only hash types the NIC has, and none it was not asked for (SCTP, L2 payload).
  EXPECT_EQ(plan->rss_hf, kNicRss & ~(RTE_ETH_RSS_NONFRAG_IPV4_SCTP | RTE_ETH_RSS_L2_PAYLOAD));
}

TEST(PlanPortQueues, PciPortWithoutFullRssFallsBackToSoftware) {
  // No IPv6 UDP hashing: those flows would all meet on one queue.
  absl::StatusOr<QueuePlan> plan =
      plan_port_queues(pci_port(), {64, 64, kNicRss & ~RTE_ETH_RSS_NONFRAG_IPV6_UDP}, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->dispatch, RxDispatch::kSoftware);
  EXPECT_EQ(plan->rx_queues, 4);
  EXPECT_EQ(plan->rss_hf, 0u);
  EXPECT_EQ(plan->note,
            "RSS not used (the NIC cannot hash IPv4 and IPv6 TCP and UDP by port): packets are "
            "dispatched to workers in software");
  // Fewer RX queues than workers: each queue still has one poller, and re-dispatch reaches
  // the rest.
  plan = plan_port_queues(pci_port(), {2, 64, kNicRss}, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->dispatch, RxDispatch::kSoftware);
  EXPECT_EQ(plan->rx_queues, 2);
  EXPECT_EQ(plan->tx_queues, 4);
  EXPECT_THAT(plan->note, HasSubstr("(the NIC has 2 RX queues for 4 workers)"));
}

TEST(PlanPortQueues, VdevIsAlwaysSoftwareEvenIfItClaimsRss) {
  const PortConfig tap = vdev_port("tap", "net_tap0,iface=sluice0", "net_tap", "net_tap0");
  absl::StatusOr<QueuePlan> plan = plan_port_queues(tap, {16, 16, kNicRss}, 2);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->dispatch, RxDispatch::kSoftware);
  EXPECT_EQ(plan->rx_queues, 2);
  EXPECT_EQ(plan->note, "") << "a vdev never has RSS; nothing to explain";
}

TEST(PlanPortQueues, ChecksumOffloadIsAskedWhereThePortHasIt) {
  PortCapabilities caps{16, 16, kNicRss};
  caps.rx_offload_capa = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
                         RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
  absl::StatusOr<QueuePlan> plan = plan_port_queues(pci_port(), caps, 2);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Only the L4 checks: the IPv4 header is summed with the parse anyway, and nothing that
  // changes the frame (VLAN stripping) is ever asked for.
  EXPECT_EQ(plan->rx_offloads, RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
  caps.rx_offload_capa = 0;
  plan = plan_port_queues(pci_port(), caps, 2);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->rx_offloads, 0u);
}

TEST(PlanPortQueues, RefusalsSayWhatToChange) {
  EXPECT_EQ(plan_port_queues(pci_port(), {64, 2, kNicRss}, 4).status().message(),
            "sluice.yaml:7:5: port 'wan' (0000:3b:00.0): 4 workers need a TX queue each, but the "
            "port offers 2; use at most 2 workers (lcores.workers) or a NIC with more queues");
  const PortConfig af =
      vdev_port("lan", "net_af_packet1,iface=veth1,qpairs=2", "net_af_packet", "net_af_packet1");
  EXPECT_THAT(std::string(plan_port_queues(af, {2, 2, 0}, 3).status().message()),
              HasSubstr("but the port offers 2; raise qpairs to 3 in its device string"));
  EXPECT_THAT(std::string(plan_port_queues(af, {0, 4, 0}, 3).status().message()),
              HasSubstr("sluice.yaml:3:5: port 'lan' (net_af_packet1,iface=veth1,qpairs=2): the "
                        "port has no RX queue"));
  EXPECT_EQ(plan_port_queues(af, {4, 4, 0}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sluice
