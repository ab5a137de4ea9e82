// Frames the inspector sends itself to carry out a block: a TCP reset (or a TLS alert followed
// by one) toward either end of a flow. Built from the flow's own Ethernet and VLAN headers, as
// seen on a client frame, so the reply leaves with the tags and addresses the segment uses.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/flow_key.h"

namespace sluice {

// Ethernet + up to two VLAN tags, ending with the IP ethertype.
inline constexpr size_t kMaxL2Header = 22;

struct L2Header {
  uint8_t bytes[kMaxL2Header] = {};
  uint8_t length = 0;  // 0: none captured (then no reply can be built)
};

struct TcpReply {
  Endpoint src;
  Endpoint dst;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  ByteSpan payload;
};

// Room for any reply the inspector builds (headers and a TLS alert).
inline constexpr size_t kMaxReplyFrame = kMaxL2Header + 40 + 20 + 16;

// Writes the frame into `out` and returns its length, or 0 when it does not fit or the L2 header
// is unusable. `swap_macs`: the header was taken from a frame going the other way.
size_t build_tcp_reply(const L2Header& l2, bool swap_macs, const TcpReply& reply, uint8_t* out,
                       size_t capacity);

// Room for the headers of any segment that can be stripped: the largest L2 header, IPv6 with
// 128 bytes of extension headers (or IPv4 with options), a TCP header with options.
inline constexpr size_t kMaxStrippedFrame = kMaxL2Header + 40 + 128 + 60;

struct ParsedPacket;

// Copies the L2, IP and TCP headers of `frame` (parsed into `p`, not rebuilt from fragments)
// without its TCP payload, with the IP length and the IPv4 and TCP checksums made right. Every
// option is kept: a TCP Fast Open SYN stays a TFO SYN with its cookie, and only its data is
// gone, so the client sends that data again after the handshake (RFC 7413 section 4.2.2).
// Returns the new frame's length, or 0 when the headers do not fit in `capacity`.
size_t strip_tcp_payload(ByteSpan frame, const ParsedPacket& p, uint8_t* out, size_t capacity);

// A TLS fatal alert record (RFC 8446 6.2): access_denied, the policy refused the connection.
inline constexpr uint8_t kTlsAccessDeniedAlert[7] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 49};

}  // namespace sluice
