#include "dataplane/core/quic_initial_reader.h"

#include "dataplane/core/quic_frames.h"

namespace sluice {
namespace {

constexpr size_t kMaxUdpPayload = 65535;
// Packets read from one datagram at most: each takes at least 7 header bytes, so a 1500-byte
// datagram holds far fewer; the bound only keeps a jumbo datagram of junk linear.
constexpr int kMaxPacketsPerDatagram = 64;
constexpr uint64_t kMaxCryptoOffset = uint64_t{1} << 31;  // StreamAssembler's sequence space

}  // namespace

QuicInitialReader::QuicInitialReader() : plain_(kMaxUdpPayload) {}

QuicDatagramResult QuicInitialReader::read(ByteSpan datagram, QuicFlightState& state,
                                           StreamAssembler& crypto) {
  QuicDatagramResult result;
  ByteSpan rest = datagram;
  for (int i = 0; i < kMaxPacketsPerDatagram && !rest.empty(); ++i) {
    QuicPacketView packet;
    const QuicParse parsed = parse_quic_packet(rest, packet);
    if (parsed == QuicParse::kNotQuic) {
      // A short-header packet runs to the end of the datagram; the first byte of a datagram that
      // is not a long header means it is not a client's first flight at all.
      if (i > 0) ++result.other_packets;
      break;
    }
    if (parsed == QuicParse::kMalformed) {
      if (i > 0 || packet.info != nullptr) result.anomalies.add(Anomaly::kQuicUndecryptable);
      if (packet.info != nullptr) result.quic = true;
      break;
    }
    if (i == 0) {
      result.version = packet.version;
      result.quic = packet.info != nullptr || packet.type == QuicPacketType::kVersionNegotiation;
    }
    if (packet.type == QuicPacketType::kInitial) {
      if (datagram.size() < kQuicMinInitialDatagram) {
        result.short_datagram = true;
      } else {
        read_initial(packet, state, crypto, result);
      }
    } else {
      ++result.other_packets;
    }
    rest = rest.subspan(packet.packet.size());
  }
  return result;
}

bool QuicInitialReader::opens_under_own_keys(const QuicPacketView& packet) {
  if (packet.type != QuicPacketType::kInitial || packet.info == nullptr) return false;
  if (!crypto_.derive_client_keys(*packet.info, packet.dcid, trial_keys_)) return false;
  ByteSpan payload;
  uint32_t packet_number = 0;
  return crypto_.open(trial_keys_, packet, plain_, payload, packet_number) == QuicOpen::kOk;
}

void QuicInitialReader::read_initial(const QuicPacketView& packet, QuicFlightState& state,
                                     StreamAssembler& crypto, QuicDatagramResult& result) {
  if (!state.keys_ready) {
    // The first Initial of the flow fixes the version and the keys (RFC 9001 5.2).
    if (!crypto_.derive_client_keys(*packet.info, packet.dcid, state.keys)) {
      ++result.undecryptable;
      result.anomalies.add(Anomaly::kQuicUndecryptable);
      return;
    }
    state.keys_ready = true;
    state.version = packet.version;
  } else if (packet.version != state.version) {
    // Another version after the first: not this connection's Initial (a server would not
    // accept it under the keys it has either).
    ++result.undecryptable;
    result.anomalies.add(Anomaly::kQuicUndecryptable);
    return;
  }
  ByteSpan payload;
  uint32_t packet_number = 0;
  if (crypto_.open(state.keys, packet, plain_, payload, packet_number) != QuicOpen::kOk) {
    ++result.undecryptable;
    result.anomalies.add(Anomaly::kQuicUndecryptable);
    return;
  }
  ++result.initials;
  const QuicFrames walked = walk_initial_frames(payload, [&](const QuicCryptoFrame& frame) {
    if (frame.offset >= kMaxCryptoOffset || frame.offset + frame.data.size() > kMaxCryptoOffset) {
      result.anomalies.add(Anomaly::kFirstFlightByteCap);
      return;
    }
    const StreamAssembler::AddResult added =
        crypto.add(static_cast<uint32_t>(frame.offset), frame.data);
    if (added.conflict) result.anomalies.add(Anomaly::kOverlapConflict);
    if (added.beyond_cap) result.anomalies.add(Anomaly::kFirstFlightByteCap);
  });
  if (walked == QuicFrames::kUnexpected) result.anomalies.add(Anomaly::kQuicUnexpectedFrame);
  if (walked == QuicFrames::kMalformed) result.anomalies.add(Anomaly::kQuicUndecryptable);
}

}  // namespace sluice
