#include "dataplane/core/packet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "tests/dataplane/core/packet_builder.h"

namespace sluice {
namespace {

using test::Bytes;
using test::FrameSpec;
using test::Ipv6Ext;
using test::L4Checksum;
using test::TcpSpec;
using test::UdpSpec;

ParseResult parse(const Bytes& frame, ParsedPacket& out, bool verify = true) {
  ParseOptions options;
  options.verify_checksums = verify;
  return parse_frame(ByteSpan(frame), options, out);
}
// `out` points into the frame: a temporary frame would leave it dangling.
ParseResult parse(Bytes&& frame, ParsedPacket& out, bool verify = true) = delete;

// Parses and expects kMalformed with `reason`.
void expect_malformed(const Bytes& frame, Malformed reason) {
  ParsedPacket p;
  ParseResult r = parse(frame, p);
  EXPECT_EQ(r.status, ParseStatus::kMalformed) << malformed_name(reason);
  EXPECT_EQ(malformed_name(r.reason), malformed_name(reason));
}

TcpSpec basic_tcp(bool ipv6 = false) {
  TcpSpec s;
  s.frame.ipv6 = ipv6;
  s.payload = {'h', 'e', 'l', 'l', 'o'};
  return s;
}

UdpSpec basic_udp(bool ipv6 = false) {
  UdpSpec s;
  s.frame.ipv6 = ipv6;
  s.payload = {1, 2, 3, 4, 5, 6, 7};
  return s;
}

std::string text(ByteSpan b) { return std::string(as_string_view(b)); }

TEST(PacketTest, ParsesTcpOverIpv4) {
  TcpSpec s = basic_tcp();
  s.seq = 0x11223344;
  s.ack = 0x55667788;
  s.window = 1234;
  s.frame.ttl = 17;
  Bytes frame = test::build_tcp_frame(s);
  ParsedPacket p;
  ParseResult r = parse(frame, p);
  ASSERT_EQ(r.status, ParseStatus::kOk);
  EXPECT_EQ(p.vlan_count, 0);
  EXPECT_EQ(p.ip_version, 4);
  EXPECT_EQ(p.src.to_string(), "192.0.2.1");
  EXPECT_EQ(p.dst.to_string(), "198.51.100.2");
  EXPECT_EQ(p.ttl, 17);
  EXPECT_EQ(p.l3_offset, 14);
  EXPECT_EQ(p.l4_offset, 34);
  EXPECT_EQ(p.l4_protocol, 6);
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(p.dst_port, 443);
  EXPECT_EQ(p.seq, 0x11223344u);
  EXPECT_EQ(p.ack, 0x55667788u);
  EXPECT_EQ(p.tcp_flags, kTcpPsh | kTcpAck);
  EXPECT_EQ(p.window, 1234);
  EXPECT_FALSE(p.fragment.is_fragment);
  EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
  EXPECT_EQ(text(p.payload), "hello");
}

TEST(PacketTest, ParsesTcpOverIpv6) {
  Bytes frame = test::build_tcp_frame(basic_tcp(true));
  ParsedPacket p;
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(p.src.to_string(), "2001:db8::1");
  EXPECT_EQ(p.dst.to_string(), "2001:db8::2");
  EXPECT_EQ(p.l4_offset, 54);
  EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
  EXPECT_EQ(text(p.payload), "hello");
}

TEST(PacketTest, ParsesUdpOverBothVersions) {
  for (bool v6 : {false, true}) {
    Bytes frame = test::build_udp_frame(basic_udp(v6));
    ParsedPacket p;
    ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk) << v6;
    EXPECT_EQ(p.l4_protocol, 17);
    EXPECT_EQ(p.src_port, 40000);
    EXPECT_EQ(p.dst_port, 443);
    EXPECT_EQ(p.payload.size(), 7u);
    EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
  }
}

TEST(PacketTest, NonIpIsNotIp) {
  Bytes frame = test::build_udp_frame(basic_udp());
  frame[12] = 0x08;
  frame[13] = 0x06;  // ARP
  ParsedPacket p;
  EXPECT_EQ(parse(frame, p).status, ParseStatus::kNotIp);
}

TEST(PacketTest, IcmpIsOtherL4) {
  FrameSpec f;
  Bytes icmp = {8, 0, 0xf7, 0xff, 0, 0, 0, 0};
  Bytes frame = test::build_ip_frame(f, 1, icmp);
  ParsedPacket p;
  EXPECT_EQ(parse(frame, p).status, ParseStatus::kOtherL4);
  EXPECT_EQ(p.l4_protocol, 1);
}

// ---- VLAN ----

TEST(PacketTest, SingleVlanTag) {
  TcpSpec s = basic_tcp();
  s.frame.vlans = {0x123};
  Bytes frame = test::build_tcp_frame(s);
  ParsedPacket p;
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.vlan_count, 1);
  EXPECT_EQ(p.vlan_ids[0], 0x123);
  EXPECT_EQ(p.l3_offset, 18);
  EXPECT_EQ(text(p.payload), "hello");
}

TEST(PacketTest, QinQTagsOuterFirst) {
  for (uint16_t outer_tpid : {0x88a8, 0x8100, 0x9100}) {
    TcpSpec s = basic_tcp(true);
    s.frame.vlans = {10, 20};
    s.frame.vlan_tpids = {outer_tpid, 0x8100};
    s.frame.vlans[0] |= 0xe000;  // priority bits are not part of the id
    Bytes frame = test::build_tcp_frame(s);
    ParsedPacket p;
    ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk) << outer_tpid;
    EXPECT_EQ(p.vlan_count, 2);
    EXPECT_EQ(p.vlan_ids[0], 10);
    EXPECT_EQ(p.vlan_ids[1], 20);
    EXPECT_EQ(p.l3_offset, 22);
    EXPECT_EQ(text(p.payload), "hello");
  }
}

TEST(PacketTest, ThreeVlanTagsAreTooDeep) {
  TcpSpec s = basic_tcp();
  s.frame.vlans = {1, 2, 3};
  expect_malformed(test::build_tcp_frame(s), Malformed::kVlanTooDeep);
}

TEST(PacketTest, TruncatedVlanTag) {
  TcpSpec s = basic_tcp();
  s.frame.vlans = {1};
  Bytes frame = test::build_tcp_frame(s);
  frame.resize(16);
  expect_malformed(frame, Malformed::kVlanTruncated);
}

TEST(PacketTest, ShortEthernetHeader) {
  expect_malformed(Bytes(13, 0), Malformed::kEthernetTruncated);
}

// ---- IPv4 ----

TEST(PacketTest, Ipv4OptionsAreWalkedAndSkipped) {
  TcpSpec s = basic_tcp();
  // NOP, Record Route (7 bytes, pointer 4, one empty slot), Router Alert (4 bytes).
  s.frame.ipv4_options = {1, 7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0};
  Bytes frame = test::build_tcp_frame(s);
  ParsedPacket p;
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.l4_offset, 14 + 20 + 12);
  EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
  EXPECT_EQ(text(p.payload), "hello");
}

TEST(PacketTest, Ipv4OptionsEndAtEol) {
  TcpSpec s = basic_tcp();
  s.frame.ipv4_options = {0, 0xff, 0xff, 0xff};  // garbage after End of Options List
  ParsedPacket p;
  Bytes frame = test::build_tcp_frame(s);
  EXPECT_EQ(parse(frame, p).status, ParseStatus::kOk);
}

TEST(PacketTest, BrokenIpv4Options) {
  for (Bytes options : {Bytes{7, 0, 0, 0}, Bytes{7, 1, 0, 0}, Bytes{1, 1, 1, 0x44},
                        Bytes{0x44, 12, 5, 0}}) {
    TcpSpec s = basic_tcp();
    s.frame.ipv4_options = options;
    expect_malformed(test::build_tcp_frame(s), Malformed::kIpv4BadOptions);
  }
}

TEST(PacketTest, Ipv4HeaderFieldChecks) {
  Bytes good = test::build_tcp_frame(basic_tcp());
  auto with = [&](size_t at, uint8_t value, bool fix_checksum = true) {
    Bytes f = good;
    f[at] = value;
    if (fix_checksum) {
      f[24] = f[25] = 0;
      size_t ihl = std::clamp<size_t>((f[14] & 0x0f) * 4u, 20, f.size() - 14);
      uint16_t c = test::internet_checksum(ByteSpan(f).subspan(14, ihl));
      f[24] = static_cast<uint8_t>(c >> 8);
      f[25] = static_cast<uint8_t>(c);
    }
    return f;
  };
  expect_malformed(with(14, 0x65), Malformed::kIpv4BadVersion);
  expect_malformed(with(14, 0x44), Malformed::kIpv4BadHeaderLength);
  expect_malformed(with(14, 0x4f), Malformed::kIpv4Truncated);  // 60 bytes > frame
  expect_malformed(with(17, 19), Malformed::kIpv4BadTotalLength);  // < header length
  expect_malformed(with(16, 0x01), Malformed::kIpv4BadTotalLength);  // > frame
  expect_malformed(with(22, 1, false), Malformed::kIpv4BadChecksum);
  Bytes short_ip = good;
  short_ip.resize(14 + 19);
  expect_malformed(short_ip, Malformed::kIpv4Truncated);
}

TEST(PacketTest, Ipv4BadHeaderChecksumIgnoredWithoutVerification) {
  TcpSpec s = basic_tcp();
  s.frame.corrupt_ipv4_checksum = true;
  Bytes frame = test::build_tcp_frame(s);
  expect_malformed(frame, Malformed::kIpv4BadChecksum);
  ParsedPacket p;
  EXPECT_EQ(parse(frame, p, /*verify=*/false).status, ParseStatus::kOk);
  EXPECT_EQ(p.l4_checksum, ChecksumState::kUnchecked);
}

TEST(PacketTest, EthernetPaddingBeyondTotalLengthIsIgnored) {
  for (bool v6 : {false, true}) {
    TcpSpec s = basic_tcp(v6);
    s.payload = {'x'};
    s.frame.ethernet_padding = 20;
    Bytes frame = test::build_tcp_frame(s);
    std::fill(frame.end() - 20, frame.end(), 0xee);
    ParsedPacket p;
    ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
    EXPECT_EQ(text(p.payload), "x");
    EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);

    UdpSpec u = basic_udp(v6);
    u.frame.ethernet_padding = 30;
    Bytes uframe = test::build_udp_frame(u);
    ASSERT_EQ(parse(uframe, p).status, ParseStatus::kOk);
    EXPECT_EQ(p.payload.size(), 7u);
    EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
  }
}

// ---- IPv6 ----

TEST(PacketTest, Ipv6ExtensionHeaderChain) {
  TcpSpec s = basic_tcp(true);
  s.frame.ipv6_ext = {
      Ipv6Ext{0, {5, 2, 0, 0}},               // hop-by-hop: router alert
      Ipv6Ext{60, {1, 2, 0, 0}},              // destination options: PadN
      Ipv6Ext{43, {0, 0, 0, 0, 0, 0}},        // routing type 0, segments left 0
      Ipv6Ext{51, Bytes(10, 0xab)},           // AH: SPI, sequence, ICV
      Ipv6Ext{60, Bytes(14, 0)},              // destination options: Pad1s
  };
  Bytes frame = test::build_tcp_frame(s);
  ParsedPacket p;
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.l4_protocol, 6);
  EXPECT_EQ(p.l4_offset, 14 + test::l3_header_length(s.frame));
  EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
  EXPECT_EQ(text(p.payload), "hello");
}

TEST(PacketTest, Ipv6ExtensionHeaderLimit) {
  TcpSpec s = basic_tcp(true);
  s.frame.ipv6_ext.assign(8, Ipv6Ext{60, {}});
  ParsedPacket p;
  Bytes frame = test::build_tcp_frame(s);
  EXPECT_EQ(parse(frame, p).status, ParseStatus::kOk);
  s.frame.ipv6_ext.assign(9, Ipv6Ext{60, {}});
  expect_malformed(test::build_tcp_frame(s), Malformed::kIpv6TooManyExtensionHeaders);
}

TEST(PacketTest, Ipv6BadExtensionHeaders) {
  TcpSpec s = basic_tcp(true);
  s.frame.ipv6_ext = {Ipv6Ext{60, {}}, Ipv6Ext{0, {}}};  // hop-by-hop not first
  expect_malformed(test::build_tcp_frame(s), Malformed::kIpv6BadExtensionHeader);

  s.frame.ipv6_ext = {Ipv6Ext{60, {1, 9, 0, 0}}};  // PadN runs past the header
  expect_malformed(test::build_tcp_frame(s), Malformed::kIpv6BadExtensionHeader);

  s.frame.ipv6_ext = {Ipv6Ext{60, {}}};
  Bytes frame = test::build_tcp_frame(s);
  frame[14 + 40 + 1] = 20;  // Hdr Ext Len: 168 bytes, past the payload
  expect_malformed(frame, Malformed::kIpv6BadExtensionHeader);

  // An extension header cut short by the payload length.
  UdpSpec u;
  u.frame.ipv6 = true;
  Bytes chain_only = test::build_ip_frame(u.frame, 60, Bytes{17, 0, 0, 0});
  expect_malformed(chain_only, Malformed::kIpv6BadExtensionHeader);
}

TEST(PacketTest, Ipv6NoNextHeaderAndOtherProtocols) {
  FrameSpec f;
  f.ipv6 = true;
  f.ipv6_ext = {Ipv6Ext{60, {}}};
  ParsedPacket p;
  Bytes frame = test::build_ip_frame(f, 59, Bytes{});
  EXPECT_EQ(parse(frame, p).status, ParseStatus::kOtherL4);
  frame = test::build_ip_frame(f, 58, Bytes(8, 0));
  EXPECT_EQ(parse(frame, p).status, ParseStatus::kOtherL4);
  EXPECT_EQ(p.l4_protocol, 58);
}

TEST(PacketTest, Ipv6HeaderFieldChecks) {
  Bytes good = test::build_tcp_frame(basic_tcp(true));
  Bytes f = good;
  f[14] = 0x40;
  expect_malformed(f, Malformed::kIpv6BadVersion);
  f = good;
  f[14 + 5] += 1;  // payload length one more than the frame holds
  expect_malformed(f, Malformed::kIpv6BadPayloadLength);
  f = good;
  f.resize(14 + 39);
  expect_malformed(f, Malformed::kIpv6Truncated);
}

TEST(PacketTest, Ipv6AtomicFragmentIsAWholeDatagram) {
  TcpSpec s = basic_tcp(true);
  s.frame.ipv6_ext = {Ipv6Ext{44, {0, 0, 0, 0, 0, 1}}};  // offset 0, M=0: RFC 6946
  Bytes frame = test::build_tcp_frame(s);
  ParsedPacket p;
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_FALSE(p.fragment.is_fragment);
  EXPECT_EQ(text(p.payload), "hello");
}

// ---- Fragments ----

TEST(PacketTest, Ipv4FragmentsAreReportedNotParsed) {
  TcpSpec s = basic_tcp();
  s.payload.assign(100, 'a');
  s.frame.ipv4_id = 0xbeef;
  Bytes l4 = test::build_tcp_segment(s);
  std::vector<Bytes> frags = test::fragment_ipv4(s.frame, test::kProtoTcp, l4, 48);
  ASSERT_EQ(frags.size(), 3u);
  for (size_t i = 0; i < frags.size(); ++i) {
    ParsedPacket p;
    ASSERT_EQ(parse(frags[i], p).status, ParseStatus::kFragment) << i;
    EXPECT_TRUE(p.fragment.is_fragment);
    EXPECT_EQ(p.fragment.id, 0xbeefu);
    EXPECT_EQ(p.fragment.offset, i * 48);
    EXPECT_EQ(p.fragment.more_fragments, i + 1 < frags.size());
    EXPECT_EQ(p.fragment.next_protocol, 6);
    EXPECT_EQ(p.l4_protocol, 6);
    EXPECT_EQ(p.ip_version, 4);
    size_t expect_len = i + 1 < frags.size() ? 48 : l4.size() - 96;
    ASSERT_EQ(p.l3_payload.size(), expect_len);
    EXPECT_EQ(0, std::memcmp(p.l3_payload.data(), l4.data() + i * 48, expect_len));
    EXPECT_EQ(p.src_port, 0);  // the first fragment holds the TCP header, still not parsed
  }
}

TEST(PacketTest, Ipv6FragmentHeaderAfterOtherExtensions) {
  UdpSpec u = basic_udp(true);
  u.payload.assign(64, 'b');
  u.frame.ipv6_ext = {Ipv6Ext{0, {}}, Ipv6Ext{43, {0, 0, 0, 0, 0, 0}}};
  Bytes l4 = test::build_udp_datagram(u);
  std::vector<Bytes> frags = test::fragment_ipv6(u.frame, test::kProtoUdp, l4, 40, 0xa1b2c3d4);
  ASSERT_EQ(frags.size(), 2u);
  ParsedPacket p;
  ASSERT_EQ(parse(frags[1], p).status, ParseStatus::kFragment);
  EXPECT_EQ(p.fragment.id, 0xa1b2c3d4u);
  EXPECT_EQ(p.fragment.offset, 40);
  EXPECT_FALSE(p.fragment.more_fragments);
  EXPECT_EQ(p.fragment.next_protocol, 17);
  EXPECT_EQ(p.l3_payload.size(), l4.size() - 40);
  ASSERT_EQ(parse(frags[0], p).status, ParseStatus::kFragment);
  EXPECT_EQ(p.fragment.offset, 0);
  EXPECT_TRUE(p.fragment.more_fragments);
}

// ---- TCP ----

TEST(PacketTest, TcpOptionsParsed) {
  TcpSpec s = basic_tcp();
  s.flags = kTcpSyn;
  s.options.mss = 1460;
  s.options.window_scale = 7;
  s.options.sack_permitted = true;
  s.options.timestamps = {{0xdeadbeef, 0x01020304}};
  s.options.fast_open_cookie = Bytes{1, 2, 3, 4, 5, 6, 7, 8};
  ParsedPacket p;
  Bytes frame = test::build_tcp_frame(s);
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.tcp_options.mss, 1460);
  EXPECT_EQ(p.tcp_options.window_scale, 7);
  EXPECT_TRUE(p.tcp_options.sack_permitted);
  EXPECT_TRUE(p.tcp_options.has_timestamps);
  EXPECT_EQ(p.tcp_options.ts_val, 0xdeadbeefu);
  EXPECT_EQ(p.tcp_options.ts_ecr, 0x01020304u);
  EXPECT_TRUE(p.tcp_options.fast_open);
  EXPECT_EQ(text(p.payload), "hello");
}

TEST(PacketTest, TcpOptionsAbsent) {
  ParsedPacket p;
  Bytes frame = test::build_tcp_frame(basic_tcp());
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.tcp_options.mss, 0);
  EXPECT_EQ(p.tcp_options.window_scale, -1);
  EXPECT_FALSE(p.tcp_options.sack_permitted);
  EXPECT_FALSE(p.tcp_options.has_timestamps);
  EXPECT_FALSE(p.tcp_options.fast_open);
}

TEST(PacketTest, WindowScaleClampedTo14) {
  TcpSpec s = basic_tcp();
  s.options.window_scale = 15;
  ParsedPacket p;
  Bytes frame = test::build_tcp_frame(s);
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.tcp_options.window_scale, 14);
  s.options.window_scale = 0;
  frame = test::build_tcp_frame(s);
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.tcp_options.window_scale, 0);
}

TEST(PacketTest, FastOpenForms) {
  ParsedPacket p;
  TcpSpec s = basic_tcp();
  s.options.fast_open_cookie = Bytes{};  // cookie request
  Bytes frame = test::build_tcp_frame(s);
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_TRUE(p.tcp_options.fast_open);

  s.options.fast_open_experimental = true;
  s.options.fast_open_cookie = Bytes{9, 9, 9, 9};
  frame = test::build_tcp_frame(s);
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_TRUE(p.tcp_options.fast_open);

  s.options.fast_open_cookie.reset();
  s.options.raw = {254, 6, 0x12, 0x34, 0, 0};  // another experiment: not TFO
  frame = test::build_tcp_frame(s);
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_FALSE(p.tcp_options.fast_open);
}

TEST(PacketTest, MalformedTcpOptions) {
  const std::vector<Bytes> broken = {
      {2, 3, 5},              // MSS with length 3
      {3, 4, 1, 1},           // window scale with length 4
      {4, 3, 0},              // SACK-permitted with length 3
      {8, 8, 0, 0, 0, 0, 0, 0},  // timestamps with length 8
      {5, 7, 0, 0, 0, 0, 0},  // SACK blocks not a multiple of 8
      {34, 3, 1},             // TFO cookie too short
      {99, 0},                // length 0
      {99, 1},                // length 1
      {99, 40},               // length past the header
      {1, 1, 1, 99},          // kind without a length byte
  };
  for (const Bytes& raw : broken) {
    TcpSpec s = basic_tcp();
    s.options.raw = raw;  // the builder pads with EOL, which ends the walk after `raw`
    Bytes frame = test::build_tcp_frame(s);
    ParsedPacket p;
    ParseResult r = parse(frame, p);
    EXPECT_EQ(r.status, ParseStatus::kMalformed) << int(raw[0]) << "/" << int(raw[1]);
    EXPECT_EQ(r.reason, Malformed::kTcpBadOptions) << int(raw[0]) << "/" << int(raw[1]);
  }
}

TEST(PacketTest, TcpHeaderChecks) {
  Bytes good = test::build_tcp_frame(basic_tcp());
  const size_t tcp = 34;
  Bytes f = good;
  f[tcp + 12] = 0x40;  // data offset 4
  expect_malformed(f, Malformed::kTcpBadDataOffset);
  f = good;
  f[tcp + 12] = 0xf0;  // 60 bytes, more than the segment
  expect_malformed(f, Malformed::kTcpBadDataOffset);

  FrameSpec fs;
  expect_malformed(test::build_ip_frame(fs, 6, Bytes(19, 0)), Malformed::kTcpTruncated);

  for (uint8_t flags : {kTcpSyn | kTcpFin, kTcpSyn | kTcpRst, kTcpSyn | kTcpFin | kTcpAck}) {
    TcpSpec s = basic_tcp();
    s.flags = flags;
    expect_malformed(test::build_tcp_frame(s), Malformed::kTcpBadFlags);
  }
}

// ---- UDP ----

TEST(PacketTest, UdpLengthChecks) {
  FrameSpec fs;
  expect_malformed(test::build_ip_frame(fs, 17, Bytes(7, 0)), Malformed::kUdpTruncated);
  UdpSpec u = basic_udp();
  u.length_override = 7;
  expect_malformed(test::build_udp_frame(u), Malformed::kUdpBadLength);
  u.length_override = 16;  // one more than the datagram
  expect_malformed(test::build_udp_frame(u), Malformed::kUdpBadLength);
}

TEST(PacketTest, UdpLengthShorterThanIpPayloadTrims) {
  UdpSpec u = basic_udp();
  u.payload = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  u.length_override = 12;  // 4 payload bytes; the checksum covers those 12 bytes only
  // Build the checksum over the 12-byte datagram, then append 6 stray bytes inside IP.
  UdpSpec inner = u;
  inner.payload.resize(4);
  inner.length_override.reset();
  Bytes l4 = test::build_udp_datagram(inner);
  l4.insert(l4.end(), {5, 6, 7, 8, 9, 10});
  Bytes frame = test::build_ip_frame(u.frame, 17, l4);
  ParsedPacket p;
  ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.payload.size(), 4u);
  EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
}

// ---- Checksums ----

struct ChecksumCase {
  bool v6;
  bool tcp;
};

ChecksumState checksum_of(const ChecksumCase& c, L4Checksum mode, bool verify = true) {
  Bytes frame;
  if (c.tcp) {
    TcpSpec s = basic_tcp(c.v6);
    s.frame.l4_checksum = mode;
    frame = test::build_tcp_frame(s);
  } else {
    UdpSpec s = basic_udp(c.v6);
    s.frame.l4_checksum = mode;
    frame = test::build_udp_frame(s);
  }
  ParsedPacket p;
  ParseResult r = parse(frame, p, verify);
  EXPECT_EQ(r.status, ParseStatus::kOk);  // a bad L4 checksum is not a parse failure
  return p.l4_checksum;
}

TEST(PacketTest, ChecksumStatesForEveryTransport) {
  for (ChecksumCase c : {ChecksumCase{false, true}, ChecksumCase{true, true},
                         ChecksumCase{false, false}, ChecksumCase{true, false}}) {
    SCOPED_TRACE(std::string(c.v6 ? "v6 " : "v4 ") + (c.tcp ? "tcp" : "udp"));
    EXPECT_EQ(checksum_of(c, L4Checksum::kCorrect), ChecksumState::kValid);
    EXPECT_EQ(checksum_of(c, L4Checksum::kCorrupt), ChecksumState::kInvalid);
    EXPECT_EQ(checksum_of(c, L4Checksum::kOffloadPartial), ChecksumState::kOffloadPartial);
    EXPECT_EQ(checksum_of(c, L4Checksum::kOffloadPartialInverted),
              ChecksumState::kOffloadPartial);
    EXPECT_EQ(checksum_of(c, L4Checksum::kCorrupt, false), ChecksumState::kUnchecked);
    EXPECT_EQ(checksum_of(c, L4Checksum::kCorrect, false), ChecksumState::kUnchecked);
  }
}

TEST(PacketTest, UdpZeroChecksum) {
  // IPv4: "no checksum was computed". IPv6: not allowed, receivers drop it.
  EXPECT_EQ(checksum_of({false, false}, L4Checksum::kZero), ChecksumState::kUnchecked);
  EXPECT_EQ(checksum_of({true, false}, L4Checksum::kZero), ChecksumState::kInvalid);
  EXPECT_EQ(checksum_of({false, true}, L4Checksum::kZero), ChecksumState::kInvalid);
}

// Real frames. The offload ones were captured with tcpdump on one end of a veth pair between two
// namespaces with TX checksum offload on (the default): veth never finishes the checksum, so both
// directions carry the folded pseudo-header sum, not complemented. The valid ones come from
// ../shared/corpus/real-clients/curl-tls13-h2.pcap, which was captured with offload off.
constexpr char kOffloadSynV4[] =
    "12b9f489daf6ead14003416008004500003cbbe2400040066a3d0a4d00020a4d0001af9e01bbc5f8557a000000"
    "00a002faf014cb0000020405b40402080a4184b570000000000103030a";
constexpr char kOffloadSynV6[] =
    "12b9f489daf6ead14003416086dd6007e3ce00280640fd770000000000000000000000000002fd770000000000"
    "000000000000000001beb201bb87f17f7000000000a002fd20fb200000020405a00402080a924da3ac00000000"
    "0103030a";
constexpr char kOffloadUdpV4[] =
    "ead14003416012b9f489daf608004500002253fa40004011d2340a4d00010a4d0002c20914e9000e14bc756470"
    "2d610a";
constexpr char kOffloadUdpV6[] =
    "ead14003416012b9f489daf686dd600c15a6000f1140fd770000000000000000000000000001fd77000000000000"
    "0000000000000002d6c214e9000ffb12756470362d610a";
constexpr char kCorpusClientSyn[] =
    "4aa7c4d562b3da0a73b7f30908004500003c48f340004006dd000a6300020a630001cfaa01bb6c461033000000"
    "00a002faf0753a0000020405b40402080a50932497000000000103030a";
constexpr char kCorpusServerSynAck[] =
    "da0a73b7f3094aa7c4d562b308004500003c00004000400625f40a6300010a63000201bbcfaad224acc46c4610"
    "34a012fe88bf9e0000020405b40402080acf0f63f9509324970103030a";

TEST(PacketTest, RealOffloadPartialCapture) {
  for (const char* hex : {kOffloadSynV4, kOffloadSynV6, kOffloadUdpV4, kOffloadUdpV6}) {
    Bytes frame = test::from_hex(hex);
    ParsedPacket p;
    ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk) << hex;
    EXPECT_EQ(p.l4_checksum, ChecksumState::kOffloadPartial) << hex;
  }
  ParsedPacket syn;
  Bytes syn_frame = test::from_hex(kOffloadSynV4);
  ASSERT_EQ(parse(syn_frame, syn).status, ParseStatus::kOk);
  EXPECT_EQ(syn.tcp_flags, kTcpSyn);
  EXPECT_EQ(syn.tcp_options.mss, 1460);
  EXPECT_EQ(syn.tcp_options.window_scale, 10);
  EXPECT_TRUE(syn.tcp_options.sack_permitted);
  EXPECT_TRUE(syn.tcp_options.has_timestamps);
  EXPECT_EQ(syn.src.to_string(), "10.77.0.2");
}

TEST(PacketTest, RealCaptureWithFinishedChecksumsIsValid) {
  for (const char* hex : {kCorpusClientSyn, kCorpusServerSynAck}) {
    ParsedPacket p;
    Bytes frame = test::from_hex(hex);
    ASSERT_EQ(parse(frame, p).status, ParseStatus::kOk) << hex;
    EXPECT_EQ(p.l4_checksum, ChecksumState::kValid) << hex;
  }
}

// ---- parse_l4 (after reassembly) ----

TEST(PacketTest, ParseL4OverRebuiltDatagram) {
  for (bool v6 : {false, true}) {
    TcpSpec s = basic_tcp(v6);
    s.payload.assign(3000, 'z');
    Bytes l4 = test::build_tcp_segment(s);
    std::vector<Bytes> frags = v6 ? test::fragment_ipv6(s.frame, test::kProtoTcp, l4, 1200)
                                  : test::fragment_ipv4(s.frame, test::kProtoTcp, l4, 1200);
    ParsedPacket p;
    ASSERT_EQ(parse(frags.back(), p).status, ParseStatus::kFragment);
    ASSERT_EQ(parse_l4(ByteSpan(l4), ParseOptions{}, p).status, ParseStatus::kOk);
    EXPECT_EQ(p.src_port, 40000);
    EXPECT_EQ(p.payload.size(), 3000u);
    EXPECT_EQ(p.l4_offset, 0);
    EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
    l4[100] ^= 1;
    ASSERT_EQ(parse_l4(ByteSpan(l4), ParseOptions{}, p).status, ParseStatus::kOk);
    EXPECT_EQ(p.l4_checksum, ChecksumState::kInvalid);
  }
}

TEST(PacketTest, ParseL4SkipsDestinationOptionsInTheFragmentablePart) {
  UdpSpec u = basic_udp(true);
  Bytes udp = test::build_udp_datagram(u);
  Bytes l4 = {17, 0, 1, 4, 0, 0, 0, 0};  // destination options, PadN
  l4.insert(l4.end(), udp.begin(), udp.end());
  ParsedPacket p;
  p.ip_version = 6;
  p.src = IpAddress::from_v6(test::from_hex("20010db8000000000000000000000001").data());
  p.dst = IpAddress::from_v6(test::from_hex("20010db8000000000000000000000002").data());
  p.l4_protocol = 60;
  ASSERT_EQ(parse_l4(ByteSpan(l4), ParseOptions{}, p).status, ParseStatus::kOk);
  EXPECT_EQ(p.l4_protocol, 17);
  EXPECT_EQ(p.l4_offset, 8);
  EXPECT_EQ(p.payload.size(), 7u);
  EXPECT_EQ(p.l4_checksum, ChecksumState::kValid);
}

// ---- Robustness ----

// Every prefix of a valid frame: no crash, no read out of bounds (the copy has exactly the
// prefix's size so ASan catches any), and kOk only with a payload inside the prefix.
void check_every_truncation(const Bytes& frame) {
  for (size_t n = 0; n <= frame.size(); ++n) {
    Bytes prefix(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(n));
    ParsedPacket p;
    ParseResult r = parse(prefix, p);
    const uint8_t* lo = prefix.data();
    const uint8_t* hi = prefix.data() + prefix.size();
    if (r.status == ParseStatus::kOk && !p.payload.empty()) {
      ASSERT_GE(p.payload.data(), lo) << n;
      ASSERT_LE(p.payload.data() + p.payload.size(), hi) << n;
    }
    if (r.status == ParseStatus::kFragment) {
      ASSERT_FALSE(p.l3_payload.empty()) << n;
      ASSERT_GE(p.l3_payload.data(), lo) << n;
      ASSERT_LE(p.l3_payload.data() + p.l3_payload.size(), hi) << n;
    }
    if (r.status == ParseStatus::kMalformed) {
      ASSERT_LT(r.reason, Malformed::kCount) << n;
    }
    if (n < frame.size() && r.status != ParseStatus::kMalformed) {
      // Only Ethernet padding may be cut without the frame becoming malformed.
      ASSERT_TRUE(false) << "prefix of " << n << " bytes parsed as a whole packet";
    }
  }
}

TEST(PacketTest, EveryTruncationIsSafe) {
  TcpSpec t = basic_tcp();
  t.frame.vlans = {1, 2};
  t.frame.ipv4_options = {1, 1, 0x94, 4, 0, 0};
  t.options.mss = 1400;
  t.options.timestamps = {{1, 2}};
  check_every_truncation(test::build_tcp_frame(t));

  TcpSpec t6 = basic_tcp(true);
  t6.frame.ipv6_ext = {Ipv6Ext{0, {}}, Ipv6Ext{60, {1, 2, 0, 0}}, Ipv6Ext{51, Bytes(10, 1)}};
  t6.options.sack_permitted = true;
  check_every_truncation(test::build_tcp_frame(t6));

  check_every_truncation(test::build_udp_frame(basic_udp()));
  check_every_truncation(test::build_udp_frame(basic_udp(true)));

  TcpSpec big = basic_tcp();
  big.payload.assign(64, 'q');
  Bytes l4 = test::build_tcp_segment(big);
  for (const Bytes& f : test::fragment_ipv4(big.frame, test::kProtoTcp, l4, 32)) {
    check_every_truncation(f);
  }
  for (const Bytes& f : test::fragment_ipv6(t6.frame, test::kProtoTcp, l4, 32)) {
    check_every_truncation(f);
  }
}

// Every reason the parser can give, each from a frame built for it.
TEST(PacketTest, EveryParserReasonIsReachable) {
  std::set<Malformed> expected = {
      Malformed::kEthernetTruncated, Malformed::kVlanTruncated, Malformed::kVlanTooDeep,
      Malformed::kIpv4Truncated, Malformed::kIpv4BadVersion, Malformed::kIpv4BadHeaderLength,
      Malformed::kIpv4BadTotalLength, Malformed::kIpv4BadChecksum, Malformed::kIpv4BadOptions,
      Malformed::kIpv6Truncated, Malformed::kIpv6BadVersion, Malformed::kIpv6BadPayloadLength,
      Malformed::kIpv6BadExtensionHeader, Malformed::kIpv6TooManyExtensionHeaders,
      Malformed::kTcpTruncated, Malformed::kTcpBadDataOffset, Malformed::kTcpBadOptions,
      Malformed::kTcpBadFlags, Malformed::kUdpTruncated, Malformed::kUdpBadLength,
  };
  std::vector<Bytes> frames;
  frames.push_back(Bytes(10, 0));
  {
    TcpSpec s = basic_tcp();
    s.frame.vlans = {1};
    Bytes f = test::build_tcp_frame(s);
    f.resize(15);
    frames.push_back(f);
    s.frame.vlans = {1, 2, 3};
    frames.push_back(test::build_tcp_frame(s));
  }
  for (bool v6 : {false, true}) {
    Bytes f = test::build_tcp_frame(basic_tcp(v6));
    f.resize(20);
    frames.push_back(f);  // IP header truncated
    f = test::build_tcp_frame(basic_tcp(v6));
    f[14] ^= 0x20;  // 4 <-> 6
    frames.push_back(f);
  }
  {
    Bytes f = test::build_tcp_frame(basic_tcp());
    f[14] = 0x43;
    frames.push_back(f);
    f = test::build_tcp_frame(basic_tcp());
    f[16] = 0xff;
    frames.push_back(f);
    TcpSpec s = basic_tcp();
    s.frame.corrupt_ipv4_checksum = true;
    frames.push_back(test::build_tcp_frame(s));
    s = basic_tcp();
    s.frame.ipv4_options = {9, 9};
    frames.push_back(test::build_tcp_frame(s));
  }
  {
    Bytes f = test::build_tcp_frame(basic_tcp(true));
    f[18] = 0xff;
    frames.push_back(f);
    TcpSpec s = basic_tcp(true);
    s.frame.ipv6_ext = {Ipv6Ext{60, {}}, Ipv6Ext{0, {}}};
    frames.push_back(test::build_tcp_frame(s));
    s.frame.ipv6_ext.assign(9, Ipv6Ext{43, {}});
    frames.push_back(test::build_tcp_frame(s));
  }
  {
    FrameSpec fs;
    frames.push_back(test::build_ip_frame(fs, 6, Bytes(10, 0)));
    frames.push_back(test::build_ip_frame(fs, 17, Bytes(4, 0)));
    Bytes f = test::build_tcp_frame(basic_tcp());
    f[34 + 12] = 0x10;
    frames.push_back(f);
    TcpSpec s = basic_tcp();
    s.options.raw = {2, 2};
    frames.push_back(test::build_tcp_frame(s));
    s = basic_tcp();
    s.flags = kTcpSyn | kTcpRst;
    frames.push_back(test::build_tcp_frame(s));
    UdpSpec u = basic_udp();
    u.length_override = 2;
    frames.push_back(test::build_udp_frame(u));
  }
  std::set<Malformed> seen;
  for (const Bytes& f : frames) {
    ParsedPacket p;
    ParseResult r = parse(f, p);
    ASSERT_EQ(r.status, ParseStatus::kMalformed);
    seen.insert(r.reason);
  }
  for (Malformed m : expected) EXPECT_TRUE(seen.count(m)) << malformed_name(m);
}

}  // namespace
}  // namespace sluice
