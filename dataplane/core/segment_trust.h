// Would the receiver accept this segment? The rules a middlebox must share with the endpoints so
// that the bytes it judges are the bytes the server gets. Evasion tools send "fake" segments
// that the middlebox sees but the server drops (low TTL, bad checksum, wrong ACK, MD5 option, old
// timestamp, outside the window) ahead of or around the real ones; each such segment is refused
// here with the anomaly that names the trick. Pure functions over the flow and the packet.
#pragma once

#include "dataplane/core/anomaly.h"
#include "dataplane/core/flow.h"
#include "dataplane/core/packet.h"

namespace sluice {

struct SegmentTrust {
  bool accept = true;
  Anomaly reason = Anomaly::kCount;  // set when !accept

  static SegmentTrust ok() { return {}; }
  static SegmentTrust refuse(Anomaly why) { return {false, why}; }
};

// Sequence numbers, acknowledgements and windows are tracked only while the first flight is
// watched (not judged yet, or judged bytes not yet acknowledged); afterwards they are stale, and
// only the checks that need no sequence state apply.
inline bool tracking_sequence_space(const Flow& f) { return !f.judged || f.buffer_slot != kNoSlot; }

// A non-SYN segment from the client, as the server would see it after the handshake.
SegmentTrust client_segment_trust(const Flow& f, const ParsedPacket& p);

// A non-SYN segment from the server.
SegmentTrust server_segment_trust(const Flow& f, const ParsedPacket& p);

// A RST is honoured only at the receiver's next sequence number (RFC 5961 3.2, as Linux does:
// anywhere else in the window it gets a challenge ACK and the connection goes on): a blind or
// fake RST must not end the flow in our eyes while it goes on for real. The next number is the
// receiver's last acknowledgement, or the sender's next byte when its data is in flight.
bool rst_acceptable(const Flow& f, const ParsedPacket& p, bool from_client);

}  // namespace sluice
