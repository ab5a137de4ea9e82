// QUIC packet headers as they appear on the wire (RFC 9000 17), read without decrypting: the
// invariant long header (RFC 8999), then the Initial's token and length. Coalesced packets in
// one datagram (RFC 9000 12.2) are walked with quic_next_packet(). Pure functions over spans.
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/quic_version.h"

namespace sluice {

inline constexpr size_t kQuicMaxCidLength = 20;  // RFC 9000 17.2, for versions we know

// A QUIC variable-length integer (RFC 9000 16). False when it does not fit in `r`.
bool read_quic_varint(ByteReader& r, uint64_t& value);

struct QuicPacketView {
  QuicPacketType type = QuicPacketType::kShortHeader;
  uint32_t version = 0;
  const QuicVersionInfo* info = nullptr;  // null: unknown version, VN or short header
  ByteSpan dcid;
  ByteSpan scid;
  ByteSpan token;            // Initial only
  ByteSpan packet;           // the whole packet, header to end (the rest of the datagram when
                             // the packet has no length field)
  size_t pn_offset = 0;      // Initial, 0-RTT, Handshake: where the packet number starts
};

enum class QuicParse : uint8_t {
  kOk,
  kNotQuic,     // not a long header (or a short one): nothing further can be read
  kMalformed,   // a long header whose fields do not fit the datagram
};

// Reads the packet at the start of `datagram`. For long-header packets of a known version with a
// length field, `packet` ends where the length says; for the rest it runs to the datagram's end.
QuicParse parse_quic_packet(ByteSpan datagram, QuicPacketView& out);

// Quick test on a datagram's first bytes: a long header with the fixed bit (RFC 9000 17.2). Only
// a hint; parse_quic_packet() decides.
inline bool looks_like_quic_long_header(ByteSpan payload) {
  return payload.size() >= 7 && (payload[0] & 0xc0) == 0xc0;
}

}  // namespace sluice
