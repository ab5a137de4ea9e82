#include "dataplane/core/packet.h"

#include <cstring>
#include <type_traits>

#include "dataplane/core/inet_checksum.h"

namespace sluice {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
// Pre-802.1ad QinQ TPID still emitted by some switches; treated like 0x88a8.
constexpr uint16_t kEtherQinQLegacy = 0x9100;
constexpr uint8_t kMaxVlanTags = 2;

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoNoNext = 59;
constexpr uint8_t kProtoDestOpts = 60;
// Real stacks send one to three; more is either a bug or an attempt to push the L4 header out
// of reach of a middlebox.
constexpr int kMaxIpv6ExtensionHeaders = 8;

constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 section 2.3
constexpr uint16_t kTfoExperimentMagic = 0xF989;

ParseResult status(ParseStatus s) { return {s, Malformed::kCount}; }

// `out = ParsedPacket{}` for every packet, as vector stores: written plainly, GCC makes it a
// `rep stos`, whose start-up cost alone was a third of parse_frame's time on established flows.
void reset(ParsedPacket& out) {
  static_assert(std::is_trivially_copyable_v<ParsedPacket>);
  static const ParsedPacket fresh{};
  constexpr size_t words = sizeof(ParsedPacket) / 8;
  char* to = reinterpret_cast<char*>(&out);
  const char* from = reinterpret_cast<const char*>(&fresh);
#pragma GCC unroll 64
  for (size_t i = 0; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, from + 8 * i, 8);
    std::memcpy(to + 8 * i, &w, 8);
  }
  if constexpr (sizeof(ParsedPacket) % 8 != 0)
    std::memcpy(to + 8 * words, from + 8 * words, sizeof(ParsedPacket) % 8);
}
ParseResult malformed(Malformed reason) { return {ParseStatus::kMalformed, reason}; }

// Classifies a TCP/UDP checksum. `l4` is the whole L4 datagram including the stored checksum.
ChecksumState classify_checksum(const ParsedPacket& p, uint8_t protocol, ByteSpan l4,
                                uint16_t stored) {
  bool v6 = p.ip_version == 6;
  uint32_t length = static_cast<uint32_t>(l4.size());
  uint16_t pseudo = pseudo_header_sum(p.src, p.dst, v6, protocol, length);
  // A correct checksum makes the sum over pseudo-header and segment all ones.
  if (checksum_fold(checksum_add(pseudo, l4)) == 0xffff) return ChecksumState::kValid;
  // TX offload captured on the sending host (or on a veth, where no NIC ever finishes it):
  // Linux stores ~csum_tcpudp_magic(...), the folded pseudo-header sum, not complemented.
  // The complemented form is accepted too, for stacks that store it that way.
  if (stored == pseudo || stored == static_cast<uint16_t>(~pseudo)) {
    return ChecksumState::kOffloadPartial;
  }
  return ChecksumState::kInvalid;
}

// Walks TCP options. Returns false on a length that is impossible or wrong for its kind.
bool parse_tcp_options(ByteSpan options, TcpOptions& out) {
  size_t i = 0;
  while (i < options.size()) {
    uint8_t kind = options[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return false;
    uint8_t len = options[i + 1];
    if (len < 2 || i + len > options.size()) return false;
    const uint8_t* body = options.data() + i + 2;
    switch (kind) {
      case 2:  // MSS
        if (len != 4) return false;
        out.mss = load_be16(body);
        break;
      case 3:  // window scale
        if (len != 3) return false;
        out.window_scale = static_cast<int8_t>(body[0] > kMaxWindowScale ? kMaxWindowScale
                                                                         : body[0]);
        break;
      case 4:  // SACK permitted
        if (len != 2) return false;
        out.sack_permitted = true;
        break;
      case 5:  // SACK blocks
        if ((len - 2) % 8 != 0) return false;
        break;
      case 8:  // timestamps
        if (len != 10) return false;
        out.has_timestamps = true;
        out.ts_val = load_be32(body);
        out.ts_ecr = load_be32(body + 4);
        break;
      case 34:  // TCP Fast Open (RFC 7413): empty (cookie request) or a 4-16 byte cookie
        if (len != 2 && (len < 6 || len > 18)) return false;
        out.fast_open = true;
        out.fast_open_cookie = len > 2;
        break;
      case 254:  // experimental (RFC 6994); 0xF989 is the pre-RFC TFO experiment
        if (len >= 4 && load_be16(body) == kTfoExperimentMagic) {
          out.fast_open = true;
          out.fast_open_cookie = len > 4;
        }
        break;
      case 19:  // TCP MD5 signature (RFC 2385)
      case 29:  // TCP Authentication Option (RFC 5925)
        out.signature = true;
        break;
      default:
        break;  // unknown kinds are skipped by their length, as a receiver would
    }
    i += len;
  }
  return true;
}

}  // namespace

ChecksumState check_l4_checksum(const ParsedPacket& p) {
  if (p.l4_protocol == kProtoTcp && p.l4.size() >= 20)
    return classify_checksum(p, kProtoTcp, p.l4, load_be16(p.l4.data() + 16));
  if (p.l4_protocol != kProtoUdp || p.l4.size() < 8) return ChecksumState::kUnchecked;
  const uint16_t stored = load_be16(p.l4.data() + 6);
  if (stored == 0) {
    // IPv4: "no checksum". IPv6 forbids it (RFC 8200 8.1) and receivers drop it.
    return p.ip_version == 4 ? ChecksumState::kUnchecked : ChecksumState::kInvalid;
  }
  return classify_checksum(p, kProtoUdp, p.l4, stored);
}

namespace {

ParseResult parse_tcp(ByteSpan segment, const ParseOptions& options, ParsedPacket& out) {
  if (segment.size() < 20) return malformed(Malformed::kTcpTruncated);
  const uint8_t* h = segment.data();
  size_t header_len = static_cast<size_t>(h[12] >> 4) * 4;
  if (header_len < 20 || header_len > segment.size()) {
    return malformed(Malformed::kTcpBadDataOffset);
  }
  out.src_port = load_be16(h);
  out.dst_port = load_be16(h + 2);
  out.seq = load_be32(h + 4);
  out.ack = load_be32(h + 8);
  out.tcp_flags = h[13];
  out.window = load_be16(h + 14);
  out.urgent_pointer = load_be16(h + 18);
  // SYN with FIN or RST has no meaning; stacks disagree on it, which is what evasion needs.
  if ((out.tcp_flags & kTcpSyn) && (out.tcp_flags & (kTcpFin | kTcpRst))) {
    return malformed(Malformed::kTcpBadFlags);
  }
  if (!parse_tcp_options(segment.subspan(20, header_len - 20), out.tcp_options)) {
    return malformed(Malformed::kTcpBadOptions);
  }
  out.l4 = segment;
  out.payload = segment.subspan(header_len);
  if (options.verify_checksums && options.verify_l4_checksums) out.l4_checksum = check_l4_checksum(out);
  return status(ParseStatus::kOk);
}

ParseResult parse_udp(ByteSpan datagram, const ParseOptions& options, ParsedPacket& out) {
  if (datagram.size() < 8) return malformed(Malformed::kUdpTruncated);
  const uint8_t* h = datagram.data();
  uint16_t length = load_be16(h + 4);
  if (length < 8 || length > datagram.size()) return malformed(Malformed::kUdpBadLength);
  // Bytes past the UDP length are not part of the datagram; Linux trims them the same way.
  datagram = datagram.first(length);
  out.src_port = load_be16(h);
  out.dst_port = load_be16(h + 2);
  out.l4 = datagram;
  out.payload = datagram.subspan(8);
  if (options.verify_checksums && options.verify_l4_checksums) out.l4_checksum = check_l4_checksum(out);
  return status(ParseStatus::kOk);
}

// Parses TCP or UDP (by out.l4_protocol) from `l4`; other protocols are kOtherL4.
ParseResult parse_transport(ByteSpan l4, const ParseOptions& options, ParsedPacket& out) {
  if (out.l4_protocol == kProtoTcp) return parse_tcp(l4, options, out);
  if (out.l4_protocol == kProtoUdp) return parse_udp(l4, options, out);
  return status(ParseStatus::kOtherL4);
}

// Whether an IPv4 header sums to all ones. Every packet is checked, and nearly every header is
// the bare 20 bytes: those are summed with three loads instead of the general loop.
bool ipv4_header_checksum_ok(const uint8_t* h, size_t header_len) {
  if (header_len != 20) return checksum_fold(checksum_add(0, ByteSpan(h, header_len))) == 0xffff;
  uint64_t a, b;
  uint32_t c;
  std::memcpy(&a, h, 8);
  std::memcpy(&b, h + 8, 8);
  std::memcpy(&c, h + 16, 4);
  // Native-order 32-bit words (RFC 1071 2(B)); all ones reads the same in either byte order.
  uint64_t sum = (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32) + c;
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return sum == 0xffff;
}

// IPv4 options are type-length-value except EOL (0) and NOP (1).
bool ipv4_options_valid(ByteSpan options) {
  size_t i = 0;
  while (i < options.size()) {
    uint8_t type = options[i];
    if (type == 0) return true;
    if (type == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return false;
    uint8_t len = options[i + 1];
    if (len < 2 || i + len > options.size()) return false;
    i += len;
  }
  return true;
}

ParseResult parse_ipv4(ByteSpan frame, size_t l3, const ParseOptions& options,
                       ParsedPacket& out) {
  ByteSpan ip = frame.subspan(l3);
  if (ip.size() < 20) return malformed(Malformed::kIpv4Truncated);
  const uint8_t* h = ip.data();
  if ((h[0] >> 4) != 4) return malformed(Malformed::kIpv4BadVersion);
  size_t header_len = static_cast<size_t>(h[0] & 0x0f) * 4;
  if (header_len < 20) return malformed(Malformed::kIpv4BadHeaderLength);
  if (header_len > ip.size()) return malformed(Malformed::kIpv4Truncated);
  uint16_t total_len = load_be16(h + 2);
  // Trailing bytes past total_len are Ethernet padding and ignored; fewer bytes than total_len
  // means the frame was cut or the field lies.
  if (total_len < header_len || total_len > ip.size()) {
    return malformed(Malformed::kIpv4BadTotalLength);
  }
  if (options.verify_checksums && !ipv4_header_checksum_ok(h, header_len)) {
    return malformed(Malformed::kIpv4BadChecksum);
  }
  if (!ipv4_options_valid(ip.subspan(20, header_len - 20))) {
    return malformed(Malformed::kIpv4BadOptions);
  }
  out.ip_version = 4;
  out.ttl = h[8];
  out.l4_protocol = h[9];
  out.src = IpAddress::from_v4(h + 12);
  out.dst = IpAddress::from_v4(h + 16);
  out.l4_offset = static_cast<uint16_t>(l3 + header_len);
  ByteSpan payload = ip.subspan(header_len, total_len - header_len);
  out.l3_payload = payload;

  uint16_t frag = load_be16(h + 6);
  bool more = (frag & 0x2000) != 0;
  uint16_t offset = static_cast<uint16_t>((frag & 0x1fff) * 8);
  if (more || offset != 0) {
    out.fragment = {true, load_be16(h + 4), offset, more, out.l4_protocol};
    return status(ParseStatus::kFragment);
  }
  return parse_transport(payload, options, out);
}

bool is_ipv6_extension(uint8_t next) {
  return next == kProtoHopByHop || next == kProtoRouting || next == kProtoFragment ||
         next == kProtoAh || next == kProtoDestOpts;
}

// Hop-by-hop and destination options: Pad1 (0) alone, everything else type-length-value.
bool ipv6_options_valid(ByteSpan options) {
  size_t i = 0;
  while (i < options.size()) {
    if (options[i] == 0) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return false;
    size_t len = 2 + static_cast<size_t>(options[i + 1]);
    if (i + len > options.size()) return false;
    i += len;
  }
  return true;
}

// Where an IPv6 extension header chain ends.
struct Ipv6Chain {
  uint8_t next = 0;    // the protocol after the last extension header
  size_t offset = 0;   // where that protocol starts in the walked bytes
  bool fragment = false;  // stopped at a (non-atomic) fragment header
  uint16_t fragment_offset = 0;
  bool more_fragments = false;
  uint32_t fragment_id = 0;
};

// Walks the extension headers at the start of `bytes`, `next` being the first one's type.
// `first_in_packet`: right after the IPv6 header, the only place hop-by-hop may appear.
// Returns Malformed::kCount when the chain is sound.
Malformed walk_ipv6_chain(ByteSpan bytes, uint8_t next, bool first_in_packet, Ipv6Chain& out) {
  size_t pos = 0;
  int count = 0;
  while (is_ipv6_extension(next)) {
    if (++count > kMaxIpv6ExtensionHeaders) return Malformed::kIpv6TooManyExtensionHeaders;
    if (next == kProtoHopByHop && !(first_in_packet && count == 1)) {
      return Malformed::kIpv6BadExtensionHeader;
    }
    if (bytes.size() - pos < 8) return Malformed::kIpv6BadExtensionHeader;
    const uint8_t* h = bytes.data() + pos;
    size_t len;
    if (next == kProtoFragment) {
      len = 8;
    } else if (next == kProtoAh) {
      len = (static_cast<size_t>(h[1]) + 2) * 4;
    } else {
      len = (static_cast<size_t>(h[1]) + 1) * 8;
    }
    if (len > bytes.size() - pos) return Malformed::kIpv6BadExtensionHeader;
    if ((next == kProtoHopByHop || next == kProtoDestOpts) &&
        !ipv6_options_valid(ByteSpan(h + 2, len - 2))) {
      return Malformed::kIpv6BadExtensionHeader;
    }
    uint8_t following = h[0];
    pos += len;
    if (next == kProtoFragment) {
      uint16_t field = load_be16(h + 2);
      uint16_t offset = field & 0xfff8;
      bool more = (field & 1) != 0;
      // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946): keep walking.
      if (offset != 0 || more) {
        out.fragment = true;
        out.fragment_offset = offset;
        out.more_fragments = more;
        out.fragment_id = load_be32(h + 4);
        out.next = following;
        out.offset = pos;
        return Malformed::kCount;
      }
    }
    next = following;
  }
  out.next = next;
  out.offset = pos;
  return Malformed::kCount;
}

ParseResult parse_ipv6(ByteSpan frame, size_t l3, const ParseOptions& options,
                       ParsedPacket& out) {
  ByteSpan ip = frame.subspan(l3);
  if (ip.size() < 40) return malformed(Malformed::kIpv6Truncated);
  const uint8_t* h = ip.data();
  if ((h[0] >> 4) != 6) return malformed(Malformed::kIpv6BadVersion);
  size_t payload_len = load_be16(h + 4);
  if (40 + payload_len > ip.size()) return malformed(Malformed::kIpv6BadPayloadLength);
  out.ip_version = 6;
  out.ttl = h[7];
  out.src = IpAddress::from_v6(h + 8);
  out.dst = IpAddress::from_v6(h + 24);
  ByteSpan payload = ip.subspan(40, payload_len);  // Ethernet padding cut off

  Ipv6Chain chain;
  Malformed reason = walk_ipv6_chain(payload, h[6], true, chain);
  if (reason != Malformed::kCount) return malformed(reason);
  out.l4_protocol = chain.next;
  out.l4_offset = static_cast<uint16_t>(l3 + 40 + chain.offset);
  ByteSpan l4 = payload.subspan(chain.offset);
  out.l3_payload = l4;
  if (chain.fragment) {
    out.fragment = {true, chain.fragment_id, chain.fragment_offset, chain.more_fragments,
                    chain.next};
    return status(ParseStatus::kFragment);
  }
  if (chain.next == kProtoNoNext) return status(ParseStatus::kOtherL4);
  return parse_transport(l4, options, out);
}

}  // namespace

ParseResult parse_frame(ByteSpan frame, const ParseOptions& options, ParsedPacket& out) {
  reset(out);
  if (frame.size() < 14) return malformed(Malformed::kEthernetTruncated);
  size_t pos = 12;
  uint16_t ether_type = load_be16(frame.data() + pos);
  pos += 2;
  while (ether_type == kEtherVlan || ether_type == kEtherQinQ || ether_type == kEtherQinQLegacy) {
    if (out.vlan_count == kMaxVlanTags) return malformed(Malformed::kVlanTooDeep);
    if (frame.size() - pos < 4) return malformed(Malformed::kVlanTruncated);
    out.vlan_ids[out.vlan_count++] = load_be16(frame.data() + pos) & 0x0fff;
    ether_type = load_be16(frame.data() + pos + 2);
    pos += 4;
  }
  out.l3_offset = static_cast<uint16_t>(pos);
  if (ether_type == kEtherIpv4) return parse_ipv4(frame, pos, options, out);
  if (ether_type == kEtherIpv6) return parse_ipv6(frame, pos, options, out);
  return status(ParseStatus::kNotIp);
}

ParseResult parse_l4(ByteSpan l4, const ParseOptions& options, ParsedPacket& out) {
  // Reset what a previous parse of a fragment may have left; L2/L3 fields stay.
  out.src_port = out.dst_port = 0;
  out.seq = out.ack = 0;
  out.tcp_flags = 0;
  out.window = out.urgent_pointer = 0;
  out.tcp_options = TcpOptions{};
  out.l4_checksum = ChecksumState::kUnchecked;
  out.payload = {};
  out.l4_offset = 0;
  if (out.ip_version == 6 && is_ipv6_extension(out.l4_protocol)) {
    // Destination options (or routing/AH) may sit after the fragment header, in the
    // fragmentable part: they are at the start of the rebuilt datagram.
    Ipv6Chain chain;
    Malformed reason = walk_ipv6_chain(l4, out.l4_protocol, false, chain);
    if (reason != Malformed::kCount) return malformed(reason);
    if (chain.fragment) return malformed(Malformed::kIpv6BadExtensionHeader);  // nested
    out.l4_protocol = chain.next;
    out.l4_offset = static_cast<uint16_t>(chain.offset);
    l4 = l4.subspan(chain.offset);
  }
  if (out.l4_protocol == kProtoNoNext) return status(ParseStatus::kOtherL4);
  return parse_transport(l4, options, out);
}

}  // namespace sluice
