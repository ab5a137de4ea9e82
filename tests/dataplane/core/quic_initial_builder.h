// Builds protected QUIC client Initial packets for tests: frames in, an encrypted packet out
// (AES-128-GCM and header protection with the Initial keys of the chosen version and DCID).
// Test-only code: it allocates freely. The key schedule is the product's (checked against the
// RFC vectors in quic_initial_crypto_test.cc); the sealing is written here, so decryption is
// tested against an independent encryption.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "dataplane/core/quic_version.h"
#include "tests/dataplane/core/client_hello_builder.h"

namespace sluice::test {

// Frames, concatenated into a plaintext payload.
Bytes quic_varint(uint64_t value);
Bytes quic_crypto_frame(uint64_t offset, const Bytes& data);
Bytes quic_padding(size_t n);
Bytes quic_ping();
Bytes quic_ack(uint64_t largest);
Bytes quic_frame_of_type(uint64_t type);  // a bare frame type byte (e.g. STREAM 0x08)

// The DCID of the RFC 9001 / RFC 9369 examples.
inline constexpr uint8_t kRfcExampleDcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};

struct QuicInitialSpec {
  uint32_t version = kQuicVersion1;
  uint8_t first_byte_low_bits = 0x03;  // reserved bits 0, packet number length 4
  Bytes dcid = Bytes(std::begin(kRfcExampleDcid), std::end(kRfcExampleDcid));
  Bytes key_dcid;  // the DCID the keys come from; empty: `dcid`
  Bytes scid;
  Bytes token;
  uint32_t packet_number = 0;
  Bytes frames;    // plaintext payload
  // PADDING is appended until the packet is this long (a client's Initial datagram is >= 1200).
  size_t pad_packet_to = 1200;
};

Bytes build_quic_initial(const QuicInitialSpec& spec);

// A long-header packet of another type (0-RTT, Handshake) with random-looking protected bytes:
// recognised and skipped by the reader, never decrypted.
Bytes build_quic_long_packet(uint32_t version, QuicPacketType type, const Bytes& dcid,
                             size_t payload_length);

// The CRYPTO stream of a QUIC client: the ClientHello handshake message (no records), with the
// QUIC transport parameters extension (0x39) added.
Bytes quic_client_hello(const std::string& sni, const std::vector<std::string>& alpn = {"h3"},
                        size_t pad_message_to = 0);

// Splits `stream` into CRYPTO frames of at most `chunk` bytes, in offset order.
std::vector<Bytes> quic_crypto_frames(const Bytes& stream, size_t chunk);

// Hex text to bytes (spaces ignored), for RFC vectors.
Bytes from_hex(const std::string& hex);

}  // namespace sluice::test
