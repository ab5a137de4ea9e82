// The per-worker first-flight stage, without DPDK: frames in, audit events out. The DPDK worker
// loop (dataplane/dpdk/worker.*) feeds it frames from its RX burst; tests and fuzzers feed it
// byte spans directly. One instance per worker, never shared.
//
// Per frame: parse L2-L4 (IP fragments reassembled), find or create the flow, track the TCP
// handshake (ISNs, window scale, the server's window), reassemble the client's first flight by
// sequence number from segments the server would accept, and judge it as soon as it is complete:
// TLS ClientHello, plain HTTP, other bytes, server-speaks-first, nothing. UDP flows whose client
// speaks QUIC get the same treatment from their Initial packets: decrypted, CRYPTO data
// reassembled, the ClientHello judged. Every flow gets a verdict event and a close event.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "dataplane/core/audit_event.h"
#include "dataplane/core/enforcement.h"
#include "dataplane/core/first_flight_pool.h"
#include "dataplane/core/flow_judge.h"
#include "dataplane/core/flow_table.h"
#include "dataplane/core/handoff_frames.h"
#include "dataplane/core/ip_reassembly.h"
#include "dataplane/core/ja4_cache.h"
#include "dataplane/core/packet.h"
#include "dataplane/core/quic_initial_reader.h"
#include "dataplane/core/stats.h"

namespace sluice {

// Which L4 checksums are trusted. `auto` accepts the pseudo-header-only value that a capture
// taken on the sending host shows when TX checksum offload is on (like Suricata's
// checksum-validation: auto), and is meant for replay; `on` is for the wire, where a server
// would drop such a packet.
enum class ChecksumMode : uint8_t { kOn, kAuto, kOff };

struct InspectorConfig {
  uint16_t worker_id = 0;
  uint32_t flow_capacity = 65536;
  uint64_t flow_hash_seed = 0;  // 0: a random seed per inspector
  uint32_t first_flight_buffers = 4096;
  uint32_t first_flight_byte_cap = 16384;
  uint64_t first_flight_time_cap_ns = 5'000'000'000ULL;
  FlowTimeouts timeouts;
  ChecksumMode checksum_mode = ChecksumMode::kOn;
  IpReassemblyConfig ip_reassembly;
  // How verdicts are carried out (dataplane/core/enforcement.h); replay only audits.
  EnforcementMode enforcement = EnforcementMode::kAuditOnly;
  BlockResponse block_response = BlockResponse::kReset;
  uint32_t held_frames = 16384;       // inline: frames held across all first flights
  uint16_t max_held_per_flow = 128;   // inline: a first flight in more segments than this
                                      // has the rest dropped unread (the client resends them,
                                      // and the time cap judges it incomplete if it never fits)
  // Inline: where intercept verdicts go (disabled: they were already turned into the fallback
  // by the judge). docs/design.md, "Interception handoff".
  InterceptPath intercept;
};

// What the bridge should do with the frame it just handed in.
enum class PacketAction : uint8_t {
  kForward,  // send on unchanged
  kDrop,     // malformed beyond forwarding, a decoy, or a packet of a blocked flow
  kHeld,     // inline: the inspector keeps the frame; it comes back through EnforcementSink
};

class FlowInspector {
 public:
  FlowInspector(const InspectorConfig& config, AuditSink& sink);

  PacketAction on_frame(ByteSpan frame, uint64_t now_ns, const FrameRef* ref = nullptr);

  // The same for a burst of frames (what a worker gets from one RX call), with the flow-table
  // memory each needs prefetched ahead. actions[i] is the action for frames[i].
  static constexpr uint16_t kMaxBurst = 64;
  // `refs` (inline and monitor modes) says where each frame came from and how to find it again;
  // without it no frame is held.
  void on_burst(const ByteSpan* frames, const uint64_t* now_ns, uint16_t n, PacketAction* actions,
                const FrameRef* refs = nullptr);

  // Where held frames, and frames the inspector builds, go (inline and monitor modes). Not
  // owned; must outlive its use here.
  void set_enforcement_sink(EnforcementSink* sink) { enforcement_ = sink; }

  // Timers: first-flight time cap, idle timeouts, fragment timeouts. Call every loop iteration
  // or so; it handles at most `max_flows` flows (so one call never floods the audit ring after
  // a quiet spell) and returns how many it handled.
  static constexpr uint32_t kExpireBatch = 128;
  uint32_t expire(uint64_t now_ns, uint32_t max_flows = kExpireBatch);

  // Ends up to `max_flows` flows (judging any first flight still open as incomplete), e.g. at
  // the end of a capture or on shutdown; returns how many remain. Bounded so the caller can
  // drain the audit ring in between.
  uint32_t close_some(uint64_t now_ns, uint32_t max_flows);

  // The policy that judges each first flight; nullptr (the default): every flow passes and its
  // record names rule `no_policy`. Not owned; must outlive its use here.
  void set_judge(FlowJudge* judge) { judge_ = judge; }

  // Whether the interceptor has sent a heartbeat recently (the worker loop says so each
  // iteration). While it has not, intercept verdicts are carried out as intercept.fallback.
  void set_interceptor_ready(bool ready) { interceptor_ready_ = ready; }

  const WorkerStats& stats() const { return stats_; }
  uint32_t active_flows() const { return flows_.size(); }
  uint32_t held_first_flights() const { return buffers_.in_use(); }
  uint32_t held_frames() const { return held_.in_use(); }
  // The worker loop counts its own events (TX, dispatch) here too: one set of counters.
  WorkerStats& mutable_stats() { return stats_; }

  // Monitor mode: resets aimed with each of a blocked flow's next packets, then
  static constexpr uint8_t kMonitorResetRepeats = 8;
  // one every this many packets while the flow still moves: a mirror's reader can lag the wire
  // by more than the repeats cover (a busy box, a burst), and resets aimed at stale packets fall
  // outside the ends' windows; sparse resets for the flow's life catch it once it catches up.
  static constexpr uint64_t kMonitorLateResetEvery = 64;

 private:
  // A frame parsed and keyed, ready to meet its flow.
  struct Packet {
    ParsedPacket p;
    FlowKey key;
    uint64_t hash = 0;
    uint32_t frame_size = 0;
    bool src_is_lo = true;
    bool reassembled = false;
    ByteSpan frame;
    FrameRef ref;
  };
  // Parses and keys a frame; false when it ends there (not IP, malformed, a fragment that does
  // not complete a datagram), with `action` set.
  bool prepare(ByteSpan frame, uint64_t now_ns, Packet& pk, PacketAction& action);
  // on_burst(): loads ahead the bytes and policy lines that judging its ClientHellos will need.
  // Marks in `hello` the segments that start one; true when there was one and its name was
  // asked for too.
  bool prefetch_hellos(const Packet* packets, const bool* ready, uint16_t n, bool* hello);
  PacketAction process(Packet& pk, uint64_t now_ns);
  bool checksum_trusted(const ParsedPacket& p) const;
  static bool still_watching(const Flow& f, const ParsedPacket& p);
  void check_checksum(Packet& pk);
  bool starts_new_connection(const Flow& f, const ParsedPacket& p, bool src_is_lo) const;
  bool starts_new_quic_connection(const Flow& f, const ParsedPacket& p, bool src_is_lo);
  bool is_other_connections_initial(const Flow& f, const QuicPacketView& v);
  uint32_t find_or_create(const ParsedPacket& p, const FlowKey& key, uint64_t hash,
                          bool src_is_lo, uint64_t now_ns);
  void on_tcp(uint32_t index, const ParsedPacket& p, bool from_client, uint64_t now_ns);
  void on_udp(uint32_t index, const ParsedPacket& p, bool from_client, uint64_t now_ns);
  void on_client_datagram(Flow& f, const ParsedPacket& p, uint64_t now_ns);
  void try_judge_quic(Flow& f, uint64_t now_ns);
  void check_quic_after_verdict(Flow& f, const ParsedPacket& p);
  // Inline: the packet being processed goes nowhere (decoys_dropped): it is a segment the server
  // would not accept, or one that contradicts what was judged.
  void drop_current_as_decoy() {
    ++stats_.decoys_dropped;
    current_action_ = PacketAction::kDrop;
  }
  // `data_withheld`: the SYN's data did not go to the server (see forward_syn_without_data).
  void on_client_syn(Flow& f, const ParsedPacket& p, bool data_withheld, uint64_t now_ns);
  void forward_syn_without_data(const Flow& f, const ParsedPacket& p);
  void on_server_synack(Flow& f, const ParsedPacket& p, uint64_t now_ns);
  void on_client_segment(Flow& f, const ParsedPacket& p, uint64_t now_ns);
  void on_server_segment(Flow& f, const ParsedPacket& p, uint64_t now_ns);
  void on_server_ack(Flow& f, uint32_t ack);
  void on_client_data(Flow& f, uint32_t seq, ByteSpan payload, const ParsedPacket& p,
                      uint64_t now_ns);
  void try_judge(Flow& f, uint64_t now_ns);
  void check_after_verdict(Flow& f, uint32_t seq, ByteSpan payload);
  void judge(Flow& f, FirstFlightKind kind, const ClientHelloInfo* hello, uint64_t now_ns,
             std::string_view http_host = {});
  void touch(uint32_t index, uint64_t now_ns);
  void judge_unfinished(Flow& f, uint64_t now_ns);
  void close_flow(uint32_t index, CloseReason reason, uint64_t now_ns);
  void release_buffer(Flow& f);
  void fill_event_header(const Flow& f, AuditKind kind, uint64_t now_ns);
  void publish();
  bool hold_current(Flow& f);
  void carry_out(Flow& f);
  void send_block_response(const Flow& f);
  // Intercept verdict with interception configured: hands the flow over, or applies the fallback.
  void carry_out_intercept(Flow& f);
  HandoffOutcome send_handoff(Flow& f);
  // Packets of handed-off flows, and packets out of the TAP.
  PacketAction steer_handed_off(uint32_t index, const Packet& pk, bool from_client,
                                uint64_t now_ns);
  PacketAction from_tap(const Packet& pk, uint64_t now_ns);
  void inject(const Flow& f, bool toward_client, const TcpReply& reply);
  void reset_from_packet(Flow& f, const ParsedPacket& p, bool from_client);
  TimeoutClass class_of(const Flow& f) const;

  InspectorConfig config_;
  AuditSink& sink_;
  WorkerStats stats_;
  FlowTable flows_;
  FirstFlightPool buffers_;
  IpReassembler fragments_;
  ParseOptions parse_options_;
  uint64_t next_flow_seq_ = 1;
  FlowJudge* judge_ = nullptr;
  EnforcementSink* enforcement_ = nullptr;
  HeldFrames held_;
  // The frame being processed and what becomes of it (on_tcp and judge() may change it).
  FrameRef current_ref_;
  ByteSpan current_frame_;
  bool current_has_ref_ = false;
  PacketAction current_action_ = PacketAction::kForward;

  // on_burst()'s parsed packets, reused for every burst.
  Packet burst_packets_[kMaxBurst];
  bool burst_ready_[kMaxBurst] = {};
  bool burst_hello_[kMaxBurst] = {};
  uint16_t burst_later_[kMaxBurst] = {};  // packets processed at the end of their chunk

  // Decrypts QUIC Initials: OpenSSL contexts and a datagram buffer made once, reused.
  QuicInitialReader quic_;
  bool interceptor_ready_ = false;
  uint16_t handoff_ip_id_ = 0;
  std::vector<uint8_t> handoff_scratch_;  // one encoded handoff message

  // Scratch reused for every judgement: no allocation per flow.
  std::vector<uint8_t> hello_scratch_;
  // Keys the DCID tags (Flow::quic_dcid_tag): a client must not be able to choose a decoy's
  // connection ID so that its tag equals the real one's.
  const uint64_t dcid_seed_;
  ClientHelloInfo hello_;
  AuditEvent event_;
  // JA4 digests of the cipher and extension lists this worker has seen (ja4_cache.h).
  std::unique_ptr<Ja4Cache> ja4_cache_ = std::make_unique<Ja4Cache>();
};

}  // namespace sluice
