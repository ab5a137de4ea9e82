#include "dataplane/dpdk/pcap_port.h"

#include <pcap/pcap.h>
#include <rte_bus_vdev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace sluice {

rte_mempool* create_capture_mbuf_pool(const char* name) {
  return rte_pktmbuf_pool_create(name, 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
}

absl::Status check_capture_file(const std::string& path) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) {
    return absl::NotFoundError(absl::StrCat("cannot read capture ", path, ": ", std::strerror(errno)));
  }
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t* handle = pcap_open_offline(path.c_str(), errbuf);
  if (handle == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a pcap or pcapng capture: ", errbuf));
  }
  pcap_close(handle);
  return absl::OkStatus();
}

absl::StatusOr<PcapPort> open_pcap_port(const std::string& name, const std::string& path,
                                        rte_mempool* pool) {
  if (path.find(',') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("capture path ", path, " contains a comma, which DPDK devargs cannot carry"));
  }
  const std::string devargs = absl::StrCat("rx_pcap=", path);
  if (rte_vdev_init(name.c_str(), devargs.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot create DPDK port ", name, " for ", path));
  }
  PcapPort port;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &port.port_id) != 0) {
    return absl::InternalError(absl::StrCat("DPDK port ", name, " not found after creation"));
  }
  rte_eth_dev_info info;
  if (rte_eth_dev_info_get(port.port_id, &info) != 0) {
    return absl::InternalError(absl::StrCat("cannot query DPDK port ", name));
  }
  rte_eth_conf conf;
  std::memset(&conf, 0, sizeof(conf));
  // net_pcap stamps every mbuf with the capture time through the shared Rx timestamp dynfield
  // without advertising the offload; registering returns the same field and flag it uses.
  if (rte_mbuf_dyn_rx_timestamp_register(&port.timestamp_offset, &port.timestamp_flag) == 0) {
    port.has_timestamps = true;
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP)
      conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
  }
  // Frames bigger than one mbuf (captures taken with GRO/TSO) arrive as mbuf chains.
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
  int rc = rte_eth_dev_configure(port.port_id, 1, 1, &conf);
  if (rc == 0) rc = rte_eth_rx_queue_setup(port.port_id, 0, 1024, rte_socket_id(), nullptr, pool);
  if (rc == 0) rc = rte_eth_tx_queue_setup(port.port_id, 0, 1024, rte_socket_id(), nullptr);
  if (rc == 0) rc = rte_eth_dev_start(port.port_id);
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start DPDK port ", name, ": ", rte_strerror(-rc)));
  }
  return port;
}

void close_pcap_port(const PcapPort& port, const std::string& name) {
  rte_eth_dev_stop(port.port_id);
  rte_eth_dev_close(port.port_id);
  rte_vdev_uninit(name.c_str());
}

}  // namespace sluice
