#include "dataplane/core/quic_packet.h"

namespace sluice {

bool read_quic_varint(ByteReader& r, uint64_t& value) {
  uint8_t first;
  if (!r.u8(first)) return false;
  const size_t extra = (size_t{1} << (first >> 6)) - 1;
  if (r.remaining() < extra) return false;
  ByteSpan rest;
  r.bytes(extra, rest);
  value = first & 0x3f;
  for (uint8_t b : rest) value = (value << 8) | b;
  return true;
}

QuicParse parse_quic_packet(ByteSpan datagram, QuicPacketView& out) {
  out = QuicPacketView{};
  ByteReader r(datagram);
  uint8_t first;
  if (!r.u8(first)) return QuicParse::kNotQuic;
  if ((first & 0x80) == 0) {
    out.type = QuicPacketType::kShortHeader;
    out.packet = datagram;
    return QuicParse::kNotQuic;
  }
  uint32_t version;
  uint8_t dcid_length, scid_length;
  if (!r.u32(version) || !r.u8(dcid_length) || !r.bytes(dcid_length, out.dcid) ||
      !r.u8(scid_length) || !r.bytes(scid_length, out.scid))
    return QuicParse::kMalformed;
  out.version = version;
  out.packet = datagram;
  if (version == 0) {
    out.type = QuicPacketType::kVersionNegotiation;
    return QuicParse::kOk;
  }
  out.info = quic_version_info(version);
  if (out.info == nullptr) {
    out.type = QuicPacketType::kUnknownVersion;
    return QuicParse::kOk;
  }
  // Versions we know cap connection IDs at 20 bytes and always set the fixed bit.
  if (dcid_length > kQuicMaxCidLength || scid_length > kQuicMaxCidLength || (first & 0x40) == 0)
    return QuicParse::kMalformed;
  out.type = quic_long_packet_type(*out.info, first);
  if (out.type == QuicPacketType::kRetry) return QuicParse::kOk;  // no length: the rest
  if (out.type == QuicPacketType::kInitial) {
    uint64_t token_length;
    if (!read_quic_varint(r, token_length) || token_length > r.remaining() ||
        !r.bytes(static_cast<size_t>(token_length), out.token))
      return QuicParse::kMalformed;
  }
  uint64_t length;
  if (!read_quic_varint(r, length) || length > r.remaining()) return QuicParse::kMalformed;
  out.pn_offset = r.position();
  out.packet = datagram.first(out.pn_offset + static_cast<size_t>(length));
  return QuicParse::kOk;
}

}  // namespace sluice
