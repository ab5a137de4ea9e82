// The frames of a decrypted client Initial (RFC 9000 12.4, 19): CRYPTO data is handed to the
// caller; PADDING, PING, ACK and CONNECTION_CLOSE are allowed there and skipped (a client's first
// Initial has no ACK, but later Initials acknowledge the server's); any other frame type is a
// protocol violation a server closes the connection for, and ends the walk.
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"

namespace sluice {

struct QuicCryptoFrame {
  uint64_t offset = 0;
  ByteSpan data;
};

enum class QuicFrames : uint8_t {
  kOk,          // every frame read
  kUnexpected,  // a frame type not allowed in an Initial packet; walk stopped there
  kMalformed,   // a frame ran past the payload; walk stopped there
};

// Calls on_crypto(const QuicCryptoFrame&) for each CRYPTO frame, in packet order. Linear in the
// payload: every frame consumes at least one byte, and PADDING runs are skipped in bulk.
template <typename Fn>
QuicFrames walk_initial_frames(ByteSpan payload, Fn&& on_crypto);

// --- implementation ------------------------------------------------------------------------

bool read_quic_varint(ByteReader& r, uint64_t& value);  // quic_packet.h

namespace quic_frames_detail {
constexpr uint64_t kPadding = 0x00;
constexpr uint64_t kPing = 0x01;
constexpr uint64_t kAck = 0x02;
constexpr uint64_t kAckEcn = 0x03;
constexpr uint64_t kCrypto = 0x06;
constexpr uint64_t kConnectionClose = 0x1c;

bool skip_ack(ByteReader& r, bool ecn);
bool skip_connection_close(ByteReader& r);
}  // namespace quic_frames_detail

template <typename Fn>
QuicFrames walk_initial_frames(ByteSpan payload, Fn&& on_crypto) {
  using namespace quic_frames_detail;
  ByteReader r(payload);
  while (!r.empty()) {
    uint64_t type;
    if (!read_quic_varint(r, type)) return QuicFrames::kMalformed;
    switch (type) {
      case kPadding: {
        // Runs of PADDING fill most of every Initial: skip them without a loop per byte.
        const ByteSpan rest = r.rest();
        size_t n = 0;
        while (n < rest.size() && rest[n] == 0) ++n;
        r.skip(n);
        break;
      }
      case kPing:
        break;
      case kAck:
      case kAckEcn:
        if (!skip_ack(r, type == kAckEcn)) return QuicFrames::kMalformed;
        break;
      case kConnectionClose:
        if (!skip_connection_close(r)) return QuicFrames::kMalformed;
        break;
      case kCrypto: {
        QuicCryptoFrame frame;
        uint64_t length;
        if (!read_quic_varint(r, frame.offset) || !read_quic_varint(r, length) ||
            length > r.remaining() || !r.bytes(static_cast<size_t>(length), frame.data))
          return QuicFrames::kMalformed;
        on_crypto(frame);
        break;
      }
      default:
        return QuicFrames::kUnexpected;
    }
  }
  return QuicFrames::kOk;
}

}  // namespace sluice
