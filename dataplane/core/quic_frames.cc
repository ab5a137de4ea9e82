#include "dataplane/core/quic_frames.h"

namespace sluice::quic_frames_detail {

// ACK (RFC 9000 19.3): largest, delay, range count, first range, then gap/length pairs, then
// three ECN counts for type 0x03.
bool skip_ack(ByteReader& r, bool ecn) {
  uint64_t largest, delay, ranges, first;
  if (!read_quic_varint(r, largest) || !read_quic_varint(r, delay) ||
      !read_quic_varint(r, ranges) || !read_quic_varint(r, first))
    return false;
  // Each range takes at least two bytes: a count beyond that cannot be honest.
  if (ranges > r.remaining() / 2) return false;
  for (uint64_t i = 0; i < ranges; ++i) {
    uint64_t gap, length;
    if (!read_quic_varint(r, gap) || !read_quic_varint(r, length)) return false;
  }
  if (ecn) {
    uint64_t ect0, ect1, ce;
    if (!read_quic_varint(r, ect0) || !read_quic_varint(r, ect1) || !read_quic_varint(r, ce))
      return false;
  }
  return true;
}

// CONNECTION_CLOSE of the transport (RFC 9000 19.19): error code, frame type, reason phrase.
bool skip_connection_close(ByteReader& r) {
  uint64_t code, frame_type, reason_length;
  return read_quic_varint(r, code) && read_quic_varint(r, frame_type) &&
         read_quic_varint(r, reason_length) && reason_length <= r.remaining() &&
         r.skip(static_cast<size_t>(reason_length));
}

}  // namespace sluice::quic_frames_detail
