// One flow's state in a worker's flow table. Kept small: what the first-flight stage needs
// while it is undecided, the verdict once decided, and per-direction totals. The parsed hello
// itself leaves with the verdict event and is not kept.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/audit_event.h"
#include "dataplane/core/first_flight.h"
#include "dataplane/core/flow_key.h"
#include "dataplane/core/held_frames.h"
#include "dataplane/core/tcp_reply.h"

namespace sluice {

// Flows are grouped by the idle timeout that applies to them; each group is an LRU list, so
// the oldest flow of a group is always at its head and expiry costs O(expired).
enum class TimeoutClass : uint8_t {
  kHandshake,    // TCP SYN seen, no data yet
  kFirstFlight,  // holding or waiting for the first flight
  kEstablished,  // judged, data flowing
  kClosing,      // FIN or RST seen
  kUdp,
  kCount
};

inline constexpr uint32_t kNoFlow = UINT32_MAX;
inline constexpr uint32_t kNoSlot = UINT32_MAX;

// The first two cache lines hold everything a packet of an already-judged flow touches (the
// table lookup and the fast path in FlowInspector::on_frame); the handshake and first-flight
// state behind them is read only while the first flight is watched.
struct alignas(64) Flow {
  // --- hot: every packet ---
  FlowKey key;
  uint32_t hash_next = kNoFlow;  // flow-table chain (indices, not pointers: one array)
  // FirstFlightPool slot while the first flight is held, and after the verdict until the server
  // has acknowledged the judged bytes.
  uint32_t buffer_slot = kNoSlot;
  uint64_t last_ns = 0;  // the flow's latest packet
  uint64_t packets_to_server = 0;
  uint64_t packets_to_client = 0;
  uint64_t bytes_to_server = 0;
  uint64_t bytes_to_client = 0;
  bool client_is_lo = true;  // which key endpoint is the client
  bool judged = false;
  bool client_fin = false;
  bool server_fin = false;
  TimeoutClass timeout_class = TimeoutClass::kHandshake;
  bool in_use = false;
  bool drop_all = false;  // inline: blocked, every later packet of the flow is dropped
  bool handed_off = false;  // inline: the interceptor owns the connection (steered via the TAP)
  uint8_t resets_left = 0;  // monitor: blocked, the next packets each trigger resets
  bool monitor_blocked = false;  // monitor: blocked, every kMonitorLateResetEvery-th packet resets

  // --- the rest of the table's bookkeeping ---
  uint32_t lru_prev = kNoFlow;
  uint32_t lru_next = kNoFlow;
  uint64_t lru_ns = 0;  // when it was put at the tail of its timeout list
  uint64_t id = 0;
  uint64_t first_ns = 0;
  uint64_t first_payload_ns = 0;  // when the client's first payload byte arrived

  // --- the handshake and the first flight ---
  bool saw_client_syn = false;
  bool saw_server_synack = false;
  bool client_tfo = false;
  bool client_isn_known = false;  // from the SYN, or from the SYN-ACK's ack when the SYN was missed
  bool server_sent_data = false;
  int8_t client_wscale = -1;
  int8_t server_wscale = -1;
  uint8_t tiny_segments = 0;

  uint32_t client_isn = 0;
  uint32_t server_isn = 0;
  uint32_t server_ack = 0;       // highest ack the server sent: left edge of its window
  uint32_t server_window = 0;    // scaled window the server last advertised
  bool server_ack_valid = false; // server_ack and server_window are known
  uint32_t client_ack = 0;       // the same, for the client's receive window
  uint32_t client_window = 0;
  bool client_ack_valid = false;
  uint32_t server_snd_max = 0;   // one past the highest sequence number the server has sent
  uint32_t client_snd_max = 0;   // the same for the client, of the segments accepted from it
  uint32_t client_fin_seq = 0;   // sequence number of the client's FIN (valid if client_fin)

  // What the handshake established, so later segments can be held to it.
  uint8_t client_ttl = 0;        // highest TTL/hop limit of the client's SYNs, or of the QUIC
                                 // datagrams its verdict read (0: unknown)
  uint8_t server_ttl = 0;        // TTL/hop limit of the server's SYN-ACK (0: unknown)
  bool client_signature = false; // the SYN carried MD5/TCP-AO (then later segments may too)
  bool timestamps = false;       // both SYNs carried timestamps (PAWS applies)
  uint32_t client_ts_recent = 0; // newest client TSval accepted
  uint16_t tfo_syn_bytes = 0;    // data on a TFO SYN, trusted once the SYN-ACK acknowledges it
  uint32_t judged_length = 0;    // first-flight bytes that were judged
  uint32_t quic_version = 0;     // UDP: version of the client's first QUIC Initial (0: none)
  uint64_t quic_dcid_tag = 0;    // UDP: a keyed hash of that Initial's DCID (0: none), see on_udp
  // What adoption by the interceptor needs beyond the above (handoff_message.h).
  uint16_t client_mss = 0;       // the client SYN's MSS option (0: none)
  bool sack_permitted = false;   // the client's SYN had it; after the SYN-ACK: both had it
  uint32_t server_ts_recent = 0; // newest server TSval seen

  // Inline enforcement: the client frames held until the verdict, and what a reset needs.
  HeldFrames::Chain held;
  uint16_t client_port = 0;  // the port the client's frames arrive on
  L2Header client_l2;        // Ethernet/VLAN header of a client frame
  // Monitor, blocked: the ack of the latest packet from each end (index: from the client) that
  // aimed resets. An end acknowledging something new is where its peer's reset must land now.
  uint32_t monitor_reset_ack[2] = {0, 0};

  FirstFlightKind first_flight = FirstFlightKind::kNone;
  Verdict verdict = Verdict::kPass;
  HandoffOutcome handoff = HandoffOutcome::kNone;
  bool audit = true;  // the deciding rule's audit flag
  AnomalySet anomalies;

  const Endpoint& client() const { return client_is_lo ? key.lo : key.hi; }
  const Endpoint& server() const { return client_is_lo ? key.hi : key.lo; }
};
static_assert(offsetof(Flow, drop_all) < 128, "the fast path's fields fit two cache lines");

}  // namespace sluice
