#include "dataplane/dpdk/ethdev_ports.h"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dataplane/dpdk/flow_dispatch.h"

namespace sluice {
namespace {

// RSS is only worth having if the NIC hashes on the full 5-tuple of both IP versions: anything
// less puts every TCP or UDP flow of one version on a single queue.
constexpr uint64_t kRequiredRss = RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP |
                                  RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_NONFRAG_IPV6_UDP;
// What we ask for when the NIC offers it: fragments and other protocols by address, so they
// stay symmetric too.
constexpr uint64_t kWantedRss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;

// "FILE:LINE:COLUMN: port 'NAME' (DEVICE)": where the operator looks and what they wrote.
std::string port_label(const std::string& defined_at, const std::string& name,
                       const std::string& device) {
  return absl::StrCat(defined_at, ": port '", name, "' (", device, ")");
}
std::string port_label(const PortConfig& p) { return port_label(p.defined_at, p.name, p.device); }

// DPDK returns -errno from ethdev calls.
std::string dpdk_reason(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

// What the operator can change when a port has fewer TX queues than workers.
std::string tx_queue_fix(const PortConfig& p, uint16_t offered, uint16_t workers) {
  if (p.driver == "net_af_packet") {
    if (p.device.find("qpairs=") != std::string::npos)
      return absl::StrCat("raise qpairs to ", workers, " in its device string");
    return absl::StrCat("add qpairs=", workers, " to its device string (\"", p.device, ",qpairs=",
                        workers, "\")");
  }
  if (offered == 0) return "the port cannot transmit; use another port";
  if (p.kind == PortKind::kPci)
    return absl::StrCat("use at most ", offered,
                        " workers (lcores.workers) or a NIC with more queues");
  return absl::StrCat("the ", p.driver, " driver offers no more; use at most ", offered,
                      " workers (lcores.workers)");
}

// The DPDK name a configured port has after EAL init: eal_arguments() put it on the command line.
std::string ethdev_name(const PortConfig& p) {
  return p.kind == PortKind::kVdev ? p.vdev_name : p.device;
}

// The symmetric key at the length the NIC wants: 0x6D5A repeated stays symmetric at any even
// length, so a NIC with a 52-byte key (i40e) gets the same pattern, longer.
std::vector<uint8_t> rss_key(uint8_t length) {
  const auto& base = symmetric_rss_key();
  std::vector<uint8_t> key(length == 0 ? base.size() : length);
  for (size_t i = 0; i < key.size(); ++i) key[i] = base[i % base.size()];
  return key;
}

// Pool names are process-wide in DPDK; a generation keeps a reopened set of ports (tests, a
// restart inside one process) from colliding with a pool that is still being freed.
std::string pool_name(int socket) {
  static std::atomic<uint32_t> generation{0};
  return absl::StrFormat("sluice_pkt%u_s%d", generation.fetch_add(1), socket);
}

struct PortToOpen {
  const PortConfig* config = nullptr;
  EthdevPort port;
  QueuePlan plan;
  uint8_t rss_key_size = 0;  // the NIC's; 0 when it does not say
};

// Finds the port's ethdev and plans its queues; touches nothing.
absl::StatusOr<PortToOpen> resolve_port(const PortConfig& config, uint16_t workers) {
  PortToOpen p;
  p.config = &config;
  p.port.name = config.name;
  p.port.device = config.device;
  p.port.defined_at = config.defined_at;
  const std::string name = ethdev_name(config);
  if (rte_eth_dev_get_port_by_name(name.c_str(), &p.port.port_id) != 0) {
    return absl::NotFoundError(absl::StrCat(
        port_label(config), ": DPDK has no port named ", name,
        config.kind == PortKind::kPci
            ? " (is the device bound to vfio-pci and not excluded by eal.pci: false?)"
            : " (the vdev did not come up; DPDK's log above says why)"));
  }
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(p.port.port_id, &info); rc != 0) {
    return absl::InternalError(
        absl::StrCat(port_label(config), ": cannot query the port: ", dpdk_reason(rc)));
  }
  const PortCapabilities caps{.max_rx_queues = info.max_rx_queues,
                              .max_tx_queues = info.max_tx_queues,
                              .flow_type_rss_offloads = info.flow_type_rss_offloads,
                              .rx_offload_capa = info.rx_offload_capa};
  absl::StatusOr<QueuePlan> plan = plan_port_queues(config, caps, workers);
  if (!plan.ok()) return plan.status();
  p.plan = *plan;
  p.rss_key_size = info.hash_key_size;
  p.port.dispatch = plan->dispatch;
  p.port.rx_queues = plan->rx_queues;
  p.port.tx_queues = plan->tx_queues;
  p.port.rx_checksum_offload = plan->rx_offloads != 0;
  // A vdev belongs to no socket; its memory comes from socket 0 like everything else then.
  const int socket = rte_eth_dev_socket_id(p.port.port_id);
  p.port.socket = socket < 0 ? 0 : socket;
  if (!plan->note.empty()) p.port.notes.push_back(plan->note);
  return p;
}

// "link up, 10000 Mbps full duplex" (rte_eth_link_to_str is still experimental in 22.11).
std::string describe_link(const rte_eth_link& link) {
  if (link.link_status != RTE_ETH_LINK_UP) return "link down";
  std::string speed = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN
                          ? "unknown speed"
                          : absl::StrCat(link.link_speed, " Mbps");
  return absl::StrCat("link up, ", speed,
                      link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX ? " full duplex" : " half duplex");
}

// Configures, sets up the queues of and starts one planned port.
absl::Status start_port(PortToOpen& p, const QueueConfig& queues, rte_mempool* pool) {
  const PortConfig& c = *p.config;
  EthdevPort& port = p.port;
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof(conf));
  std::vector<uint8_t> key;
  if (p.plan.dispatch == RxDispatch::kRss) {
    key = rss_key(p.rss_key_size);
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = key.data();
    conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<uint8_t>(key.size());
    conf.rx_adv_conf.rss_conf.rss_hf = p.plan.rss_hf;
  }
  conf.rxmode.offloads = p.plan.rx_offloads;
  if (int rc = rte_eth_dev_configure(port.port_id, port.rx_queues, port.tx_queues, &conf); rc != 0)
    return absl::InternalError(absl::StrCat(port_label(c), ": cannot configure ", port.rx_queues,
                                            " RX / ", port.tx_queues,
                                            " TX queues: ", dpdk_reason(rc)));

  port.rx_descriptors = queues.rx_descriptors;
  port.tx_descriptors = queues.tx_descriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port.port_id, &port.rx_descriptors,
                                                &port.tx_descriptors);
      rc != 0)
    return absl::InternalError(
        absl::StrCat(port_label(c), ": cannot check descriptor counts: ", dpdk_reason(rc)));
  if (port.rx_descriptors != queues.rx_descriptors || port.tx_descriptors != queues.tx_descriptors)
    port.notes.push_back(absl::StrCat("descriptors per queue adjusted to the driver's limits: RX ",
                                      queues.rx_descriptors, " -> ", port.rx_descriptors, ", TX ",
                                      queues.tx_descriptors, " -> ", port.tx_descriptors,
                                      " (queues.rx_descriptors / tx_descriptors)"));

  const unsigned socket = static_cast<unsigned>(port.socket);
  for (uint16_t q = 0; q < port.rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(port.port_id, q, port.rx_descriptors, socket, nullptr, pool);
        rc != 0)
      return absl::InternalError(absl::StrCat(port_label(c), ": cannot set up RX queue ", q,
                                              " with ", port.rx_descriptors,
                                              " descriptors: ", dpdk_reason(rc)));
  }
  for (uint16_t q = 0; q < port.tx_queues; ++q) {
    if (int rc = rte_eth_tx_queue_setup(port.port_id, q, port.tx_descriptors, socket, nullptr);
        rc != 0)
      return absl::InternalError(absl::StrCat(port_label(c), ": cannot set up TX queue ", q,
                                              " with ", port.tx_descriptors,
                                              " descriptors: ", dpdk_reason(rc)));
  }

  if (int rc = rte_eth_dev_start(port.port_id); rc != 0)
    return absl::InternalError(absl::StrCat(port_label(c), ": cannot start: ", dpdk_reason(rc)));

  // A bridge must see every frame, not only those addressed to the port's own MAC. Some vdevs
  // (net_null) have no such mode and see everything anyway, so a refusal is reported, not fatal.
  if (int rc = rte_eth_promiscuous_enable(port.port_id); rc != 0)
    port.notes.push_back(absl::StrCat("the driver refused promiscuous mode (", dpdk_reason(rc),
                                      "): frames to other MACs may not be seen"));
  port.promiscuous = rte_eth_promiscuous_get(port.port_id) == 1;

  rte_ether_addr mac;
  if (rte_eth_macaddr_get(port.port_id, &mac) == 0)
    std::memcpy(port.mac.data(), mac.addr_bytes, port.mac.size());

  // Without waiting: a NIC still negotiating must not hold up start-up; the management side
  // reads the link again later (read_status).
  rte_eth_link link;
  std::memset(&link, 0, sizeof(link));
  if (int rc = rte_eth_link_get_nowait(port.port_id, &link); rc == 0) {
    port.link_at_start = describe_link(link);
  } else {
    port.link_at_start = absl::StrCat("link unknown (", dpdk_reason(rc), ")");
  }
  return absl::OkStatus();
}

// All statuses in one, one message a line; the first one's code.
absl::Status combine(const std::vector<absl::Status>& errors) {
  std::vector<std::string> lines;
  for (const absl::Status& e : errors) lines.emplace_back(e.message());
  return absl::Status(errors.front().code(), absl::StrJoin(lines, "\n"));
}

}  // namespace

std::string_view rx_dispatch_name(RxDispatch d) {
  return d == RxDispatch::kRss ? "RSS" : "software dispatch";
}

std::string format_mac(const std::array<uint8_t, 6>& mac) {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                         mac[5]);
}

absl::StatusOr<QueuePlan> plan_port_queues(const PortConfig& port, const PortCapabilities& caps,
                                           uint16_t workers) {
  if (workers == 0)
    return absl::InvalidArgumentError(
        absl::StrCat(port_label(port), ": no workers to poll it (lcores.workers is empty)"));
  if (caps.max_tx_queues < workers)
    return absl::FailedPreconditionError(
        absl::StrCat(port_label(port), ": ", workers, " workers need a TX queue each, but the port offers ",
                     caps.max_tx_queues, "; ", tx_queue_fix(port, caps.max_tx_queues, workers)));
  if (caps.max_rx_queues == 0)
    return absl::FailedPreconditionError(
        absl::StrCat(port_label(port), ": the port has no RX queue; use another port"));
  QueuePlan plan;
  plan.tx_queues = workers;
  plan.rx_offloads =
      caps.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
  const bool rss = port.kind == PortKind::kPci &&
                   (caps.flow_type_rss_offloads & kRequiredRss) == kRequiredRss &&
                   caps.max_rx_queues >= workers;
  if (rss) {
    plan.dispatch = RxDispatch::kRss;
    plan.rx_queues = workers;
    plan.rss_hf = kWantedRss & caps.flow_type_rss_offloads;
  } else {
    // More queues than workers would only add queues to poll; fewer is what the port has
    // (af_packet: its qpairs), and re-dispatch reaches the workers that poll none.
    plan.dispatch = RxDispatch::kSoftware;
    plan.rx_queues = std::min(caps.max_rx_queues, workers);
    // A PCI port is expected to have RSS; say why this one does not use it.
    if (port.kind == PortKind::kPci) {
      const std::string why =
          (caps.flow_type_rss_offloads & kRequiredRss) != kRequiredRss
              ? std::string("the NIC cannot hash IPv4 and IPv6 TCP and UDP by port")
              : absl::StrCat("the NIC has ", caps.max_rx_queues, " RX queues for ", workers,
                             " workers");
      plan.note =
          absl::StrCat("RSS not used (", why, "): packets are dispatched to workers in software");
    }
  }
  return plan;
}

absl::StatusOr<std::unique_ptr<EthdevPorts>> EthdevPorts::open(const RunConfig& config) {
  const size_t workers = config.lcores.workers.size();
  if (workers == 0 || workers > RTE_MAX_QUEUES_PER_PORT)
    return absl::InvalidArgumentError(absl::StrCat(
        config.source, ": lcores.workers has ", workers, " entries; 1 to ",
        RTE_MAX_QUEUES_PER_PORT, " can be given queues"));
  std::unique_ptr<EthdevPorts> self(new EthdevPorts());
  self->workers_ = static_cast<uint16_t>(workers);

  // Every port is checked before any is configured, so a config that cannot work is refused
  // whole, with every reason at once, and leaves the devices untouched.
  std::vector<PortToOpen> planned;
  std::vector<absl::Status> errors;
  for (const PortConfig& c : config.ports) {
    absl::StatusOr<PortToOpen> p = resolve_port(c, self->workers_);
    if (p.ok()) {
      // The interception TAP carries the appliance's own frames, which are never inspected, and
      // net_tap would check their checksums in software: not asked.
      if (config.intercept.enabled && &c == &config.ports[config.intercept.port]) {
        p->plan.rx_offloads = 0;
        p->port.rx_checksum_offload = false;
      }
      planned.push_back(*std::move(p));
    } else {
      errors.push_back(p.status());
    }
  }
  if (!errors.empty()) return combine(errors);

  // One pool per socket in use: an mbuf is filled by the NIC on that socket and read by the
  // worker, so it must not live across the interconnect.
  std::map<int, std::vector<std::string>> sockets;  // socket -> port names, for the error
  for (const PortToOpen& p : planned) sockets[p.port.socket].push_back(p.port.name);
  for (const auto& [socket, names] : sockets) {
    const std::string name = pool_name(socket);
    rte_mempool* pool = rte_pktmbuf_pool_create(name.c_str(), config.mempool.mbufs,
                                                config.mempool.cache, 0, config.mempool.data_room,
                                                socket);
    if (pool == nullptr)
      return absl::ResourceExhaustedError(absl::StrCat(
          config.source, ": cannot create the packet pool of NUMA socket ", socket, " (ports ",
          absl::StrJoin(names, ", "), "): ", config.mempool.mbufs, " mbufs of ",
          config.mempool.data_room, " bytes: ", rte_strerror(rte_errno),
          "; lower mempool.mbufs or give DPDK more memory (hugepages on that socket, "
          "eal.memory_mb)"));
    self->pools_[socket] = pool;
  }

  for (PortToOpen& p : planned) {
    // Recorded before configuring, so a port left half set up by a failure is closed too.
    self->configured_.push_back(p.port.port_id);
    absl::Status s = start_port(p, config.queues, self->pools_.at(p.port.socket));
    if (!s.ok()) return s;  // the destructor stops what was started
    self->ports_.push_back(std::move(p.port));
  }

  self->peers_.mode = config.mode;
  const auto id = [&](size_t index) { return self->ports_.at(index).port_id; };
  if (config.mode == RunMode::kInline) {
    for (const PortPair& pair : config.pairs) {
      self->peers_.peer[id(pair.inside)] = id(pair.outside);
      self->peers_.peer[id(pair.outside)] = id(pair.inside);
    }
  } else {
    self->peers_.mirror = id(config.monitor.mirror);
    self->peers_.inject = id(config.monitor.inject);
  }
  return self;
}

EthdevPorts::~EthdevPorts() { stop(); }

void EthdevPorts::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Failures here are not reported: the process is on its way out, and closing releases the
  // port whatever stop said.
  for (uint16_t id : configured_) {
    rte_eth_dev_stop(id);
    rte_eth_dev_close(id);
  }
  configured_.clear();
  // Closing freed the mbufs held in the queues; the pools can go.
  for (auto& [socket, pool] : pools_) rte_mempool_free(pool);
  pools_.clear();
}

const EthdevPort* EthdevPorts::find(std::string_view name) const {
  for (const EthdevPort& p : ports_)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<RxQueueRef> EthdevPorts::rx_queues_for_worker(uint16_t worker) const {
  // One rule for both paths: with RSS a port has exactly one queue per worker, so q % workers
  // is q; on the software path a port with fewer queues leaves the last workers without any.
  std::vector<RxQueueRef> queues;
  for (const EthdevPort& p : ports_)
    for (uint16_t q = 0; q < p.rx_queues; ++q)
      if (q % workers_ == worker) queues.push_back({p.port_id, q});
  return queues;
}

rte_mempool* EthdevPorts::mempool(int socket) const {
  auto it = pools_.find(socket < 0 ? 0 : socket);
  return it == pools_.end() ? nullptr : it->second;
}

absl::StatusOr<PortStatus> EthdevPorts::read_status(size_t index) const {
  if (index >= ports_.size())
    return absl::OutOfRangeError(absl::StrCat("no port ", index, "; there are ", ports_.size()));
  const EthdevPort& p = ports_[index];
  const std::string label = port_label(p.defined_at, p.name, p.device);
  if (stopped_) return absl::FailedPreconditionError(absl::StrCat(label, ": the ports are stopped"));
  PortStatus s;
  rte_eth_link link;
  std::memset(&link, 0, sizeof(link));
  if (int rc = rte_eth_link_get_nowait(p.port_id, &link); rc != 0)
    return absl::InternalError(absl::StrCat(label, ": cannot read the link: ", dpdk_reason(rc)));
  s.link_up = link.link_status == RTE_ETH_LINK_UP;
  s.link_speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
  s.full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
  rte_eth_stats stats;
  if (int rc = rte_eth_stats_get(p.port_id, &stats); rc != 0)
    return absl::InternalError(absl::StrCat(label, ": cannot read counters: ", dpdk_reason(rc)));
  s.rx_packets = stats.ipackets;
  s.tx_packets = stats.opackets;
  s.rx_bytes = stats.ibytes;
  s.tx_bytes = stats.obytes;
  s.rx_missed = stats.imissed;
  s.rx_errors = stats.ierrors;
  s.tx_errors = stats.oerrors;
  s.rx_no_mbuf = stats.rx_nombuf;
  return s;
}

std::string EthdevPorts::summary() const {
  std::string out;
  for (const EthdevPort& p : ports_) {
    absl::StrAppend(&out, p.name, ": port ", p.port_id, " (", p.device, "), ",
                    std::string(rx_dispatch_name(p.dispatch)), ", ", p.rx_queues, " RX / ", p.tx_queues,
                    " TX queues of ", p.rx_descriptors, " / ", p.tx_descriptors,
                    " descriptors, socket ", p.socket, ", MAC ", format_mac(p.mac),
                    p.promiscuous ? ", promiscuous" : "",
                    p.rx_checksum_offload ? ", RX checksum offload" : "", ", ", p.link_at_start,
                    "\n");
    for (const std::string& note : p.notes) absl::StrAppend(&out, "  ", p.name, ": ", note, "\n");
  }
  return out;
}

}  // namespace sluice
