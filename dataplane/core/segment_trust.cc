#include "dataplane/core/segment_trust.h"

#include "dataplane/core/stream_assembler.h"

namespace sluice {
namespace {

// Shared by both directions: checks that do not depend on sequence space.
SegmentTrust common_checks(const ParsedPacket& p, uint8_t handshake_ttl, bool signature_allowed) {
  // A fake that must die before the server (zapret/GoodbyeDPI "ttl" fakes) carries a lower TTL
  // than the endpoint's own packets, which all travel the same path.
  if (handshake_ttl != 0 && p.ttl < handshake_ttl) return SegmentTrust::refuse(Anomaly::kTtlDecoy);
  // A receiver without the MD5/AO key drops signed segments: zapret's "md5sig" fakes.
  if (p.tcp_options.signature && !signature_allowed)
    return SegmentTrust::refuse(Anomaly::kSignatureDecoy);
  return SegmentTrust::ok();
}

// A FIN that ends before the receiver's next byte is an old duplicate to it: Linux drops a
// segment that ends at or before rcv_nxt (it only answers with an ACK). Taken as the end of the
// stream it would let a fake close the flow in our eyes while it goes on for real.
bool fin_left_of_window(const ParsedPacket& p, uint32_t receiver_acked) {
  if (!(p.tcp_flags & kTcpFin)) return false;
  const uint32_t end = p.seq + static_cast<uint32_t>(p.payload.size()) + 1;
  return seq_lt(end, receiver_acked);
}

}  // namespace

SegmentTrust client_segment_trust(const Flow& f, const ParsedPacket& p) {
  if (SegmentTrust t = common_checks(p, f.client_ttl, f.client_signature); !t.accept) return t;
  if ((p.tcp_flags & kTcpRst) || !tracking_sequence_space(f)) return SegmentTrust::ok();
  if (f.saw_server_synack) {
    // After the handshake every segment must carry an ACK of data the server really sent
    // (Linux drops both the ACK-less segment and the "ACK of unsent data"): zapret's badack.
    if (!(p.tcp_flags & kTcpAck)) return SegmentTrust::refuse(Anomaly::kBadAck);
    if (seq_lt(p.ack, f.server_isn + 1) || seq_lt(f.server_snd_max, p.ack))
      return SegmentTrust::refuse(Anomaly::kBadAck);
  }
  // PAWS (RFC 7323 5): a timestamp older than one already accepted is dropped.
  if (f.timestamps && p.tcp_options.has_timestamps && seq_lt(p.tcp_options.ts_val, f.client_ts_recent))
    return SegmentTrust::refuse(Anomaly::kPawsDecoy);
  // Data beyond the right edge of the server's window is not accepted (also in a zero window).
  if (f.server_ack_valid &&
      seq_lt(f.server_ack + f.server_window, p.seq + static_cast<uint32_t>(p.payload.size())))
    return SegmentTrust::refuse(Anomaly::kOutOfWindow);
  if (f.server_ack_valid && fin_left_of_window(p, f.server_ack))
    return SegmentTrust::refuse(Anomaly::kOutOfWindow);
  return SegmentTrust::ok();
}

SegmentTrust server_segment_trust(const Flow& f, const ParsedPacket& p) {
  if (SegmentTrust t = common_checks(p, f.server_ttl, f.client_signature); !t.accept) return t;
  if ((p.tcp_flags & kTcpRst) || !tracking_sequence_space(f)) return SegmentTrust::ok();
  if (f.client_ack_valid &&
      seq_lt(f.client_ack + f.client_window, p.seq + static_cast<uint32_t>(p.payload.size())))
    return SegmentTrust::refuse(Anomaly::kOutOfWindow);
  if (f.client_ack_valid && fin_left_of_window(p, f.client_ack))
    return SegmentTrust::refuse(Anomaly::kOutOfWindow);
  return SegmentTrust::ok();
}

bool rst_acceptable(const Flow& f, const ParsedPacket& p, bool from_client) {
  if (!tracking_sequence_space(f)) return true;  // sequence numbers are no longer tracked
  const bool known = from_client ? f.server_ack_valid : f.client_ack_valid;
  if (!known) return true;  // nothing to hold it to (e.g. a refused SYN)
  // Where the receiver's next byte is: what it acknowledged last, or, with the sender's bytes
  // in flight, one past the last of them.
  const uint32_t acked = from_client ? f.server_ack : f.client_ack;
  const uint32_t sent = from_client ? f.client_snd_max : f.server_snd_max;
  return p.seq == acked || p.seq == sent;
}

}  // namespace sluice
