#include "dataplane/core/tcp_reply.h"

#include <cstring>

#include "dataplane/core/inet_checksum.h"
#include "dataplane/core/packet.h"

namespace sluice {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint8_t kReplyTtl = 64;
constexpr uint8_t kTcp = 6;

}  // namespace

size_t build_tcp_reply(const L2Header& l2, bool swap_macs, const TcpReply& reply, uint8_t* out,
                       size_t capacity) {
  if (l2.length < 14 || l2.length > kMaxL2Header) return 0;
  const bool v4 = reply.src.ip.is_v4();
  if (v4 != reply.dst.ip.is_v4()) return 0;
  const uint16_t ethertype = load_be16(l2.bytes + l2.length - 2);
  if (ethertype != (v4 ? kEtherIpv4 : kEtherIpv6)) return 0;
  const size_t ip_length = v4 ? 20 : 40;
  const size_t tcp_length = 20 + reply.payload.size();
  const size_t total = l2.length + ip_length + tcp_length;
  if (total > capacity) return 0;

  std::memcpy(out, l2.bytes, l2.length);
  if (swap_macs) {
    std::memcpy(out, l2.bytes + 6, 6);
    std::memcpy(out + 6, l2.bytes, 6);
  }
  uint8_t* ip = out + l2.length;
  if (v4) {
    ip[0] = 0x45;
    ip[1] = 0;
    store_be16(ip + 2, static_cast<uint16_t>(ip_length + tcp_length));
    store_be16(ip + 4, 0);       // identification
    store_be16(ip + 6, 0x4000);  // don't fragment
    ip[8] = kReplyTtl;
    ip[9] = kTcp;
    store_be16(ip + 10, 0);
    std::memcpy(ip + 12, reply.src.ip.bytes.data() + 12, 4);
    std::memcpy(ip + 16, reply.dst.ip.bytes.data() + 12, 4);
    store_be16(ip + 10, static_cast<uint16_t>(~checksum_add(0, ByteSpan(ip, 20))));
  } else {
    store_be32(ip, 0x60000000);
    store_be16(ip + 4, static_cast<uint16_t>(tcp_length));
    ip[6] = kTcp;
    ip[7] = kReplyTtl;
    std::memcpy(ip + 8, reply.src.ip.bytes.data(), 16);
    std::memcpy(ip + 24, reply.dst.ip.bytes.data(), 16);
  }
  uint8_t* tcp = ip + ip_length;
  store_be16(tcp, reply.src.port);
  store_be16(tcp + 2, reply.dst.port);
  store_be32(tcp + 4, reply.seq);
  store_be32(tcp + 8, reply.ack);
  tcp[12] = 5 << 4;  // 20-byte header, no options
  tcp[13] = reply.flags;
  store_be16(tcp + 14, reply.window);
  store_be16(tcp + 16, 0);
  store_be16(tcp + 18, 0);
  if (!reply.payload.empty()) std::memcpy(tcp + 20, reply.payload.data(), reply.payload.size());
  uint32_t sum = pseudo_header_sum(reply.src.ip, reply.dst.ip, !v4, kTcp,
                                   static_cast<uint32_t>(tcp_length));
  sum = checksum_add(sum, ByteSpan(tcp, tcp_length));
  store_be16(tcp + 16, static_cast<uint16_t>(~sum));
  return total;
}

size_t strip_tcp_payload(ByteSpan frame, const ParsedPacket& p, uint8_t* out, size_t capacity) {
  if (p.l4_protocol != kTcp || p.l4.size() < 20 || p.l4_offset < p.l3_offset) return 0;
  const size_t tcp_length = static_cast<size_t>(p.l4[12] >> 4) * 4;
  const size_t total = p.l4_offset + tcp_length;
  if (tcp_length < 20 || tcp_length > p.l4.size() || total > capacity || total > frame.size())
    return 0;
  // The parsed L4 span must be this frame's own bytes (not a buffer rebuilt from fragments).
  if (p.l4.data() != frame.data() + p.l4_offset) return 0;
  std::memcpy(out, frame.data(), total);
  uint8_t* ip = out + p.l3_offset;
  const size_t l3_header = p.l4_offset - p.l3_offset;
  if (p.ip_version == 4) {
    if (l3_header < 20) return 0;
    store_be16(ip + 2, static_cast<uint16_t>(l3_header + tcp_length));
    store_be16(ip + 10, 0);
    store_be16(ip + 10, static_cast<uint16_t>(~checksum_add(0, ByteSpan(ip, l3_header))));
  } else {
    if (l3_header < 40) return 0;
    store_be16(ip + 4, static_cast<uint16_t>(l3_header - 40 + tcp_length));
  }
  uint8_t* tcp = out + p.l4_offset;
  store_be16(tcp + 16, 0);
  uint32_t sum = pseudo_header_sum(p.src, p.dst, p.ip_version == 6, kTcp,
                                   static_cast<uint32_t>(tcp_length));
  sum = checksum_add(sum, ByteSpan(tcp, tcp_length));
  store_be16(tcp + 16, static_cast<uint16_t>(~sum));
  return total;
}

}  // namespace sluice
