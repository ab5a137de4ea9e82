#include "dataplane/core/flow_inspector.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>

#include "dataplane/core/quic_packet.h"
#include "dataplane/core/segment_trust.h"
#include "dataplane/core/sni_peek.h"
#include "interceptor/handoff/handoff_message.h"

namespace sluice {
namespace {

constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint32_t kTinySegment = 8;   // bytes: below this a first-flight segment is "tiny"
constexpr uint8_t kTinySegmentsAnomaly = 2;

// When no SYN was seen, the server is the side on the lower port (well-known ports are low).
bool src_is_client_midstream(const ParsedPacket& p) { return p.src_port > p.dst_port; }

// Where the next TLS record ends, walking complete records of the contiguous stream: parsing
// again before that point cannot succeed, which keeps a hello cut into 1-byte segments linear.
uint32_t next_record_end(ByteSpan stream) {
  size_t pos = 0;
  while (pos + 5 <= stream.size()) {
    const size_t end = pos + 5 + load_be16(stream.data() + pos + 3);
    if (end > stream.size()) return static_cast<uint32_t>(end);
    pos = end;
  }
  return static_cast<uint32_t>(std::max(pos + 5, stream.size() + 1));
}

uint64_t random_seed() { return std::random_device{}() | (uint64_t{std::random_device{}()} << 32); }

// A 64-bit hash of a QUIC DCID (at most 20 bytes) keyed by `seed`, never 0 (0 means none).
uint64_t quic_dcid_tag(ByteSpan dcid, uint64_t seed) {
  uint64_t w[3] = {0, 0, 0};
  std::memcpy(w, dcid.data(), std::min(dcid.size(), sizeof w - 1));
  reinterpret_cast<uint8_t*>(w)[sizeof w - 1] = static_cast<uint8_t>(dcid.size());
  const uint64_t h = mum(w[0] ^ (seed + 0xa0761d6478bd642fULL), w[1] ^ (seed ^ 0xe7037ed1a0b428dbULL)) ^
                     mum(w[2] ^ (seed + 0x8ebc6af09c88c6e3ULL), (seed ^ 0x9e3779b97f4a7c15ULL) | 1);
  return mum(h ^ 0xff51afd7ed558ccdULL, (seed + 0xc4ceb9fe1a85ec53ULL) | 1) | 1;
}

// CRLF CRLF, or bare LF LF as servers also accept.
bool contains_head_end(ByteSpan bytes) {
  const std::string_view s = as_string_view(bytes);
  return s.find("\r\n\r\n") != std::string_view::npos || s.find("\n\n") != std::string_view::npos;
}

template <size_t N>
void copy_name(std::array<char, N>& dst, std::string_view src) {
  const size_t n = std::min(src.size(), N - 1);
  if (n > 0) std::memcpy(dst.data(), src.data(), n);  // an empty view may hold nullptr
  dst[n] = '\0';
}

}  // namespace

FlowInspector::FlowInspector(const InspectorConfig& config, AuditSink& sink)
    : config_(config),
      sink_(sink),
      flows_(config.flow_capacity, config.flow_hash_seed != 0 ? config.flow_hash_seed : random_seed()),
      buffers_(config.first_flight_buffers, config.first_flight_byte_cap),
      fragments_(config.ip_reassembly),
      held_(config.enforcement == EnforcementMode::kInline ? config.held_frames : 0),
      handoff_scratch_(config.intercept.enabled
                           ? handoff::kHandoffHeaderBytes + config.first_flight_byte_cap
                           : 0),
      hello_scratch_(config.first_flight_byte_cap),
      dcid_seed_(random_seed()) {
  parse_options_.verify_checksums = config.checksum_mode != ChecksumMode::kOff;
  parse_options_.verify_l4_checksums = false;  // checked below, only where it matters
}

// Whether this packet can still change what we know about its flow's first flight. Once a flow
// is judged and the judged bytes are acknowledged, only SYN, FIN and RST matter; everything
// else is counted and forwarded without checksum or sequence work (the bulk of a busy link).
bool FlowInspector::still_watching(const Flow& f, const ParsedPacket& p) {
  if (tracking_sequence_space(f)) return true;
  // A QUIC long header may be the judged connection's, or the first Initial of another one on
  // the same addresses and ports (starts_new_quic_connection); short headers never are.
  if (p.l4_protocol == kUdp)
    return looks_like_quic_long_header(p.payload) &&
           quic_version_info(load_be32(p.payload.data() + 1)) != nullptr;
  return p.l4_protocol == kTcp && (p.tcp_flags & (kTcpSyn | kTcpFin | kTcpRst));
}

void FlowInspector::check_checksum(Packet& pk) {
  ParsedPacket& p = pk.p;
  if (config_.checksum_mode == ChecksumMode::kOff || p.l4_checksum != ChecksumState::kUnchecked)
    return;
  // The NIC's word covers the frame it received; a datagram rebuilt from fragments is summed
  // here. So is UDP with a zero checksum: many NICs call it good ("none to check"), but over
  // IPv6 the receiver drops it (RFC 8200 8.1), and a decoy must not be judged on the NIC's word.
  const bool udp_zero =
      p.l4_protocol == kUdp && p.l4.size() >= 8 && load_be16(p.l4.data() + 6) == 0;
  if (pk.ref.l4_checksum == NicChecksum::kGood && !pk.reassembled && !udp_zero) {
    ++stats_.l4_checksums_by_nic;
    p.l4_checksum = ChecksumState::kValid;
    return;
  }
  p.l4_checksum = check_l4_checksum(p);
  if (p.l4_checksum == ChecksumState::kOffloadPartial) ++stats_.checksum_offload_seen;
}

bool FlowInspector::checksum_trusted(const ParsedPacket& p) const {
  switch (p.l4_checksum) {
    case ChecksumState::kUnchecked:
    case ChecksumState::kValid:
      return true;
    case ChecksumState::kOffloadPartial:
      return config_.checksum_mode == ChecksumMode::kAuto;
    case ChecksumState::kInvalid:
      return false;
  }
  return false;
}

PacketAction FlowInspector::on_frame(ByteSpan frame, uint64_t now_ns, const FrameRef* ref) {
  Packet pk;
  PacketAction action;
  if (!prepare(frame, now_ns, pk, action)) return action;
  pk.ref = ref ? *ref : FrameRef{};
  return process(pk, now_ns);
}

void FlowInspector::on_burst(const ByteSpan* frames, const uint64_t* now_ns, uint16_t n,
                             PacketAction* actions, const FrameRef* refs) {
  // Three passes over the burst so that the flow-table lines each packet needs are on their way
  // from memory while other packets are parsed: parse and hash, prefetch the bucket, prefetch
  // the flow, then process (in arrival order, but for flows whose ClientHello starts in the
  // chunk: those come last, see below). A fragment that completes a datagram points into
  // the reassembler's storage, which the next fragment may reuse, so it closes a chunk and is
  // processed before anything after it is prepared.
  // The per-burst scratch is a member: a local array of Packets would be value-initialised
  // (kilobytes zeroed) on every call, most of which prepare() overwrites anyway.
  Packet* const packets = burst_packets_;
  bool* const ready = burst_ready_;
  uint16_t start = 0;
  while (start < n) {
    uint16_t end = start;
    while (end < n && end - start < kMaxBurst) {
      const uint16_t k = end - start;
      ready[k] = prepare(frames[end], now_ns[end], packets[k], actions[end]);
      packets[k].ref = refs ? refs[end] : FrameRef{};
      ++end;
      if (ready[k] && packets[k].reassembled) break;
      if (ready[k]) flows_.prefetch_bucket(packets[k].hash);
    }
    for (uint16_t i = start; i < end; ++i)
      if (ready[i - start]) flows_.prefetch_flow(packets[i - start].hash);
    bool* const hello = burst_hello_;
    if (!prefetch_hellos(packets, ready, end - start, hello)) {  // most chunks of a busy link
      for (uint16_t i = start; i < end; ++i)
        if (ready[i - start]) actions[i] = process(packets[i - start], now_ns[i]);
      start = end;
      continue;
    }
    // A segment that may start a ClientHello (TCP payload opening with a handshake record, in
    // either direction: a ServerHello looks the same here) is processed after the rest of the
    // chunk, and so is every later packet of its flow: the lines of its bytes and of its name,
    // asked for just now, arrive while the other flows' packets are processed instead of being
    // waited on. Flows are then created, touched and given buffers in that order too.
    // Each flow's packets keep their order; only flows trade places, and the caller still sends
    // the frames it forwards in arrival order.
    uint16_t* const later = burst_later_;
    uint16_t later_count = 0;
    for (uint16_t k = 0; k < end - start; ++k) {
      if (!ready[k]) continue;
      bool wait = hello[k];
      for (uint16_t d = 0; !wait && d < later_count; ++d) {
        const Packet& w = packets[later[d]];
        wait = w.hash == packets[k].hash && w.key == packets[k].key;
      }
      if (wait) {
        later[later_count++] = k;
      } else {
        actions[start + k] = process(packets[k], now_ns[start + k]);
      }
    }
    for (uint16_t d = 0; d < later_count; ++d)
      actions[start + later[d]] = process(packets[later[d]], now_ns[start + later[d]]);
    start = end;
  }
}

// A new flow's verdict waits on memory twice: on its ClientHello's bytes, which nothing has read
// yet when the checksum and the reassembly get to them, and on the policy's name table, which
// is far larger than the cache. Both are asked for here for every segment of the burst that
// starts a ClientHello (its first bytes name the server), so that those loads overlap one
// another and the rest of the burst instead of being waited for one flow at a time. Hints only:
// what is judged still comes from the reassembled, checked stream.
bool FlowInspector::prefetch_hellos(const Packet* packets, const bool* ready, uint16_t n,
                                    bool* hello) {
  constexpr size_t kLine = 64;
  constexpr size_t kMaxPrefetch = 2048;  // a one-segment hello; longer ones are read in turn
  for (uint16_t i = 0; i < n; ++i) {
    const ParsedPacket& p = packets[i].p;
    hello[i] = ready[i] && p.l4_protocol == kTcp && p.payload.size() >= 9 && p.payload[0] == 22;
    if (!hello[i]) continue;
    const size_t bytes = std::min(p.payload.size(), kMaxPrefetch);
    for (size_t off = kLine; off < bytes; off += kLine) __builtin_prefetch(p.payload.data() + off);
  }
  if (judge_ == nullptr) return false;
  std::array<char, kMaxSniLength> name;
  bool any = false;
  for (uint16_t i = 0; i < n; ++i) {
    if (!hello[i]) continue;
    any = true;
    const std::string_view sni = peek_client_hello_sni(packets[i].p.payload, name);
    if (!sni.empty()) judge_->prefetch_name(sni);
  }
  return any;
}

bool FlowInspector::prepare(ByteSpan frame, uint64_t now_ns, Packet& pk, PacketAction& action) {
  ++stats_.rx_packets;
  stats_.rx_bytes += frame.size();
  action = PacketAction::kForward;
  pk.frame_size = static_cast<uint32_t>(frame.size());
  pk.frame = frame;
  pk.reassembled = false;
  ParsedPacket& p = pk.p;
  ParseResult r = parse_frame(frame, parse_options_, p);
  if (r.status == ParseStatus::kFragment) {
    ByteSpan l4;
    switch (fragments_.add(p, now_ns, stats_, l4)) {
      case IpReassembler::Result::kIncomplete:
        return false;
      case IpReassembler::Result::kDropped:
        action = PacketAction::kDrop;
        return false;
      case IpReassembler::Result::kComplete:
        break;
    }
    p.l4_protocol = p.fragment.next_protocol;
    if (p.l4_protocol != kTcp && p.l4_protocol != kUdp) {
      ++stats_.non_tcp_udp;
      return false;
    }
    r = parse_l4(l4, parse_options_, p);
    pk.reassembled = true;
  }
  switch (r.status) {
    case ParseStatus::kOk:
      break;
    case ParseStatus::kNotIp:
      ++stats_.non_ip;
      return false;
    case ParseStatus::kOtherL4:
      ++stats_.non_tcp_udp;
      return false;
    case ParseStatus::kFragment:  // parse_l4 never returns it
    case ParseStatus::kMalformed:
      stats_.count_malformed(r.reason);
      action = PacketAction::kDrop;
      return false;
  }
  FlowKey::assign(pk.key, p.src, p.src_port, p.dst, p.dst_port, p.l4_protocol,
                  p.vlan_count ? p.vlan_ids[p.vlan_count - 1] : 0, pk.src_is_lo);
  pk.hash = flows_.hash(pk.key);
  return true;
}

PacketAction FlowInspector::process(Packet& pk, uint64_t now_ns) {
  ParsedPacket& p = pk.p;
  if (pk.ref.port == config_.intercept.tap_port && config_.intercept.enabled)
    return from_tap(pk, now_ns);
  uint32_t index = flows_.find(pk.key, pk.hash);
  const bool watching = index == kNoFlow || still_watching(flows_.at(index), p);
  if (watching) check_checksum(pk);
  if (index != kNoFlow && watching &&
      (starts_new_connection(flows_.at(index), p, pk.src_is_lo) ||
       starts_new_quic_connection(flows_.at(index), p, pk.src_is_lo))) {
    const Flow& old = flows_.at(index);
    close_flow(index, old.client_fin && old.server_fin ? CloseReason::kFin : CloseReason::kReused,
               now_ns);
    index = kNoFlow;
  }
  if (index == kNoFlow) {
    index = find_or_create(p, pk.key, pk.hash, pk.src_is_lo, now_ns);
    if (index == kNoFlow) return PacketAction::kForward;
  }
  Flow& f = flows_.at(index);
  f.last_ns = now_ns;
  const bool from_client = pk.src_is_lo == f.client_is_lo;
  if (from_client) {
    ++f.packets_to_server;
    f.bytes_to_server += pk.frame_size;
  } else {
    ++f.packets_to_client;
    f.bytes_to_client += pk.frame_size;
  }
  if (f.drop_all) {
    ++stats_.blocked_packets;
    return PacketAction::kDrop;
  }
  if (f.handed_off) return steer_handed_off(index, pk, from_client, now_ns);
  if (f.monitor_blocked && !(p.tcp_flags & kTcpRst) &&
      (f.resets_left != 0 || (f.packets_to_server + f.packets_to_client) % kMonitorLateResetEvery == 0 ||
       ((p.tcp_flags & kTcpAck) && p.ack != f.monitor_reset_ack[from_client])))
    reset_from_packet(f, p, from_client);
  if (pk.reassembled && !f.judged) f.anomalies.add(Anomaly::kIpFragmented);
  if (!watching) return PacketAction::kForward;  // last_ns is set; the class cannot change
  if (from_client && config_.enforcement != EnforcementMode::kAuditOnly &&
      f.client_l2.length == 0 && p.l3_offset <= kMaxL2Header && pk.frame.size() >= p.l3_offset) {
    // What a reset needs to leave the way this flow's frames travel: its tags and addresses.
    std::memcpy(f.client_l2.bytes, pk.frame.data(), p.l3_offset);
    f.client_l2.length = static_cast<uint8_t>(p.l3_offset);
    f.client_port = pk.ref.port;
  }
  current_ref_ = pk.ref;
  current_frame_ = pk.frame;
  current_has_ref_ = pk.ref.handle != nullptr;
  current_action_ = PacketAction::kForward;
  if (p.l4_protocol == kTcp) {
    on_tcp(index, p, from_client, now_ns);
  } else {
    on_udp(index, p, from_client, now_ns);
  }
  current_has_ref_ = false;
  PacketAction action = current_action_;
  // A verdict of block taken on this packet drops it too (a server-first or UDP flow).
  const Flow& after = flows_.at(index);
  if (action == PacketAction::kForward && after.in_use && after.drop_all) {
    ++stats_.blocked_packets;
    action = PacketAction::kDrop;
  }
  return action;
}

// A client SYN with a new ISN on a 4-tuple whose connection is closing is the next connection
// (TIME_WAIT reuse), not a retransmission: it gets a flow and a first flight of its own.
bool FlowInspector::starts_new_connection(const Flow& f, const ParsedPacket& p,
                                          bool src_is_lo) const {
  return p.l4_protocol == kTcp && (p.tcp_flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn &&
         src_is_lo == f.client_is_lo && f.client_isn_known && p.seq != f.client_isn &&
         (f.client_fin || f.server_fin) && checksum_trusted(p);
}

// Whether `v`, a client Initial, has another DCID than the one this flow's first flight was
// read from and opens under keys derived from its own DCID: the first Initial of another
// connection on the same addresses and ports (a new connection, the client's answer to a Retry,
// or the real hello behind a fake for another name that the client sent first). An Initial of
// the same connection after the client switched to the server's connection ID (RFC 9000 7.2)
// does not open so (RFC 9001 5.2). Costs one key schedule and one decryption, about what a new
// flow's first Initial costs; nothing is remembered of a failed trial, since an Initial that
// fails proves nothing about the next one with that DCID.
bool FlowInspector::is_other_connections_initial(const Flow& f, const QuicPacketView& v) {
  return v.type == QuicPacketType::kInitial && v.info != nullptr &&
         quic_dcid_tag(v.dcid, dcid_seed_) != f.quic_dcid_tag && quic_.opens_under_own_keys(v);
}

// A judged flow meeting another connection's first Initial closes, and the Initial is judged on
// its own as a new flow: a verdict taken on other bytes must not carry it. While a first flight
// is read, inline, such an Initial is dropped instead (on_client_datagram): closing the flow
// then would judge its held part `incomplete` and let it go, and the rest of its hello after
// it, unjudged. A monitor, which holds nothing, starts the new flow at once so that its name is
// audited (a server's Retry mid-hello, which only a monitor sees, is such an Initial).
bool FlowInspector::starts_new_quic_connection(const Flow& f, const ParsedPacket& p,
                                               bool src_is_lo) {
  if (p.l4_protocol != kUdp || src_is_lo != f.client_is_lo) return false;
  if (!f.judged && (f.quic_dcid_tag == 0 || config_.enforcement == EnforcementMode::kInline))
    return false;
  // Servers drop Initials in smaller datagrams (RFC 9000 14.1), so those start nothing.
  if (p.payload.size() < kQuicMinInitialDatagram || !checksum_trusted(p)) return false;
  QuicPacketView v;
  if (parse_quic_packet(p.payload, v) != QuicParse::kOk || !is_other_connections_initial(f, v))
    return false;
  ++stats_.quic_new_connections_on_flow;
  return true;
}

uint32_t FlowInspector::find_or_create(const ParsedPacket& p, const FlowKey& key, uint64_t hash,
                                       bool src_is_lo, uint64_t now_ns) {
  bool src_is_client;
  bool midstream = false;
  if (p.l4_protocol == kTcp) {
    // A lone RST, or a packet with a bad checksum, must not create state an attacker chose.
    if ((p.tcp_flags & kTcpRst) || !checksum_trusted(p)) return kNoFlow;
    const bool syn = p.tcp_flags & kTcpSyn;
    const bool ack = p.tcp_flags & kTcpAck;
    if (syn && !ack) {
      src_is_client = true;
    } else if (syn && ack) {
      src_is_client = false;  // a SYN-ACK comes from the server
      midstream = true;
    } else {
      src_is_client = src_is_client_midstream(p);
      midstream = true;
    }
  } else {
    // UDP: the first sender is the client unless it is clearly answering from a low port.
    src_is_client = !(p.src_port < 1024 && p.dst_port >= 1024);
  }

  uint32_t index = flows_.insert(key, hash, now_ns);
  if (index == kNoFlow) {
    const uint32_t victim = flows_.oldest_victim();
    if (victim != kNoFlow) {
      ++stats_.flows_evicted;
      close_flow(victim, CloseReason::kEvicted, now_ns);
      index = flows_.insert(key, hash, now_ns);
    }
    if (index == kNoFlow) {
      ++stats_.flow_table_full;
      return kNoFlow;
    }
  }
  ++stats_.flows_created;
  Flow& f = flows_.at(index);
  f.id = (uint64_t{config_.worker_id} << 48) | next_flow_seq_++;
  f.client_is_lo = src_is_client == src_is_lo;
  if (midstream && p.l4_protocol == kTcp) f.anomalies.add(Anomaly::kMidstream);
  return index;
}

void FlowInspector::on_tcp(uint32_t index, const ParsedPacket& p, bool from_client,
                           uint64_t now_ns) {
  Flow& f = flows_.at(index);
  const bool holding = config_.enforcement == EnforcementMode::kInline && from_client &&
                       !f.judged && (!p.payload.empty() || (p.tcp_flags & kTcpFin));
  if (!checksum_trusted(p)) {
    // The server would drop this segment, so neither its bytes nor its flags are truth.
    if (!f.judged && !p.payload.empty()) f.anomalies.add(Anomaly::kBadChecksumIgnored);
    if (holding) {
      drop_current_as_decoy();
    }
    touch(index, now_ns);
    return;
  }
  const uint8_t flags = p.tcp_flags;
  if (flags & kTcpSyn) {
    if (from_client && !(flags & kTcpAck)) {
      const bool withhold = holding && !p.payload.empty();
      if (withhold) forward_syn_without_data(f, p);
      on_client_syn(f, p, withhold, now_ns);
    } else if (!from_client && (flags & kTcpAck)) {
      on_server_synack(f, p, now_ns);
    }
    touch(index, now_ns);
    return;
  }

  const SegmentTrust trust =
      from_client ? client_segment_trust(f, p) : server_segment_trust(f, p);
  if (!trust.accept) {
    if (!f.judged || f.buffer_slot != kNoSlot || (flags & kTcpRst)) f.anomalies.add(trust.reason);
    if (holding && !(flags & kTcpRst)) {
      // A decoy meant to be judged but never received (low TTL, bad ACK, out of window, ...):
      // while the first flight is held it goes nowhere, so the server cannot get it either.
      drop_current_as_decoy();
    }
    touch(index, now_ns);
    return;
  }
  if (flags & kTcpRst) {
    if (rst_acceptable(f, p, from_client)) {
      close_flow(index, CloseReason::kRst, now_ns);
      return;
    }
    f.anomalies.add(Anomaly::kRstIgnored);
    touch(index, now_ns);
    return;
  }
  if (from_client) {
    // A FIN alone is held only behind held data; an empty connection's FIN goes on. A frame
    // that cannot be held is dropped unread: only bytes the server will get may be judged, and
    // the client sends them again.
    if (holding && (!p.payload.empty() || !f.held.empty()) && !hold_current(f)) {
      touch(index, now_ns);
      return;
    }
    on_client_segment(f, p, now_ns);
  } else {
    on_server_segment(f, p, now_ns);
  }
  touch(index, now_ns);
}

// Inline: a SYN cannot wait for a verdict (there is no first flight without a handshake), but
// its data (a TCP Fast Open ClientHello) must not reach the server unjudged. The SYN goes on
// without it, cookie and all; the server acknowledges the SYN alone and the client sends the
// data again after the handshake (RFC 7413 section 4.2.2), where it is held and judged like
// any first flight. Costs a TFO client one round trip, never a connection.
void FlowInspector::forward_syn_without_data(const Flow& f, const ParsedPacket& p) {
  current_action_ = PacketAction::kDrop;
  uint8_t frame[kMaxStrippedFrame];
  const size_t n = strip_tcp_payload(current_frame_, p, frame, sizeof(frame));
  if (n == 0 || enforcement_ == nullptr) {
    // The client's SYN retransmission carries no data (RFC 7413 section 4.2.1).
    ++stats_.syn_data_dropped;
    return;
  }
  ++stats_.syn_data_stripped;
  enforcement_->inject(ByteSpan(frame, n), f.client_port, false);
}

void FlowInspector::on_client_syn(Flow& f, const ParsedPacket& p, bool data_withheld,
                                  uint64_t now_ns) {
  if (!f.saw_client_syn) {
    f.saw_client_syn = true;
    f.client_isn_known = true;
    f.client_isn = p.seq;
    f.client_snd_max = p.seq + 1;
    f.client_wscale = p.tcp_options.window_scale;
    f.client_tfo = p.tcp_options.fast_open;
    f.client_signature = p.tcp_options.signature;
    f.client_ack = 0;
    f.client_window = p.window;
    f.client_mss = p.tcp_options.mss;
    f.sack_permitted = p.tcp_options.sack_permitted;
  } else if (p.seq != f.client_isn && !f.saw_server_synack) {
    // Two SYNs with different ISNs before any answer: one is a fake; the SYN-ACK will say which.
    f.anomalies.add(Anomaly::kIsnMismatch);
  }
  f.client_ttl = std::max(f.client_ttl, p.ttl);
  if (p.tcp_options.has_timestamps && p.seq == f.client_isn) f.client_ts_recent = p.tcp_options.ts_val;
  if (p.payload.empty() || data_withheld) return;
  // Data on a SYN reaches the application only with a TFO cookie, and only if the SYN-ACK
  // acknowledges it; until then it is held but not judged.
  if (!p.tcp_options.fast_open_cookie || f.saw_server_synack || p.seq != f.client_isn) {
    if (!f.judged) f.anomalies.add(Anomaly::kSynPayload);
    return;
  }
  f.tfo_syn_bytes = static_cast<uint16_t>(p.payload.size());
  on_client_data(f, p.seq + 1, p.payload, p, now_ns);
}

void FlowInspector::on_server_synack(Flow& f, const ParsedPacket& p, uint64_t now_ns) {
  if (f.saw_server_synack) return;  // a retransmission
  f.saw_server_synack = true;
  f.server_isn = p.seq;
  f.server_snd_max = p.seq + 1;
  f.server_ttl = p.ttl;
  f.server_wscale = p.tcp_options.window_scale;
  f.server_ack = p.ack;
  f.server_ack_valid = true;
  f.server_window = p.window;  // never scaled in a SYN-ACK (RFC 7323 2.2)
  f.timestamps = f.saw_client_syn && p.tcp_options.has_timestamps;
  f.sack_permitted = f.sack_permitted && p.tcp_options.sack_permitted;
  if (p.tcp_options.has_timestamps) f.server_ts_recent = p.tcp_options.ts_val;

  if (f.tfo_syn_bytes != 0 && p.ack == f.client_isn + 1 + f.tfo_syn_bytes) {
    f.tfo_syn_bytes = 0;  // the server took the SYN's data: it is part of the stream
    f.client_snd_max = p.ack;
    if (!f.judged && f.buffer_slot != kNoSlot) try_judge(f, now_ns);
    return;
  }
  bool gathered_bytes_void = false;
  if (f.tfo_syn_bytes != 0 && p.ack == f.client_isn + 1) {
    // The server did not take the SYN's data (no or a stale cookie): the client sends it again,
    // and only that copy counts.
    f.anomalies.add(Anomaly::kSynPayload);
    gathered_bytes_void = true;
  } else if (f.client_isn_known && p.ack != f.client_isn + 1) {
    // The server answered another SYN than the one we kept: a fake SYN went first. The ISN is
    // the one the server holds, and anything gathered under the fake one is void.
    f.anomalies.add(Anomaly::kIsnMismatch);
    gathered_bytes_void = true;
  }
  f.tfo_syn_bytes = 0;
  if (gathered_bytes_void && !f.judged) release_buffer(f);
  f.client_isn = p.ack - 1;
  f.client_snd_max = p.ack;  // the SYN the server answered, whatever other SYNs said
  f.client_isn_known = true;
}

void FlowInspector::on_client_segment(Flow& f, const ParsedPacket& p, uint64_t now_ns) {
  if (p.tcp_options.has_timestamps && seq_lt(f.client_ts_recent, p.tcp_options.ts_val))
    f.client_ts_recent = p.tcp_options.ts_val;
  const uint32_t end = p.seq + static_cast<uint32_t>(p.payload.size()) + ((p.tcp_flags & kTcpFin) ? 1 : 0);
  if (f.client_snd_max == 0 || seq_lt(f.client_snd_max, end)) f.client_snd_max = end;  // 0: unset
  if (p.tcp_flags & kTcpAck) {
    if (!f.client_ack_valid || seq_lt(f.client_ack, p.ack)) f.client_ack = p.ack;
    f.client_ack_valid = true;
    const int shift = (f.client_wscale >= 0 && f.server_wscale >= 0) ? f.client_wscale : 0;
    f.client_window = uint32_t{p.window} << shift;
  }
  if (!p.payload.empty()) {
    if (!f.judged) {
      on_client_data(f, p.seq, p.payload, p, now_ns);
    } else if (f.buffer_slot != kNoSlot) {
      check_after_verdict(f, p.seq, p.payload);
    }
  }
  if ((p.tcp_flags & kTcpFin) && !f.client_fin) {
    f.client_fin = true;
    f.client_fin_seq = p.seq + static_cast<uint32_t>(p.payload.size());
  }
}

void FlowInspector::on_server_segment(Flow& f, const ParsedPacket& p, uint64_t now_ns) {
  if (p.tcp_options.has_timestamps && seq_lt(f.server_ts_recent, p.tcp_options.ts_val))
    f.server_ts_recent = p.tcp_options.ts_val;
  const uint32_t end = p.seq + static_cast<uint32_t>(p.payload.size()) +
                       ((p.tcp_flags & kTcpFin) ? 1 : 0);
  if (!f.saw_server_synack || seq_lt(f.server_snd_max, end)) f.server_snd_max = end;
  if (p.tcp_flags & kTcpAck) {
    if (!f.server_ack_valid || seq_lt(f.server_ack, p.ack)) f.server_ack = p.ack;
    f.server_ack_valid = true;
    const int shift = (f.client_wscale >= 0 && f.server_wscale >= 0) ? f.server_wscale : 0;
    f.server_window = uint32_t{p.window} << shift;
    // The client's FIN takes a sequence number too: an ACK of it acknowledges no data.
    const uint32_t data_acked =
        f.client_fin && p.ack == f.client_fin_seq + 1 ? f.client_fin_seq : p.ack;
    if (f.buffer_slot != kNoSlot) {
      on_server_ack(f, data_acked);
    } else if (!f.judged && f.client_isn_known && seq_lt(f.client_isn + 1, data_acked)) {
      f.anomalies.add(Anomaly::kUnseenAcked);  // acked client bytes, none of which we accepted
    }
  }
  if (!p.payload.empty() && !f.judged) {
    f.server_sent_data = true;
    // Server-speaks-first: the server's first bytes come before any byte of the client's. A
    // segment that does not start the server's stream cannot be its first bytes.
    const bool client_sent_nothing = f.buffer_slot == kNoSlot ||
                                     buffers_.at(f.buffer_slot).stream.contiguous_length() == 0;
    const bool starts_stream = !f.saw_server_synack || p.seq == f.server_isn + 1;
    if (client_sent_nothing && starts_stream) {
      judge(f, FirstFlightKind::kServerFirst, nullptr, now_ns);
    } else if (!starts_stream && client_sent_nothing) {
      f.anomalies.add(Anomaly::kOutOfWindow);
    }
  }
  if (p.tcp_flags & kTcpFin) f.server_fin = true;
}

// The server's ACK says how much of the client's stream it has: bytes it acknowledges that we
// never accepted mean we judged (or are judging) something other than what it received.
void FlowInspector::on_server_ack(Flow& f, uint32_t ack) {
  const StreamAssembler& stream = buffers_.at(f.buffer_slot).stream;
  const int32_t acked = seq_diff(ack, stream.base_seq());
  if (acked <= 0) return;
  const uint32_t covered = std::min<uint32_t>(static_cast<uint32_t>(acked), stream.capacity());
  if (covered > stream.contiguous_length()) f.anomalies.add(Anomaly::kUnseenAcked);
  if (f.judged && static_cast<uint32_t>(acked) >= f.judged_length) release_buffer(f);
}

// Flows stay in their list in the order they entered it: for the first-flight list that is the
// order their time caps end in.
void FlowInspector::touch(uint32_t index, uint64_t now_ns) {
  flows_.touch(index, class_of(flows_.at(index)), now_ns);
}

void FlowInspector::on_client_data(Flow& f, uint32_t seq, ByteSpan payload, const ParsedPacket& p,
                                   uint64_t now_ns) {
  if (f.buffer_slot == kNoSlot) {
    // Without a SYN the stream starts at the first data we see.
    const uint32_t base = f.client_isn_known ? f.client_isn + 1 : seq;
    f.buffer_slot = buffers_.acquire(base);
    if (f.buffer_slot == kNoSlot) {
      ++stats_.first_flight_buffers_exhausted;
      f.anomalies.add(Anomaly::kBuffersExhausted);
      judge(f, FirstFlightKind::kIncomplete, nullptr, now_ns);
      return;
    }
    f.first_payload_ns = now_ns;
  }
  if (p.tcp_flags & kTcpUrg) f.anomalies.add(Anomaly::kTcpUrgent);
  if (payload.size() < kTinySegment && ++f.tiny_segments >= kTinySegmentsAnomaly)
    f.anomalies.add(Anomaly::kTinySegments);

  FirstFlightPool::Slot& slot = buffers_.at(f.buffer_slot);
  const StreamAssembler::AddResult added = slot.stream.add(seq, payload);
  if (added.conflict) f.anomalies.add(Anomaly::kOverlapConflict);
  if (added.out_of_order) f.anomalies.add(Anomaly::kOutOfOrder);
  if (added.beyond_cap) f.anomalies.add(Anomaly::kFirstFlightByteCap);

  if (now_ns - f.first_payload_ns > config_.first_flight_time_cap_ns) {
    f.anomalies.add(Anomaly::kFirstFlightTimeout);
    judge_unfinished(f, now_ns);
    return;
  }
  if (f.tfo_syn_bytes == 0) try_judge(f, now_ns);  // TFO data waits for the SYN-ACK
}

// The judged bytes are kept until the server acknowledges them: a client segment that later
// covers them with other bytes means the judged hello may not be what the server received (a
// fake the server never got went first, by a trick not caught as such). The flow then carries
// overlap_conflict, which the close record reports, and inline such a segment is dropped: the
// server gets no bytes but those judged (a client that insists on others stalls).
void FlowInspector::check_after_verdict(Flow& f, uint32_t seq, ByteSpan payload) {
  StreamAssembler& stream = buffers_.at(f.buffer_slot).stream;
  if (!stream.add(seq, payload).conflict) return;
  f.anomalies.add(Anomaly::kOverlapConflict);
  if (config_.enforcement == EnforcementMode::kInline) drop_current_as_decoy();
}

void FlowInspector::try_judge(Flow& f, uint64_t now_ns) {
  FirstFlightPool::Slot& slot = buffers_.at(f.buffer_slot);
  const ByteSpan stream = slot.stream.contiguous();
  if (stream.empty() || stream.size() < slot.parse_at) return;
  const bool at_cap = stream.size() >= slot.stream.capacity();

  switch (guess_first_flight(stream)) {
    case FlightGuess::kNeedMore:
      slot.parse_at = static_cast<uint32_t>(stream.size() + 1);
      if (at_cap) judge(f, FirstFlightKind::kNonTls, nullptr, now_ns);
      return;
    case FlightGuess::kNonTls:
      judge(f, FirstFlightKind::kNonTls, nullptr, now_ns);
      return;
    case FlightGuess::kHttp: {
      // Wait for the end of the request head, looking only at bytes not looked at before, so a
      // head sent a byte at a time costs linear work.
      const size_t from = slot.scanned > 3 ? slot.scanned - 3 : 0;
      const bool head_ended = contains_head_end(stream.subspan(from));
      slot.scanned = static_cast<uint32_t>(stream.size());
      if (!head_ended && !at_cap) {
        slot.parse_at = static_cast<uint32_t>(stream.size() + 1);
        return;
      }
      char host[kMaxSniLength + 1];
      uint16_t host_length = 0;
      const HttpHostStatus s = find_http_host(stream, host, host_length);
      if (s == HttpHostStatus::kNeedMore && !at_cap) {
        slot.parse_at = static_cast<uint32_t>(stream.size() + 1);
        return;
      }
      if (s != HttpHostStatus::kFound) host_length = 0;
      // Plain HTTP on a port where TLS belongs is reported as non_tls (with its Host kept):
      // that, not "a web request", is what policy for port 443 needs to see.
      const FirstFlightKind kind =
          is_tls_port(f.server().port) ? FirstFlightKind::kNonTls : FirstFlightKind::kHttp;
      judge(f, kind, nullptr, now_ns, std::string_view(host, host_length));
      return;
    }
    case FlightGuess::kTls:
      break;
  }

  switch (parse_client_hello(stream, hello_scratch_, hello_, ja4_cache_.get())) {
    case HelloStatus::kComplete:
    case HelloStatus::kMalformed:
      judge(f, FirstFlightKind::kTls, &hello_, now_ns);
      return;
    case HelloStatus::kNotTls:
      judge(f, FirstFlightKind::kNonTls, nullptr, now_ns);
      return;
    case HelloStatus::kNeedMore:
      if (at_cap) {
        f.anomalies.add(Anomaly::kFirstFlightByteCap);
        judge(f, FirstFlightKind::kIncomplete, nullptr, now_ns);
        return;
      }
      slot.parse_at = next_record_end(stream);
      return;
  }
}

void FlowInspector::judge_unfinished(Flow& f, uint64_t now_ns) {
  // The server acknowledging client bytes is proof the client sent some, seen by us or not.
  const bool client_sent = f.buffer_slot != kNoSlot || f.first_payload_ns != 0 ||
                           f.anomalies.has(Anomaly::kUnseenAcked);
  // A hello that started but never finished: the flow ended (or the time cap came) first.
  if (f.buffer_slot != kNoSlot) {
    const ByteSpan stream = buffers_.at(f.buffer_slot).stream.contiguous();
    // A QUIC CRYPTO stream holds nothing but the hello.
    const bool hello_started = f.key.protocol == kUdp
                                   ? !stream.empty()
                                   : guess_first_flight(stream) == FlightGuess::kTls;
    if (hello_started) f.anomalies.add(Anomaly::kTlsTruncated);
  }
  judge(f, client_sent ? FirstFlightKind::kIncomplete : FirstFlightKind::kNone, nullptr, now_ns);
}

void FlowInspector::judge(Flow& f, FirstFlightKind kind, const ClientHelloInfo* hello,
                          uint64_t now_ns, std::string_view http_host) {
  f.judged = true;
  f.first_flight = kind;
  if (hello) f.anomalies.merge(hello->anomalies);
  // Without a judge every flow passes; the audit record says so.
  std::string_view rule = "no_policy";
  std::string_view list;
  f.verdict = Verdict::kPass;
  if (judge_ != nullptr) {
    FlowFacts facts;
    facts.client_ip = f.client().ip;
    facts.server_ip = f.server().ip;
    facts.server_port = f.server().port;
    facts.first_flight = kind;
    facts.server_name = hello ? hello->sni_view() : http_host;
    facts.ech = hello != nullptr && hello->ech;
    if (hello) facts.ja4 = hello->ja4_view();
    facts.quic = f.quic_version != 0;
    facts.anomalies = f.anomalies;
    FlowDecision d;
    judge_->decide(facts, d);
    f.verdict = d.decision.action.verdict;
    f.audit = d.decision.action.audit;
    rule = d.decision.rule;
    list = d.decision.list;
    if (d.intercept_fallback) ++stats_.intercept_fallbacks;
  }
  f.judged_length =
      f.buffer_slot != kNoSlot ? buffers_.at(f.buffer_slot).stream.contiguous_length() : 0;
  carry_out(f);  // an intercept verdict may become the fallback here
  ++stats_.flows_by_verdict[static_cast<size_t>(f.verdict)];
  // Keeping judged bytes until the server acknowledges them is a check, not a need: under
  // pressure (a quarter of the pool left) the buffer goes back at once, so flows that never get
  // an acknowledgement cannot starve new first flights.
  // A UDP flow has no acknowledgements to wait for: its buffer goes back at once.
  if (buffers_.in_use() * 4 > buffers_.capacity() * 3 || f.key.protocol == kUdp) release_buffer(f);
  ++stats_.first_flights_judged;

  fill_event_header(f, AuditKind::kVerdict, now_ns);
  event_.first_flight = kind;
  event_.verdict = f.verdict;
  // Copied now: the views belong to the judge's policy, which may be replaced after this call.
  copy_name(event_.rule, rule);
  copy_name(event_.list, list);
  if (hello) {
    event_.hello = *hello;
  } else {
    event_.hello = ClientHelloInfo{};
  }
  copy_name(event_.http_host, http_host);
  event_.http_host_length = static_cast<uint16_t>(std::min(http_host.size(), kMaxSniLength));
  publish();
}

void FlowInspector::close_flow(uint32_t index, CloseReason reason, uint64_t now_ns) {
  Flow& f = flows_.at(index);
  if (!f.judged) judge_unfinished(f, now_ns);  // releases or discards what was held
  if (f.drop_all && reason != CloseReason::kEvicted && reason != CloseReason::kShutdown &&
      reason != CloseReason::kReused)
    reason = CloseReason::kBlocked;
  fill_event_header(f, AuditKind::kClose, now_ns);
  // event_ is reused: its name, rule and list are still those of the last flow this worker
  // judged, not this one's. A close event names nothing; the management side knows the flow's
  // name from its verdict event.
  event_.hello.sni_length = 0;
  event_.http_host_length = 0;
  event_.rule[0] = '\0';
  event_.list[0] = '\0';
  event_.close_reason = reason;
  f.anomalies.for_each([this](Anomaly a) { ++stats_.flows_by_anomaly[static_cast<size_t>(a)]; });
  publish();
  if (reason == CloseReason::kIdle) {
    ++stats_.flows_expired;
  } else if (reason == CloseReason::kFin || reason == CloseReason::kRst) {
    ++stats_.flows_closed;
  }
  release_buffer(f);
  flows_.remove(index);
}

// Inline: keeps the frame being processed until its flow is judged. A frame that cannot be
// held (pool empty, per-flow cap) is dropped rather than sent unjudged; the caller then leaves
// its bytes out of the first flight too.
bool FlowInspector::hold_current(Flow& f) {
  if (!current_has_ref_) return true;  // nothing to hold (no frame handle): judge it anyway
  if (f.held.count >= config_.max_held_per_flow) {
    ++stats_.hold_flow_cap;
    current_action_ = PacketAction::kDrop;
    return false;
  }
  if (!held_.push(f.held, current_ref_.handle)) {
    ++stats_.hold_exhausted;
    current_action_ = PacketAction::kDrop;
    return false;
  }
  ++stats_.frames_held;
  current_action_ = PacketAction::kHeld;
  return true;
}

void FlowInspector::carry_out(Flow& f) {
  if (config_.enforcement == EnforcementMode::kAuditOnly) return;
  if (f.verdict == Verdict::kIntercept && config_.intercept.enabled) carry_out_intercept(f);
  if (f.verdict == Verdict::kBlock) {
    ++stats_.flows_blocked;
    f.drop_all = config_.enforcement == EnforcementMode::kInline;
    if (config_.enforcement == EnforcementMode::kMonitor && f.key.protocol == kTcp) {
      f.monitor_blocked = true;
      f.resets_left = kMonitorResetRepeats;
    }
    send_block_response(f);
    held_.drain(f.held, [this](void* h) {
      ++stats_.frames_discarded;
      if (enforcement_) enforcement_->discard(h);
    });
    return;
  }
  held_.drain(f.held, [this](void* h) {
    ++stats_.frames_released;
    if (enforcement_) enforcement_->release(h);
  });
}

// Resets both ends at the sequence numbers each expects next (RFC 5961 accepts a reset only
// there without a challenge). Inline, the server has received nothing past the handshake, so
// its next sequence number is the one it last acknowledged; a monitor has let the first flight
// through, so the server expects what follows it.
void FlowInspector::send_block_response(const Flow& f) {
  if (f.key.protocol != kTcp || enforcement_ == nullptr) return;
  if (f.client_l2.length == 0 || !f.saw_server_synack || !f.client_isn_known) {
    ++stats_.resets_unsent;
    return;
  }
  const uint32_t client_next = f.client_isn + 1 + f.judged_length;
  const uint32_t server_expects =
      config_.enforcement == EnforcementMode::kInline
          ? (f.server_ack_valid ? f.server_ack : f.client_isn + 1)
          : client_next;
  uint32_t server_next = f.server_snd_max;

  TcpReply to_client;
  to_client.src = f.server();
  to_client.dst = f.client();
  to_client.ack = client_next;
  if (config_.block_response == BlockResponse::kTlsAlertAndReset &&
      f.first_flight == FirstFlightKind::kTls) {
    to_client.seq = server_next;
    to_client.flags = kTcpPsh | kTcpAck;
    to_client.window = 0;
    to_client.payload = ByteSpan(kTlsAccessDeniedAlert, sizeof(kTlsAccessDeniedAlert));
    inject(f, true, to_client);
    server_next += sizeof(kTlsAccessDeniedAlert);
    to_client.payload = {};
  }
  to_client.seq = server_next;
  to_client.flags = kTcpRst | kTcpAck;
  inject(f, true, to_client);

  TcpReply to_server;
  to_server.src = f.client();
  to_server.dst = f.server();
  to_server.seq = server_expects;
  to_server.ack = f.server_snd_max;
  to_server.flags = kTcpRst | kTcpAck;
  inject(f, false, to_server);
  ++stats_.resets_sent;
}

// Monitor mode cannot stop the first flight, so its first resets race the server's answer: by
// the time they land, an end may expect a later sequence number and take them for blind
// resets (RFC 5961). Each later packet of a blocked flow says exactly where both ends are, so
// a few more resets follow, aimed with it, then one every kMonitorLateResetEvery packets for as
// long as the flow moves (the reader may lag the wire further than the first few cover), and one
// whenever an end acknowledges something new. That last one is what ends a download whose server
// took its reset while the client's were all aimed behind data still in flight: the server falls
// silent, the client's last ACKs (or its challenge ACKs, RFC 5961) carry the exact sequence
// number a reset needs, and no packet count would come round again.
void FlowInspector::reset_from_packet(Flow& f, const ParsedPacket& p, bool from_client) {
  if (f.resets_left != 0) --f.resets_left;
  const uint32_t end = p.seq + static_cast<uint32_t>(p.payload.size()) +
                       ((p.tcp_flags & (kTcpSyn | kTcpFin)) ? 1 : 0);
  TcpReply to_sender;
  to_sender.src = from_client ? f.server() : f.client();
  to_sender.dst = from_client ? f.client() : f.server();
  to_sender.flags = kTcpRst;
  TcpReply to_receiver;
  to_receiver.src = from_client ? f.client() : f.server();
  to_receiver.dst = from_client ? f.server() : f.client();
  to_receiver.seq = end;
  to_receiver.flags = kTcpRst;
  inject(f, !from_client, to_receiver);
  if (p.tcp_flags & kTcpAck) {
    to_sender.seq = p.ack;  // what the sender expects from its peer next
    inject(f, from_client, to_sender);
    f.monitor_reset_ack[from_client] = p.ack;
  }
  ++stats_.resets_sent;
}

void FlowInspector::inject(const Flow& f, bool toward_client, const TcpReply& reply) {
  if (enforcement_ == nullptr) return;
  uint8_t frame[kMaxReplyFrame];
  const size_t n = build_tcp_reply(f.client_l2, toward_client, reply, frame, sizeof(frame));
  if (n == 0) {
    ++stats_.resets_unsent;
    return;
  }
  enforcement_->inject(ByteSpan(frame, n), f.client_port, toward_client);
}

// Intercept, inline, with a TAP (docs/design.md, "Interception handoff"): the handoff datagram
// goes into the TAP ahead of anything else of the flow, the server leg is reset where the server
// expects the client's next byte (it has received nothing past the handshake), and the held
// frames are dropped: their bytes travel in the message. From then on the flow is steered
// (steer_handed_off). When it cannot be handed over, the fallback verdict is carried out instead.
void FlowInspector::carry_out_intercept(Flow& f) {
  const HandoffOutcome outcome = send_handoff(f);
  f.handoff = outcome;
  if (outcome != HandoffOutcome::kHandedOff) {
    ++stats_.intercept_fallbacks;
    switch (outcome) {
      case HandoffOutcome::kInterceptorAbsent:
        ++stats_.handoff_interceptor_absent;
        break;
      case HandoffOutcome::kNotAdoptable:
        ++stats_.handoff_not_adoptable;
        break;
      default:
        ++stats_.handoff_send_failed;
        break;
    }
    f.verdict = config_.intercept.fallback;
    return;
  }
  ++stats_.handoffs_sent;
  TcpReply to_server;
  to_server.src = f.client();
  to_server.dst = f.server();
  to_server.seq = f.client_isn + 1;
  to_server.ack = f.server_snd_max;
  to_server.flags = kTcpRst | kTcpAck;
  inject(f, false, to_server);
  ++stats_.handoff_server_resets;
  held_.drain(f.held, [this](void* h) {
    ++stats_.frames_discarded;
    enforcement_->discard(h);
  });
  release_buffer(f);
  f.handed_off = true;
}

HandoffOutcome FlowInspector::send_handoff(Flow& f) {
  if (!interceptor_ready_) return HandoffOutcome::kInterceptorAbsent;
  // Adoption rebuilds the connection from both SYNs and the bytes held: without any of them
  // there is nothing to rebuild it from. IPv6 needs the appliance's IPv6 side configured.
  if (f.key.protocol != kTcp || (!f.client().ip.is_v4() && !config_.intercept.ipv6) ||
      !f.saw_client_syn || !f.saw_server_synack ||
      !f.client_isn_known || f.client_l2.length == 0 || f.buffer_slot == kNoSlot ||
      f.judged_length == 0 || enforcement_ == nullptr)
    return HandoffOutcome::kNotAdoptable;
  const ByteSpan hello = buffers_.at(f.buffer_slot).stream.contiguous().first(f.judged_length);
  handoff::Handoff h;
  std::memcpy(h.client.bytes.data(), f.client().ip.bytes.data(), 16);
  std::memcpy(h.server.bytes.data(), f.server().ip.bytes.data(), 16);
  h.client.port = f.client().port;
  h.server.port = f.server().port;
  h.client_isn = f.client_isn;
  h.server_isn = f.server_isn;
  h.client_mss = f.client_mss;
  h.client_wscale = f.client_wscale;
  h.server_wscale = f.server_wscale;
  h.sack_permitted = f.sack_permitted;
  h.timestamps = f.timestamps;
  h.server_tsval = f.server_ts_recent;
  h.client_tsval = f.client_ts_recent;
  h.client_window = f.client_window;
  h.server_window = f.server_window;
  h.flow_id = f.id;
  h.hello = hello;
  const size_t n = handoff::encode_handoff(h, handoff_scratch_.data(), handoff_scratch_.size());
  if (n == 0) return HandoffOutcome::kNoBuffer;
  // IP ids of concurrent datagrams must differ across workers too: the kernel reassembles by
  // (source, destination, protocol, id).
  const uint16_t id =
      static_cast<uint16_t>((config_.worker_id << 12) | (handoff_ip_id_++ & 0x0fff));
  const uint16_t fragments = emit_handoff_frames(
      config_.intercept, id, ByteSpan(handoff_scratch_.data(), n),
      [this](ByteSpan frame) { return enforcement_->inject_to_interceptor(frame); });
  if (fragments == 0) return HandoffOutcome::kNoBuffer;
  stats_.handoff_fragments += fragments;
  return HandoffOutcome::kHandedOff;
}

// A handed-off flow: the client's packets go into the TAP, the server's are dropped (its leg
// was reset; a late answer must not reach the client). FIN and RST still close the flow here.
PacketAction FlowInspector::steer_handed_off(uint32_t index, const Packet& pk, bool from_client,
                                             uint64_t now_ns) {
  Flow& f = flows_.at(index);
  if (!from_client) {
    ++stats_.handoff_server_dropped;
    return PacketAction::kDrop;
  }
  if (pk.p.tcp_flags & (kTcpFin | kTcpRst)) {
    f.client_fin = true;
    if (pk.p.tcp_flags & kTcpRst) f.server_fin = true;
    touch(index, now_ns);
  }
  if (pk.ref.handle == nullptr || enforcement_ == nullptr) return PacketAction::kDrop;
  ++stats_.handoff_to_interceptor;
  enforcement_->to_interceptor(pk.ref.handle, pk.p.l3_offset);
  return PacketAction::kHeld;
}

// Out of the TAP: the appliance's own connections never get here (the worker loop sends them
// to the outside port first), so this is an adopted socket answering a client: to the client of
// its flow with the flow's own Ethernet/VLAN header. Anything else goes nowhere.
PacketAction FlowInspector::from_tap(const Packet& pk, uint64_t now_ns) {
  const uint32_t index = flows_.find(pk.key, pk.hash);
  if (index == kNoFlow || !flows_.at(index).handed_off || enforcement_ == nullptr ||
      pk.ref.handle == nullptr) {
    ++stats_.tap_unmatched;
    return PacketAction::kDrop;
  }
  Flow& f = flows_.at(index);
  f.last_ns = now_ns;
  ++f.packets_to_client;
  f.bytes_to_client += pk.frame_size;
  if (pk.p.tcp_flags & (kTcpFin | kTcpRst)) {
    f.server_fin = true;
    if (pk.p.tcp_flags & kTcpRst) f.client_fin = true;
    touch(index, now_ns);
  }
  ++stats_.handoff_to_client;
  enforcement_->to_client(pk.ref.handle, pk.p.l3_offset, f.client_l2, f.client_port);
  return PacketAction::kHeld;
}

void FlowInspector::release_buffer(Flow& f) {
  if (f.buffer_slot == kNoSlot) return;
  buffers_.release(f.buffer_slot);
  f.buffer_slot = kNoSlot;
}

void FlowInspector::fill_event_header(const Flow& f, AuditKind kind, uint64_t now_ns) {
  event_.kind = kind;
  event_.worker = config_.worker_id;
  event_.flow_id = f.id;
  event_.client = f.client();
  event_.server = f.server();
  event_.transport = f.key.protocol;
  event_.vlan = f.key.vlan;
  event_.start_ns = f.first_ns;
  event_.last_packet_ns = f.last_ns;
  event_.event_ns = now_ns;
  event_.first_flight = f.first_flight;
  event_.verdict = f.verdict;
  event_.anomalies = f.anomalies;
  event_.packets_to_server = f.packets_to_server;
  event_.packets_to_client = f.packets_to_client;
  event_.bytes_to_server = f.bytes_to_server;
  event_.bytes_to_client = f.bytes_to_client;
  event_.close_reason = CloseReason::kNone;
  event_.audit = f.audit;
  event_.quic_version = f.quic_version;
  event_.handoff = f.handoff;
}

void FlowInspector::publish() {
  ++stats_.audit_events;
  if (!sink_.publish(event_)) ++stats_.audit_dropped;
}

void FlowInspector::on_udp(uint32_t index, const ParsedPacket& p, bool from_client,
                           uint64_t now_ns) {
  Flow& f = flows_.at(index);
  if (!checksum_trusted(p)) {
    if (!f.judged) f.anomalies.add(Anomaly::kBadChecksumIgnored);
  } else if (f.judged) {
    if (from_client && f.quic_dcid_tag != 0) check_quic_after_verdict(f, p);
  } else if (!p.payload.empty()) {
    if (from_client) {
      on_client_datagram(f, p, now_ns);
    } else if (f.buffer_slot == kNoSlot) {
      f.server_sent_data = true;
      judge(f, FirstFlightKind::kServerFirst, nullptr, now_ns);
    }
    // A server datagram while the client's QUIC first flight is read changes nothing: inline,
    // the server has not seen the ClientHello yet; elsewhere it answers what we read too.
  }
  touch(index, now_ns);
}

// A client datagram of a UDP flow not yet judged. QUIC (a long header of a version we can read)
// is held and read until its ClientHello is complete; anything else is judged at once.
void FlowInspector::on_client_datagram(Flow& f, const ParsedPacket& p, uint64_t now_ns) {
  if (f.buffer_slot == kNoSlot) {
    if (!looks_like_quic_long_header(p.payload)) {
      judge(f, FirstFlightKind::kNonTls, nullptr, now_ns);
      return;
    }
    QuicPacketView first;
    if (parse_quic_packet(p.payload, first) != QuicParse::kOk || first.info == nullptr ||
        first.type != QuicPacketType::kInitial) {
      // Version Negotiation, a version we cannot read, or no Initial first: QUIC by its look,
      // without a name. A server answers an unknown version with Version Negotiation; the
      // client's next Initial, in a version we read, is judged as a connection of its own
      // (starts_new_quic_connection).
      f.quic_version = first.version;
      judge(f, FirstFlightKind::kQuic, nullptr, now_ns);
      return;
    }
    f.quic_dcid_tag = quic_dcid_tag(first.dcid, dcid_seed_);
    f.buffer_slot = buffers_.acquire(0);  // CRYPTO offsets start at 0
    if (f.buffer_slot == kNoSlot) {
      ++stats_.first_flight_buffers_exhausted;
      f.anomalies.add(Anomaly::kBuffersExhausted);
      f.quic_version = first.version;
      judge(f, FirstFlightKind::kIncomplete, nullptr, now_ns);
      return;
    }
    f.first_payload_ns = now_ns;
  } else if (config_.enforcement == EnforcementMode::kInline &&
             p.payload.size() >= kQuicMinInitialDatagram) {
    // Another connection's first Initial while this hello is read: it goes nowhere (its client
    // sends it again, and after this flow's verdict it starts a flow of its own).
    QuicPacketView v;
    if (parse_quic_packet(p.payload, v) == QuicParse::kOk && is_other_connections_initial(f, v)) {
      f.anomalies.add(Anomaly::kQuicOtherConnection);
      drop_current_as_decoy();
      return;
    }
  }
  // Inline, every client datagram waits for the verdict; one that cannot be held is dropped
  // unread (the client sends its Initials again).
  if (config_.enforcement == EnforcementMode::kInline && !hold_current(f)) return;

  f.client_ttl = std::max(f.client_ttl, p.ttl);
  FirstFlightPool::Slot& slot = buffers_.at(f.buffer_slot);
  const QuicDatagramResult r = quic_.read(p.payload, slot.quic, slot.stream);
  stats_.quic_initials_decrypted += r.initials;
  stats_.quic_initials_undecryptable += r.undecryptable;
  stats_.quic_other_packets += r.other_packets;
  if (r.short_datagram) ++stats_.quic_initials_small_datagram;
  f.anomalies.merge(r.anomalies);
  if (slot.quic.version != 0) f.quic_version = slot.quic.version;

  if (now_ns - f.first_payload_ns > config_.first_flight_time_cap_ns) {
    f.anomalies.add(Anomaly::kFirstFlightTimeout);
    judge_unfinished(f, now_ns);
    return;
  }
  try_judge_quic(f, now_ns);
}

// A client Initial of the judged connection (the DCID its verdict read) that travels further
// than every datagram that verdict read: those were fakes that die on the way (zapret's QUIC
// fake with a low TTL), and this one would reach the server unjudged. It carries ttl_decoy and,
// inline, goes nowhere; a client that insists stalls, and browsers then use TCP. Initials with
// another DCID are not this check's: the server's (after its first Initial, RFC 9000 7.2) stay
// with the flow, another connection's start a flow of their own (starts_new_quic_connection).
void FlowInspector::check_quic_after_verdict(Flow& f, const ParsedPacket& p) {
  QuicPacketView v;
  if (parse_quic_packet(p.payload, v) != QuicParse::kOk || v.type != QuicPacketType::kInitial) return;
  if (quic_dcid_tag(v.dcid, dcid_seed_) != f.quic_dcid_tag || p.ttl <= f.client_ttl) return;
  f.anomalies.add(Anomaly::kTtlDecoy);
  if (config_.enforcement == EnforcementMode::kInline) drop_current_as_decoy();
}

// The ClientHello from the contiguous CRYPTO data, as soon as all of it is there. Undecryptable
// Initials leave nothing to parse: the flow waits for good ones until its time cap
// (`incomplete`), since a server keeps waiting too.
void FlowInspector::try_judge_quic(Flow& f, uint64_t now_ns) {
  FirstFlightPool::Slot& slot = buffers_.at(f.buffer_slot);
  const ByteSpan stream = slot.stream.contiguous();
  if (stream.empty()) return;
  switch (parse_quic_client_hello(stream, hello_, ja4_cache_.get())) {
    case HelloStatus::kComplete:
    case HelloStatus::kMalformed:
    case HelloStatus::kNotTls:
      judge(f, FirstFlightKind::kQuic, &hello_, now_ns);
      return;
    case HelloStatus::kNeedMore:
      if (stream.size() >= slot.stream.capacity()) {
        f.anomalies.add(Anomaly::kFirstFlightByteCap);
        judge(f, FirstFlightKind::kIncomplete, nullptr, now_ns);
      }
      return;
  }
}

TimeoutClass FlowInspector::class_of(const Flow& f) const {
  if (f.key.protocol == kUdp)
    return !f.judged && f.buffer_slot != kNoSlot ? TimeoutClass::kFirstFlight : TimeoutClass::kUdp;
  if (f.client_fin || f.server_fin || f.drop_all) return TimeoutClass::kClosing;
  if (f.judged) return TimeoutClass::kEstablished;
  if (f.buffer_slot != kNoSlot) return TimeoutClass::kFirstFlight;
  return TimeoutClass::kHandshake;
}

uint32_t FlowInspector::expire(uint64_t now_ns, uint32_t max_flows) {
  fragments_.expire(now_ns, stats_);
  uint32_t done = 0;
  // First flights past their time cap: judged as incomplete, the flow lives on.
  for (uint32_t i = flows_.oldest(TimeoutClass::kFirstFlight); i != kNoFlow && done < max_flows;
       i = flows_.oldest(TimeoutClass::kFirstFlight), ++done) {
    Flow& f = flows_.at(i);
    if (now_ns - f.first_payload_ns <= config_.first_flight_time_cap_ns) break;
    f.anomalies.add(Anomaly::kFirstFlightTimeout);
    judge_unfinished(f, now_ns);
    const uint64_t last_packet = f.last_ns;
    flows_.touch(i, class_of(f), now_ns);  // into its new list now...
    f.last_ns = last_packet;               // ...but its last packet is still the one it had
  }
  for (uint8_t c = 0; c < static_cast<uint8_t>(TimeoutClass::kCount); ++c) {
    const auto cls = static_cast<TimeoutClass>(c);
    const uint64_t timeout = config_.timeouts.of(cls);
    for (uint32_t i = flows_.oldest(cls); i != kNoFlow && done < max_flows;
         i = flows_.oldest(cls), ++done) {
      const Flow& f = flows_.at(i);
      if (now_ns - f.lru_ns <= timeout) break;  // every flow behind it was placed later
      if (now_ns - f.last_ns <= timeout) {
        flows_.requeue(i, now_ns);  // active since it was placed: a second chance
        continue;
      }
      close_flow(i, (f.client_fin && f.server_fin) ? CloseReason::kFin : CloseReason::kIdle,
                 now_ns);
    }
  }
  return done;
}

uint32_t FlowInspector::close_some(uint64_t now_ns, uint32_t max_flows) {
  uint32_t closed = 0;
  for (uint8_t c = 0; c < static_cast<uint8_t>(TimeoutClass::kCount); ++c) {
    const auto cls = static_cast<TimeoutClass>(c);
    for (uint32_t i = flows_.oldest(cls); i != kNoFlow && closed < max_flows;
         i = flows_.oldest(cls), ++closed) {
      const Flow& f = flows_.at(i);
      close_flow(i, (f.client_fin && f.server_fin) ? CloseReason::kFin : CloseReason::kShutdown,
                 now_ns);
    }
  }
  return flows_.size();
}

}  // namespace sluice
