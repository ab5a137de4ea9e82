// The QUIC versions whose Initial packets sluice can read, and what differs between them: the
// Initial salt (RFC 9001 5.2, RFC 9369 3.3.1, the drafts), the HKDF labels (RFC 9369 3.3.2) and
// the long-header packet type bits (RFC 9369 3.2). Everything else about an Initial is the same.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice {

inline constexpr uint32_t kQuicVersion1 = 0x00000001;
inline constexpr uint32_t kQuicVersion2 = 0x6b3343cf;
inline constexpr uint32_t kQuicDraft29 = 0xff00001d;
inline constexpr uint32_t kQuicDraft34 = 0xff000022;
inline constexpr size_t kQuicSaltLength = 20;

enum class QuicPacketType : uint8_t {
  kInitial,
  kZeroRtt,
  kHandshake,
  kRetry,
  kVersionNegotiation,  // long header with version 0
  kShortHeader,         // 1-RTT
  kUnknownVersion,      // long header of a version we cannot read
};
std::string_view quic_packet_type_name(QuicPacketType type);

struct QuicVersionInfo {
  uint32_t version = 0;
  const uint8_t* salt = nullptr;  // kQuicSaltLength bytes
  std::string_view key_label;     // "quic key" / "quicv2 key"
  std::string_view iv_label;
  std::string_view hp_label;
  bool v2_packet_types = false;   // RFC 9369 3.2 numbering of the long-header types
};

// "v1", "v2", "draft-29" ... "draft-34", else "0x" and eight hex digits; `buf` holds the text.
std::string_view quic_version_name(uint32_t version, char (&buf)[12]);

// nullptr for a version whose Initial packets we cannot read (and for 0, Version Negotiation).
const QuicVersionInfo* quic_version_info(uint32_t version);

// The type of a long-header packet of a known version, from its first byte.
QuicPacketType quic_long_packet_type(const QuicVersionInfo& info, uint8_t first_byte);

// The first byte's type bits for `type` (kInitial .. kRetry) in this version: for builders.
uint8_t quic_long_type_bits(const QuicVersionInfo& info, QuicPacketType type);

}  // namespace sluice
