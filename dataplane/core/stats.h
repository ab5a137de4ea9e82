// Every counter a worker keeps, declared once. A worker owns one WorkerStats and is the only
// writer; readers (the management side, the replay summary) sum snapshots across workers.
// Malformed input is counted under a named reason and survived.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "dataplane/core/anomaly.h"

namespace sluice {

#define SLUICE_MALFORMED_REASONS(X)                   \
  X(kEthernetTruncated, "ethernet_truncated")         \
  X(kVlanTruncated, "vlan_truncated")                 \
  X(kVlanTooDeep, "vlan_too_deep")                    \
  X(kIpv4Truncated, "ipv4_truncated")                 \
  X(kIpv4BadVersion, "ipv4_bad_version")              \
  X(kIpv4BadHeaderLength, "ipv4_bad_header_length")   \
  X(kIpv4BadTotalLength, "ipv4_bad_total_length")     \
  X(kIpv4BadChecksum, "ipv4_bad_checksum")            \
  X(kIpv4BadOptions, "ipv4_bad_options")              \
  X(kIpv6Truncated, "ipv6_truncated")                 \
  X(kIpv6BadVersion, "ipv6_bad_version")              \
  X(kIpv6BadPayloadLength, "ipv6_bad_payload_length") \
  X(kIpv6BadExtensionHeader, "ipv6_bad_extension_header") \
  X(kIpv6TooManyExtensionHeaders, "ipv6_too_many_extension_headers") \
  X(kFragmentBad, "fragment_bad")                     \
  X(kFragmentOverlap, "fragment_overlap")             \
  X(kFragmentTooLarge, "fragment_too_large")          \
  X(kFragmentTableFull, "fragment_table_full")        \
  X(kFragmentTimeout, "fragment_timeout")             \
  X(kTcpTruncated, "tcp_truncated")                   \
  X(kTcpBadDataOffset, "tcp_bad_data_offset")         \
  X(kTcpBadOptions, "tcp_bad_options")                \
  X(kTcpBadChecksum, "tcp_bad_checksum")              \
  X(kTcpBadFlags, "tcp_bad_flags")                    \
  X(kUdpTruncated, "udp_truncated")                   \
  X(kUdpBadLength, "udp_bad_length")                  \
  X(kUdpBadChecksum, "udp_bad_checksum")

enum class Malformed : uint8_t {
#define SLUICE_MALFORMED_ENUM(name, str) name,
  SLUICE_MALFORMED_REASONS(SLUICE_MALFORMED_ENUM)
#undef SLUICE_MALFORMED_ENUM
      kCount
};
std::string_view malformed_name(Malformed m);

// Plain event counters of one worker.
#define SLUICE_WORKER_COUNTERS(X)                                                      \
  X(rx_packets, "packets received")                                                    \
  X(rx_bytes, "bytes received")                                                        \
  X(non_ip, "frames that are not IPv4/IPv6 (ARP, LLDP, ...)")                           \
  X(non_tcp_udp, "IP packets that are neither TCP nor UDP")                            \
  X(malformed, "packets dropped as malformed (see malformed_by_reason)")               \
  X(ip_fragments, "IP fragments received")                                             \
  X(ip_reassembled, "IP datagrams reassembled from fragments")                         \
  X(checksum_offload_seen, "packets whose L4 checksum looked like unfinished offload") \
  X(l4_checksums_by_nic, "L4 checksums taken from the NIC (RX checksum offload)")     \
  X(flows_created, "flows created")                                                    \
  X(flows_closed, "flows closed (FIN/RST)")                                            \
  X(flows_expired, "flows expired by idle timeout")                                    \
  X(flows_evicted, "flows evicted because the flow table was full")                    \
  X(flow_table_full, "packets of new flows refused because no flow could be evicted")  \
  X(first_flight_buffers_exhausted, "first flights not held: buffer pool empty")       \
  X(first_flights_judged, "first flights judged")                                      \
  X(intercept_fallbacks, "intercept verdicts carried out as the intercept_fallback")    \
  X(audit_events, "audit events produced")                                             \
  X(audit_dropped, "audit events lost because the audit ring was full")                \
  X(flows_blocked, "flows whose verdict was block")                                    \
  X(frames_held, "inline: client frames held while their first flight was judged")      \
  X(frames_released, "inline: held frames sent on after a pass verdict")                \
  X(frames_discarded, "inline: held frames dropped by a block verdict")                 \
  X(hold_exhausted, "inline: first-flight frames dropped because the hold pool was empty") \
  X(hold_flow_cap, "inline: first-flight frames dropped past the per-flow hold cap")    \
  X(decoys_dropped, "inline: first-flight segments the server would not accept, or that contradict judged bytes, dropped") \
  X(syn_data_stripped, "inline: client SYNs sent on without their data (TFO), resent after the handshake") \
  X(syn_data_dropped, "inline: client SYNs with data dropped whole (headers too long to copy)") \
  X(blocked_packets, "inline: later packets of blocked flows, dropped")                 \
  X(resets_sent, "TCP resets (and TLS alerts) sent to carry out a block")              \
  X(resets_unsent, "blocks whose reset could not be built (no client frame or SYN-ACK seen)") \
  X(quic_initials_decrypted, "QUIC client Initial packets decrypted")                  \
  X(quic_initials_undecryptable, "QUIC client Initial packets that failed to open or parse") \
  X(quic_new_connections_on_flow, "QUIC client Initials of another connection on a flow's addresses and ports (new DCID, own keys): judged as a new flow") \
  X(quic_initials_small_datagram, "QUIC client Initials in datagrams under 1200 bytes, not read (servers drop them)") \
  X(quic_other_packets, "QUIC packets other than Initials in client first flights, skipped") \
  X(handoffs_sent, "intercept: connections handed to the interceptor (datagram into the TAP)") \
  X(handoff_fragments, "intercept: handoff datagram fragments written into the TAP")   \
  X(handoff_server_resets, "intercept: resets sent to the server leg of a handed-off flow") \
  X(handoff_interceptor_absent, "intercept: verdicts carried out as intercept_fallback, no interceptor heartbeat") \
  X(handoff_not_adoptable, "intercept: verdicts carried out as intercept_fallback, flow cannot be adopted") \
  X(handoff_send_failed, "intercept: verdicts carried out as intercept_fallback, datagram not built or sent") \
  X(handoff_to_interceptor, "intercept: client packets of handed-off flows sent into the TAP") \
  X(handoff_to_client, "intercept: packets from the TAP sent to the client of their flow") \
  X(handoff_server_dropped, "intercept: server packets of handed-off flows dropped")      \
  X(tap_unmatched, "intercept: packets from the TAP that belong to no handed-off flow, dropped") \
  X(appliance_out, "intercept: the appliance's own packets, TAP to outside, not inspected") \
  X(appliance_in, "intercept: packets for the appliance, outside to TAP, not inspected") \
  X(heartbeats_received, "intercept: interceptor heartbeats received from the TAP")      \
  X(tx_packets, "packets transmitted")                                                 \
  X(tx_dropped, "packets dropped because a TX queue was full")                         \
  X(dispatched, "packets handed to the worker that owns their flow")                   \
  X(dispatch_dropped, "packets dropped because another worker's dispatch ring was full")

struct WorkerStats {
#define SLUICE_COUNTER_FIELD(name, help) uint64_t name = 0;
  SLUICE_WORKER_COUNTERS(SLUICE_COUNTER_FIELD)
#undef SLUICE_COUNTER_FIELD
  std::array<uint64_t, static_cast<size_t>(Malformed::kCount)> malformed_by_reason{};
  // Flows judged, by verdict carried out (index: Verdict), and flows closed, by each anomaly they
  // carried (index: Anomaly).
  std::array<uint64_t, 3> flows_by_verdict{};
  std::array<uint64_t, static_cast<size_t>(Anomaly::kCount)> flows_by_anomaly{};

  void count_malformed(Malformed reason) {
    ++malformed;
    ++malformed_by_reason[static_cast<size_t>(reason)];
  }
  void add(const WorkerStats& other);

  // Calls fn(name, help, value) for every plain counter.
  template <typename Fn>
  void for_each_counter(Fn&& fn) const {
#define SLUICE_COUNTER_VISIT(name, help) fn(#name, help, name);
    SLUICE_WORKER_COUNTERS(SLUICE_COUNTER_VISIT)
#undef SLUICE_COUNTER_VISIT
  }
};

}  // namespace sluice
