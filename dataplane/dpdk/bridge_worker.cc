#include "dataplane/dpdk/bridge_worker.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <ctime>

#include "dataplane/dpdk/flow_dispatch.h"
#include "dataplane/dpdk/mbuf_frame.h"

namespace sluice {
namespace {

constexpr uint64_t kStatsIntervalNs = 10'000'000;  // counters reach telemetry within 10 ms
constexpr uint64_t kExpireIntervalNs = 100'000;     // timers run every 100 us
constexpr uint16_t kNoPort = UINT16_MAX;
constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherArp = 0x0806;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;

}  // namespace

BridgeWorker::BridgeWorker(const BridgeWorkerSetup& setup, FlowInspector& inspector,
                           AuditRing& audit, PolicyPublisher& policy, StatsMailbox& mailbox)
    : setup_(setup),
      inspector_(inspector),
      audit_(audit),
      policy_(policy),
      mailbox_(mailbox),
      linear_(size_t{FlowInspector::kMaxBurst} * kLinearBytes) {
  monitor_ = setup_.peers.mode == RunMode::kMonitor;
  std::fill(std::begin(peer_), std::end(peer_), kNoPort);
  for (const auto& [from, to] : setup_.peers.peer)
    if (from < kMaxPorts) peer_[from] = to;
  inspector_.set_enforcement_sink(this);
}

uint16_t BridgeWorker::out_port(uint16_t in_port) const {
  return in_port < kMaxPorts ? peer_[in_port] : kNoPort;
}

void BridgeWorker::send(rte_mbuf* m, uint16_t port) {
  if (port >= kMaxPorts) {
    ++inspector_.mutable_stats().tx_dropped;  // no peer: a port outside every pair
    rte_pktmbuf_free(m);
    return;
  }
  tx_[port][tx_count_[port]++] = m;
  tx_pending_ |= uint32_t{1} << port;
  if (tx_count_[port] == kTxBatch) flush_tx(port);
}

void BridgeWorker::flush_tx(uint16_t port) {
  const uint16_t n = tx_count_[port];
  tx_pending_ &= ~(uint32_t{1} << port);
  if (n == 0) return;
  uint16_t sent = 0;
  // A few tries: a TX ring that is full now usually is not a microsecond later.
  for (int tries = 0; sent < n && tries < 4; ++tries)
    sent += rte_eth_tx_burst(port, setup_.id, tx_[port] + sent, n - sent);
  WorkerStats& s = inspector_.mutable_stats();
  s.tx_packets += sent;
  if (sent < n) {
    s.tx_dropped += n - sent;
    rte_pktmbuf_free_bulk(tx_[port] + sent, n - sent);
  }
  tx_count_[port] = 0;
}

void BridgeWorker::flush_all_tx() {
  // Only the ports with frames waiting: this runs twice per loop iteration.
  while (tx_pending_ != 0) flush_tx(static_cast<uint16_t>(std::countr_zero(tx_pending_)));
}

void BridgeWorker::release(void* handle) {
  auto* m = static_cast<rte_mbuf*>(handle);
  send(m, out_port(m->port));
}

void BridgeWorker::discard(void* handle) { rte_pktmbuf_free(static_cast<rte_mbuf*>(handle)); }

rte_mbuf* BridgeWorker::new_frame(ByteSpan frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(setup_.inject_pool);
  if (m == nullptr) return nullptr;
  char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  if (data == nullptr) {
    rte_pktmbuf_free(m);
    return nullptr;
  }
  std::memcpy(data, frame.data(), frame.size());
  return m;
}

void BridgeWorker::inject(ByteSpan frame, uint16_t client_port, bool toward_client) {
  const uint16_t port =
      monitor_ ? setup_.peers.inject : (toward_client ? client_port : out_port(client_port));
  rte_mbuf* m = new_frame(frame);
  if (m == nullptr) {
    ++inspector_.mutable_stats().resets_unsent;
    return;
  }
  send(m, port);
}

// The handoff datagram's fragments join the TAP's TX batch ahead of every later frame of the
// flow (same worker, same queue), and the TAP PMD writes them: no system call of our own.
bool BridgeWorker::inject_to_interceptor(ByteSpan frame) {
  rte_mbuf* m = new_frame(frame);
  if (m == nullptr) return false;
  send(m, setup_.intercept.tap_port);
  return true;
}

void BridgeWorker::to_interceptor(void* handle, uint16_t l3_offset) {
  auto* m = static_cast<rte_mbuf*>(handle);
  uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t src[6];
  std::memcpy(src, d + 6, 6);
  const uint16_t ethertype = load_be16(d + l3_offset - 2);
  // Plain Ethernet toward the TAP: VLAN tags of the client side mean nothing in there.
  if (rte_pktmbuf_adj(m, l3_offset) == nullptr || (d = reinterpret_cast<uint8_t*>(
                                                        rte_pktmbuf_prepend(m, 14))) == nullptr) {
    ++inspector_.mutable_stats().tx_dropped;
    rte_pktmbuf_free(m);
    return;
  }
  std::memcpy(d, setup_.intercept.tap_mac.data(), 6);
  std::memcpy(d + 6, src, 6);
  store_be16(d + 12, ethertype);
  send(m, setup_.intercept.tap_port);
}

void BridgeWorker::to_client(void* handle, uint16_t l3_offset, const L2Header& client_l2,
                             uint16_t client_port) {
  auto* m = static_cast<rte_mbuf*>(handle);
  uint8_t* d = nullptr;
  if (client_l2.length < 14 || rte_pktmbuf_adj(m, l3_offset) == nullptr ||
      (d = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, client_l2.length))) == nullptr) {
    ++inspector_.mutable_stats().tx_dropped;
    rte_pktmbuf_free(m);
    return;
  }
  // The header came from a client frame: swapped, it says "from the server side, to the client".
  std::memcpy(d, client_l2.bytes, client_l2.length);
  std::memcpy(d, client_l2.bytes + 6, 6);
  std::memcpy(d + 6, client_l2.bytes, 6);
  send(m, client_port);
}

// An IPv6 neighbour solicitation (multicast, so not to the TAP's MAC) whose target is the
// appliance's IPv6 address: the IPv6 twin of an ARP request for it.
bool BridgeWorker::solicits_appliance_ip6(const uint8_t* d, uint32_t len) const {
  constexpr uint8_t kIcmpv6 = 58, kNeighbourSolicitation = 135;
  constexpr uint32_t icmp = 14 + 40;
  return load_be16(d + 12) == kEtherIpv6 && len >= icmp + 24 && d[14 + 6] == kIcmpv6 &&
         d[icmp] == kNeighbourSolicitation &&
         std::memcmp(d + icmp + 8, setup_.intercept.appliance_ip6.data(), 16) == 0;
}

// Frames that are the appliance's own business, recognised by address before any inspection:
// - out of the TAP: heartbeats to our end of the handoff channel (consumed), ARP, IPv4 or IPv6
//   from the appliance's addresses (its own connections, e.g. the interceptor's upstream ones,
//   and its neighbour discovery), and whatever is not addressed to our end (the appliance routed
//   it to its gateway or a neighbour): out the outside port untouched;
// - on the outside port: frames to the TAP's MAC, ARP asking for the appliance address and
//   neighbour solicitations for its IPv6 address: into the TAP untouched.
// Other TCP from the TAP is an adopted socket answering a client (the inspector steers it);
// anything else from the TAP is dropped (tap_unmatched).
bool BridgeWorker::steer_appliance(rte_mbuf* m) {
  const InterceptPath& x = setup_.intercept;
  const uint8_t* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = m->data_len;
  if (len < 14) return false;
  const uint16_t type = load_be16(d + 12);
  WorkerStats& s = inspector_.mutable_stats();
  if (m->port == x.tap_port) {
    if (type == kEtherIpv4 && len >= 14 + 20 + 8 && d[14 + 9] == kUdp &&
        std::memcmp(d + 14 + 16, x.source_ip.data(), 4) == 0) {
      const uint32_t l4 = 14 + uint32_t{d[14] & 0x0fu} * 4;
      if (len >= l4 + 8 && load_be16(d + l4 + 2) == x.port) {
        ++s.heartbeats_received;
        if (setup_.interceptor_seen_ns != nullptr)
          setup_.interceptor_seen_ns->store(clock_.last_ns(), std::memory_order_relaxed);
        rte_pktmbuf_free(m);
        return true;
      }
    }
    // The appliance's own: ARP, what comes from its addresses, and what it addressed to anyone
    // but the dataplane's end of the channel (the next hop of its client routes, where its
    // adopted sockets' answers go): its gateway or a server on the segment, e.g. a TPROXY
    // connection answering from the address its client asked for. Out, uninspected.
    if (type == kEtherArp ||
        (type == kEtherIpv4 && len >= 34 && std::memcmp(d + 26, x.appliance_ip.data(), 4) == 0) ||
        (x.ipv6 && type == kEtherIpv6 && len >= 54 &&
         std::memcmp(d + 14 + 8, x.appliance_ip6.data(), 16) == 0) ||
        std::memcmp(d, x.source_mac.data(), 6) != 0) {
      ++s.appliance_out;
      send(m, setup_.intercept_outside);
      return true;
    }
    // What is left may only be an adopted socket's TCP toward a client; anything else sent to
    // the dataplane's end has nowhere to go.
    const bool tcp = (type == kEtherIpv4 && len >= 34 && d[14 + 9] == kTcp) ||
                     (type == kEtherIpv6 && len >= 54 && d[14 + 6] == kTcp);
    if (!tcp) {
      ++s.tap_unmatched;
      rte_pktmbuf_free(m);
      return true;
    }
    return false;
  }
  if (m->port == setup_.intercept_outside) {
    const bool to_tap_mac = std::memcmp(d, x.tap_mac.data(), 6) == 0;
    const bool arp_for_us = type == kEtherArp && len >= 42 &&
                            std::memcmp(d + 38, x.appliance_ip.data(), 4) == 0;
    if (to_tap_mac || arp_for_us || (x.ipv6 && solicits_appliance_ip6(d, len))) {
      ++s.appliance_in;
      send(m, x.tap_port);
      return true;
    }
  }
  return false;
}

void BridgeWorker::process_local() {
  ByteSpan* const frames = frames_;
  uint64_t* const times = times_;
  FrameRef* const refs = refs_;
  PacketAction* const actions = actions_;
  for (uint16_t start = 0; start < local_count_; start += FlowInspector::kMaxBurst) {
    uint16_t n = std::min<uint16_t>(FlowInspector::kMaxBurst, local_count_ - start);
    const uint64_t now = clock_.now_ns();
    if (setup_.intercept.enabled) {
      // The appliance's own frames leave the burst here; the rest close up in order.
      uint16_t kept = 0;
      for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = local_[start + i];
        if (!steer_appliance(m)) local_[start + kept++] = m;
      }
      n = kept;
    }
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = local_[start + i];
      frames[i] = mbuf_frame(m, linear_.data() + size_t{i} * kLinearBytes, kLinearBytes);
      rte_prefetch0(frames[i].data());  // the headers the inspector parses first
      times[i] = now;
      refs[i] = FrameRef{m, m->port, mbuf_l4_checksum(m)};
    }
    inspector_.on_burst(frames, times, n, actions, refs);
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = local_[start + i];
      switch (actions[i]) {
        case PacketAction::kForward:
          if (monitor_) {
            rte_pktmbuf_free(m);  // a mirror's copy goes nowhere
          } else {
            send(m, out_port(m->port));
          }
          break;
        case PacketAction::kDrop:
          rte_pktmbuf_free(m);
          break;
        case PacketAction::kHeld:
          break;  // the inspector has it; it comes back through release() or discard()
      }
    }
  }
  local_count_ = 0;
}

uint32_t BridgeWorker::poll_once() {
  uint32_t received = 0;
  rte_mbuf* burst[FlowInspector::kMaxBurst];
  const uint16_t want = std::min<uint16_t>(setup_.burst, FlowInspector::kMaxBurst);
  for (const RxQueueRef& q : setup_.rx) {
    const uint16_t n = rte_eth_rx_burst(q.port_id, q.queue_id, burst, want);
    received += n;
    // Every mbuf's first line is written below (port) and read next (where its data starts):
    // asking for all of them first lets their loads overlap instead of queueing one by one.
    for (uint16_t i = 0; i < n; ++i) rte_prefetch0(burst[i]);
    const bool dispatch = setup_.workers > 1 && q.port_id < setup_.software_dispatch.size() &&
                          setup_.software_dispatch[q.port_id];
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = burst[i];
      m->port = q.port_id;  // not every driver sets it (net_ring does not); where it goes depends on it
      uint16_t owner = setup_.id;
      if (dispatch) {
        const ByteSpan head(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
        owner = dispatch_worker_for_frame(head, setup_.workers, setup_.id);
      }
      if (owner == setup_.id) {
        if (local_count_ == kLocalMax) process_local();
        local_[local_count_++] = m;
      } else if (rte_ring_sp_enqueue(setup_.dispatch_out[owner], m) == 0) {
        ++inspector_.mutable_stats().dispatched;
      } else {
        ++inspector_.mutable_stats().dispatch_dropped;
        rte_pktmbuf_free(m);
      }
    }
  }
  for (uint16_t w = 0; w < setup_.workers; ++w) {
    rte_ring* in = w < setup_.dispatch_in.size() ? setup_.dispatch_in[w] : nullptr;
    if (in == nullptr) continue;
    if (local_count_ + want > kLocalMax) process_local();
    const unsigned n = rte_ring_sc_dequeue_burst(in, reinterpret_cast<void**>(local_ + local_count_),
                                                 want, nullptr);
    local_count_ += static_cast<uint16_t>(n);
    received += n;
  }
  process_local();
  flush_all_tx();
  // Timers every kExpireIntervalNs, not every iteration (timeouts are seconds); at once again
  // while a call had more due than its batch.
  const uint64_t now = clock_.now_ns();
  if (now >= next_expire_ns_) {
    const uint32_t handled = inspector_.expire(now);
    next_expire_ns_ = handled < FlowInspector::kExpireBatch ? now + kExpireIntervalNs : now;
    flush_all_tx();  // what expiry released (first flights past their time cap)
  }
  return received;
}

void BridgeWorker::publish_stats(bool force) {
  const uint64_t now = clock_.last_ns();
  if (!force && now < next_stats_ns_) return;
  next_stats_ns_ = now + kStatsIntervalNs;
  WorkerGauges g;
  g.held_frames = inspector_.held_frames();
  g.active_flows = inspector_.active_flows();
  g.idle_sleeps = idle_sleeps_;
  mailbox_.publish(inspector_.stats(), g);
}

// Test boxes map several lcores onto one CPU: a worker with nothing to do sleeps, doubling up to
// max_sleep, and is offline for RCU meanwhile so a policy swap does not wait for it.
void BridgeWorker::idle(uint32_t& empty_polls) {
  if (!setup_.idle.enabled || ++empty_polls < setup_.idle.empty_polls) return;
  sleep_ns_ = sleep_ns_ == 0 ? 1000 : std::min(sleep_ns_ * 2, setup_.idle.max_sleep_ns);
  policy_.offline(setup_.id);
  timespec ts{static_cast<time_t>(sleep_ns_ / 1'000'000'000ULL),
              static_cast<long>(sleep_ns_ % 1'000'000'000ULL)};
  nanosleep(&ts, nullptr);
  policy_.online(setup_.id);
  ++idle_sleeps_;
}

void BridgeWorker::run(const std::atomic<bool>& stop) {
  policy_.online(setup_.id);
  uint32_t empty_polls = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    FlowJudge* judge = policy_.judge_for(setup_.id);
    if (judge != judge_) {
      judge_ = judge;
      inspector_.set_judge(judge);
    }
    if (setup_.interceptor_seen_ns != nullptr) {
      const uint64_t seen = setup_.interceptor_seen_ns->load(std::memory_order_relaxed);
      // Another worker's clock may be a little ahead: compare without subtracting.
      inspector_.set_interceptor_ready(seen != 0 &&
                                       seen + setup_.interceptor_liveness_ns > clock_.last_ns());
    }
    if (poll_once() > 0) {
      empty_polls = 0;
      sleep_ns_ = 0;
    } else {
      idle(empty_polls);
    }
    publish_stats(false);
    policy_.quiescent(setup_.id);
  }
  shut_down();
  policy_.offline(setup_.id);
}

// Receiving has stopped. Every flow is closed (held first flights judged as incomplete and
// carried out by policy), no faster than the management side drains the audit ring, so no
// close record is lost on the way out.
void BridgeWorker::shut_down() {
  constexpr uint32_t kBatch = 64;
  for (;;) {
    FlowJudge* judge = policy_.judge_for(setup_.id);
    if (judge != judge_) {
      judge_ = judge;
      inspector_.set_judge(judge);
    }
    if (audit_.free_count() < 2 * kBatch + 2) {
      policy_.quiescent(setup_.id);
      rte_pause();
      continue;
    }
    const uint32_t left = inspector_.close_some(clock_.now_ns(), kBatch);
    flush_all_tx();
    policy_.quiescent(setup_.id);
    if (left == 0) break;
  }
  publish_stats(true);
}

}  // namespace sluice
