// Builds complete Ethernet frames for tests: TCP and UDP over IPv4 and IPv6, with optional VLAN
// or QinQ tags, IPv4 options, IPv6 extension headers and TCP options, and correct checksums unless
// asked otherwise. Also splits an L4 datagram into IPv4 or IPv6 fragments.
//
// The builder computes its checksums with its own code (not the parser's) so that a test of the
// parser checks one implementation against another. Test-only: allocates freely.
//
//   TcpSpec s;
//   s.frame.vlans = {100};
//   s.options.mss = 1460;
//   s.payload = {'h', 'i'};
//   std::vector<uint8_t> frame = build_tcp_frame(s);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::test {

using Bytes = std::vector<uint8_t>;

enum class L4Checksum : uint8_t {
  kCorrect,
  kCorrupt,                // the correct value with one bit flipped
  kOffloadPartial,         // folded pseudo-header sum, not complemented (what Linux leaves)
  kOffloadPartialInverted, // the complement of that (some drivers / older stacks)
  kZero,                   // 0 (UDP over IPv4: "no checksum")
};

// One IPv6 extension header. The builder writes Next Header and Hdr Ext Len and pads `body`
// with zeros (Pad1 options) to the header's alignment. Types: 0 hop-by-hop, 43 routing,
// 60 destination options, 51 AH (4-octet units), 44 fragment (`body` is used as-is, 6 bytes).
struct Ipv6Ext {
  uint8_t type = 60;
  Bytes body;  // everything after Next Header and Hdr Ext Len
};

// Everything below L4.
struct FrameSpec {
  std::array<uint8_t, 6> dst_mac = {0x02, 0, 0, 0, 0, 0x02};
  std::array<uint8_t, 6> src_mac = {0x02, 0, 0, 0, 0, 0x01};
  std::vector<uint16_t> vlans;       // VLAN ids, outer first (at most what the test needs)
  std::vector<uint16_t> vlan_tpids;  // per tag; default: 0x88a8 for the outer of two, else 0x8100

  bool ipv6 = false;
  std::string src_ip;  // text; empty: 192.0.2.1 / 2001:db8::1
  std::string dst_ip;  // text; empty: 198.51.100.2 / 2001:db8::2
  uint8_t ttl = 64;    // IPv4 TTL or IPv6 hop limit
  uint16_t ipv4_id = 0x4242;
  bool dont_fragment = true;
  Bytes ipv4_options;  // raw option bytes; padded with EOL (0) to a multiple of 4
  std::vector<Ipv6Ext> ipv6_ext;  // in order, between the IPv6 header and L4
  bool corrupt_ipv4_checksum = false;

  L4Checksum l4_checksum = L4Checksum::kCorrect;
  size_t ethernet_padding = 0;  // zero bytes appended after the IP datagram
};

struct TcpOptionsSpec {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> window_scale;
  bool sack_permitted = false;
  std::optional<std::pair<uint32_t, uint32_t>> timestamps;  // TSval, TSecr
  std::optional<Bytes> fast_open_cookie;  // kind 34 (empty cookie: a cookie request)
  bool fast_open_experimental = false;    // write TFO as kind 254 with magic 0xF989 instead
  Bytes raw;  // appended after the above (before padding), e.g. to craft broken options
};

struct TcpSpec {
  FrameSpec frame;
  uint16_t src_port = 40000;
  uint16_t dst_port = 443;
  uint32_t seq = 1000;
  uint32_t ack = 2000;
  uint8_t flags = 0x18;  // PSH|ACK (sluice::TcpFlag values)
  uint16_t window = 65535;
  uint16_t urgent_pointer = 0;
  TcpOptionsSpec options;  // padded with EOL (0) to a multiple of 4
  Bytes payload;
};

struct UdpSpec {
  FrameSpec frame;
  uint16_t src_port = 40000;
  uint16_t dst_port = 443;
  std::optional<uint16_t> length_override;  // written into the UDP length field as given
  Bytes payload;
};

// Protocol numbers, for the fragment helpers.
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

// Complete frames.
Bytes build_tcp_frame(const TcpSpec& spec);
Bytes build_udp_frame(const UdpSpec& spec);

// L4 bytes only (header + payload), checksum over the pseudo-header of spec.frame.
Bytes build_tcp_segment(const TcpSpec& spec);
Bytes build_udp_datagram(const UdpSpec& spec);

// Wraps arbitrary L4 bytes (already checksummed) in IP and Ethernet as described by `frame`.
Bytes build_ip_frame(const FrameSpec& frame, uint8_t protocol, std::span<const uint8_t> l4);

// One fragment of a datagram: bytes [offset, offset + data.size()) of the L4 datagram.
Bytes build_ipv4_fragment(const FrameSpec& frame, uint8_t protocol, std::span<const uint8_t> data,
                          uint32_t offset, bool more_fragments);
// IPv6: frame.ipv6_ext come before the fragment header (the unfragmentable part).
Bytes build_ipv6_fragment(const FrameSpec& frame, uint8_t protocol, std::span<const uint8_t> data,
                          uint32_t offset, bool more_fragments, uint32_t id);

// Splits `l4` into fragments of `chunk` bytes (rounded down to a multiple of 8, at least 8),
// in order. With `overlap` > 0 every fragment after the first starts `overlap` bytes (a multiple
// of 8) earlier and repeats those bytes; with `corrupt_overlap` the repeated bytes are changed.
std::vector<Bytes> fragment_ipv4(const FrameSpec& frame, uint8_t protocol,
                                 std::span<const uint8_t> l4, size_t chunk, size_t overlap = 0,
                                 bool corrupt_overlap = false);
std::vector<Bytes> fragment_ipv6(const FrameSpec& frame, uint8_t protocol,
                                 std::span<const uint8_t> l4, size_t chunk, uint32_t id = 0x1234,
                                 size_t overlap = 0, bool corrupt_overlap = false);

// Where the IP header starts in frames built from `frame` (14 + 4 per VLAN tag).
size_t l3_offset(const FrameSpec& frame);
// Length of the IP header(s) built for `frame`: IPv4 header with options, or IPv6 header with
// extension headers (no fragment header).
size_t l3_header_length(const FrameSpec& frame);

// RFC 1071 one's-complement sum helpers, independent of the parser's.
uint16_t internet_checksum(std::span<const uint8_t> bytes);

// "00 11 aa" or "0011aa" (whitespace ignored) -> bytes. Aborts on bad input.
Bytes from_hex(std::string_view hex);

}  // namespace sluice::test
