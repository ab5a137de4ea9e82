#include "dataplane/core/quic_version.h"

#include <cstdio>

namespace sluice {
namespace {

// RFC 9001 5.2; drafts 33 and 34 already used it.
constexpr uint8_t kSaltV1[kQuicSaltLength] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34,
                                              0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                                              0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
// RFC 9369 3.3.1.
constexpr uint8_t kSaltV2[kQuicSaltLength] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6,
                                              0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                                              0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
// draft-ietf-quic-tls-29 to -32.
constexpr uint8_t kSaltDraft29[kQuicSaltLength] = {0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2,
                                                   0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61,
                                                   0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99};

constexpr QuicVersionInfo kV1{kQuicVersion1, kSaltV1, "quic key", "quic iv", "quic hp", false};
constexpr QuicVersionInfo kV2{kQuicVersion2, kSaltV2, "quicv2 key", "quicv2 iv", "quicv2 hp",
                              true};
constexpr QuicVersionInfo kDrafts[] = {
    {0xff00001d, kSaltDraft29, "quic key", "quic iv", "quic hp", false},
    {0xff00001e, kSaltDraft29, "quic key", "quic iv", "quic hp", false},
    {0xff00001f, kSaltDraft29, "quic key", "quic iv", "quic hp", false},
    {0xff000020, kSaltDraft29, "quic key", "quic iv", "quic hp", false},
    {0xff000021, kSaltV1, "quic key", "quic iv", "quic hp", false},
    {0xff000022, kSaltV1, "quic key", "quic iv", "quic hp", false},
};

}  // namespace

std::string_view quic_packet_type_name(QuicPacketType type) {
  switch (type) {
    case QuicPacketType::kInitial: return "initial";
    case QuicPacketType::kZeroRtt: return "0rtt";
    case QuicPacketType::kHandshake: return "handshake";
    case QuicPacketType::kRetry: return "retry";
    case QuicPacketType::kVersionNegotiation: return "version_negotiation";
    case QuicPacketType::kShortHeader: return "short_header";
    case QuicPacketType::kUnknownVersion: return "unknown_version";
  }
  return "unknown";
}

std::string_view quic_version_name(uint32_t version, char (&buf)[12]) {
  if (version == kQuicVersion1) return "v1";
  if (version == kQuicVersion2) return "v2";
  int n;
  if (version >= kQuicDraft29 && version <= kQuicDraft34) {
    n = std::snprintf(buf, sizeof(buf), "draft-%u", version & 0xff);
  } else {
    n = std::snprintf(buf, sizeof(buf), "0x%08x", version);
  }
  return {buf, n > 0 ? static_cast<size_t>(n) : 0};
}

const QuicVersionInfo* quic_version_info(uint32_t version) {
  if (version == kQuicVersion1) return &kV1;
  if (version == kQuicVersion2) return &kV2;
  if (version >= kQuicDraft29 && version <= kQuicDraft34) return &kDrafts[version - kQuicDraft29];
  return nullptr;
}

QuicPacketType quic_long_packet_type(const QuicVersionInfo& info, uint8_t first_byte) {
  const uint8_t bits = (first_byte >> 4) & 0x3;
  if (info.v2_packet_types) {
    // RFC 9369 3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00.
    constexpr QuicPacketType kV2Types[4] = {QuicPacketType::kRetry, QuicPacketType::kInitial,
                                            QuicPacketType::kZeroRtt, QuicPacketType::kHandshake};
    return kV2Types[bits];
  }
  constexpr QuicPacketType kV1Types[4] = {QuicPacketType::kInitial, QuicPacketType::kZeroRtt,
                                          QuicPacketType::kHandshake, QuicPacketType::kRetry};
  return kV1Types[bits];
}

uint8_t quic_long_type_bits(const QuicVersionInfo& info, QuicPacketType type) {
  for (uint8_t bits = 0; bits < 4; ++bits)
    if (quic_long_packet_type(info, static_cast<uint8_t>(bits << 4)) == type) return bits;
  return 0;
}

}  // namespace sluice
