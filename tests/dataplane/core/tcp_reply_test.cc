// build_tcp_reply: the resets and TLS alerts the inspector sends, parsed back with the core's own
// parser and checked against the test builder's independent checksum code.
#include "dataplane/core/tcp_reply.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <vector>

#include "dataplane/core/packet.h"
#include "tests/dataplane/core/packet_builder.h"

namespace sluice {
namespace {

using test::Bytes;

constexpr std::array<uint8_t, 6> kDstMac = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01};
constexpr std::array<uint8_t, 6> kSrcMac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x02};

// An L2 header as a client frame would carry it: dst MAC, src MAC, tags, ethertype.
L2Header make_l2(uint16_t ethertype, const std::vector<std::pair<uint16_t, uint16_t>>& tags = {}) {
  L2Header l2;
  size_t n = 0;
  std::memcpy(l2.bytes + n, kDstMac.data(), 6);
  n += 6;
  std::memcpy(l2.bytes + n, kSrcMac.data(), 6);
  n += 6;
  for (const auto& [tpid, vid] : tags) {
    l2.bytes[n++] = static_cast<uint8_t>(tpid >> 8);
    l2.bytes[n++] = static_cast<uint8_t>(tpid);
    l2.bytes[n++] = static_cast<uint8_t>(vid >> 8);
    l2.bytes[n++] = static_cast<uint8_t>(vid);
  }
  l2.bytes[n++] = static_cast<uint8_t>(ethertype >> 8);
  l2.bytes[n++] = static_cast<uint8_t>(ethertype);
  l2.length = static_cast<uint8_t>(n);
  return l2;
}

IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t raw[4] = {a, b, c, d};
  return IpAddress::from_v4(raw);
}
IpAddress v6(uint8_t last) {
  uint8_t raw[16] = {0x20, 0x01, 0x0d, 0xb8};
  raw[15] = last;
  return IpAddress::from_v6(raw);
}

struct Built {
  Bytes frame;
  ParsedPacket p;
  ParseResult r;
};

Built build_and_parse(const L2Header& l2, bool swap, const TcpReply& reply) {
  Built b;
  b.frame.assign(kMaxReplyFrame, 0xee);
  const size_t n = build_tcp_reply(l2, swap, reply, b.frame.data(), b.frame.size());
  b.frame.resize(n);
  if (n == 0) return b;
  ParseOptions options;  // verifies the IPv4 header and L4 checksums
  b.r = parse_frame(ByteSpan(b.frame.data(), b.frame.size()), options, b.p);
  return b;
}

struct Case {
  bool ipv6;
  int tags;  // 0, 1 or 2 VLAN tags
  bool swap;
  bool with_payload;
};

class TcpReplyTest : public ::testing::TestWithParam<Case> {};

TEST_P(TcpReplyTest, ParsesBackAsAsked) {
  const Case c = GetParam();
  std::vector<std::pair<uint16_t, uint16_t>> tags;
  if (c.tags == 1) tags = {{0x8100, 100}};
  if (c.tags == 2) tags = {{0x88a8, 300}, {0x8100, 42}};
  const L2Header l2 = make_l2(c.ipv6 ? 0x86dd : 0x0800, tags);

  TcpReply reply;
  reply.src = {c.ipv6 ? v6(1) : v4(198, 51, 100, 7), 443};
  reply.dst = {c.ipv6 ? v6(2) : v4(10, 0, 0, 2), 40001};
  reply.seq = 0xfffffff0u;  // near the wrap, to see all 32 bits carried
  reply.ack = 0x01020304u;
  reply.flags = c.with_payload ? (kTcpPsh | kTcpAck) : (kTcpRst | kTcpAck);
  reply.window = c.with_payload ? 0 : 1234;
  if (c.with_payload)
    reply.payload = ByteSpan(kTlsAccessDeniedAlert, sizeof(kTlsAccessDeniedAlert));

  const Built b = build_and_parse(l2, c.swap, reply);
  const size_t expected = l2.length + (c.ipv6 ? 40 : 20) + 20 + reply.payload.size();
  ASSERT_EQ(b.frame.size(), expected);
  ASSERT_EQ(b.r.status, ParseStatus::kOk);

  // L2: the tags as they were, the MACs swapped only when asked.
  const auto& first = c.swap ? kSrcMac : kDstMac;
  const auto& second = c.swap ? kDstMac : kSrcMac;
  EXPECT_EQ(0, std::memcmp(b.frame.data(), first.data(), 6));
  EXPECT_EQ(0, std::memcmp(b.frame.data() + 6, second.data(), 6));
  EXPECT_EQ(0, std::memcmp(b.frame.data() + 12, l2.bytes + 12, l2.length - 12))
      << "tags and ethertype copied as they were";
  EXPECT_EQ(b.p.vlan_count, c.tags);
  if (c.tags == 1) {
    EXPECT_EQ(b.p.vlan_ids[0], 100);
  }
  if (c.tags == 2) {
    EXPECT_EQ(b.p.vlan_ids[0], 300);
    EXPECT_EQ(b.p.vlan_ids[1], 42);
  }
  EXPECT_EQ(b.p.l3_offset, l2.length);

  // L3.
  EXPECT_EQ(b.p.ip_version, c.ipv6 ? 6 : 4);
  EXPECT_EQ(b.p.src, reply.src.ip);
  EXPECT_EQ(b.p.dst, reply.dst.ip);
  EXPECT_GT(b.p.ttl, 0);
  EXPECT_FALSE(b.p.fragment.is_fragment);
  if (!c.ipv6) {
    const std::span<const uint8_t> ip(b.frame.data() + l2.length, 20);
    EXPECT_EQ(test::internet_checksum(ip), 0) << "IPv4 header checksum sums to all ones";
    EXPECT_EQ((ip[2] << 8 | ip[3]), 40 + reply.payload.size()) << "IPv4 total length";
  } else {
    const uint8_t* ip = b.frame.data() + l2.length;
    EXPECT_EQ((ip[4] << 8 | ip[5]), 20 + reply.payload.size()) << "IPv6 payload length";
  }

  // L4.
  EXPECT_EQ(b.p.l4_protocol, 6);
  EXPECT_EQ(check_l4_checksum(b.p), ChecksumState::kValid);
  EXPECT_EQ(b.p.src_port, 443);
  EXPECT_EQ(b.p.dst_port, 40001);
  EXPECT_EQ(b.p.seq, reply.seq);
  EXPECT_EQ(b.p.ack, reply.ack);
  EXPECT_EQ(b.p.tcp_flags, reply.flags);
  EXPECT_EQ(b.p.window, reply.window);
  ASSERT_EQ(b.p.payload.size(), reply.payload.size());
  if (!reply.payload.empty()) {
    EXPECT_EQ(0, std::memcmp(b.p.payload.data(), reply.payload.data(), reply.payload.size()));
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (bool ipv6 : {false, true})
    for (int tags : {0, 1, 2})
      for (bool swap : {false, true})
        for (bool payload : {false, true}) out.push_back({ipv6, tags, swap, payload});
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllShapes, TcpReplyTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& shape) {
                           const Case& c = shape.param;
                           return std::string(c.ipv6 ? "v6" : "v4") + "_tags" +
                                  std::to_string(c.tags) + (c.swap ? "_swapped" : "_kept") +
                                  (c.with_payload ? "_alert" : "_rst");
                         });

TEST(TcpReplyRefusals, EthertypeMustMatchTheAddressFamily) {
  uint8_t out[kMaxReplyFrame];
  TcpReply v4_reply;
  v4_reply.src = {v4(10, 0, 0, 1), 443};
  v4_reply.dst = {v4(10, 0, 0, 2), 40000};
  v4_reply.flags = kTcpRst;
  TcpReply v6_reply = v4_reply;
  v6_reply.src.ip = v6(1);
  v6_reply.dst.ip = v6(2);

  EXPECT_EQ(build_tcp_reply(make_l2(0x86dd), false, v4_reply, out, sizeof(out)), 0u);
  EXPECT_EQ(build_tcp_reply(make_l2(0x0800), false, v6_reply, out, sizeof(out)), 0u);
  EXPECT_EQ(build_tcp_reply(make_l2(0x86dd, {{0x8100, 5}}), false, v4_reply, out, sizeof(out)),
            0u);
  EXPECT_EQ(build_tcp_reply(make_l2(0x0800, {{0x88a8, 5}, {0x8100, 6}}), true, v6_reply, out,
                            sizeof(out)),
            0u);
  // ARP, or a header that ends in a tag rather than an IP ethertype.
  EXPECT_EQ(build_tcp_reply(make_l2(0x0806), false, v4_reply, out, sizeof(out)), 0u);
  L2Header ends_in_tag = make_l2(0x8100);
  EXPECT_EQ(build_tcp_reply(ends_in_tag, false, v4_reply, out, sizeof(out)), 0u);

  // Mixed families in the reply itself.
  TcpReply mixed = v4_reply;
  mixed.dst.ip = v6(2);
  EXPECT_EQ(build_tcp_reply(make_l2(0x0800), false, mixed, out, sizeof(out)), 0u);
  EXPECT_EQ(build_tcp_reply(make_l2(0x86dd), false, mixed, out, sizeof(out)), 0u);

  // The matching ones do build.
  EXPECT_GT(build_tcp_reply(make_l2(0x0800), false, v4_reply, out, sizeof(out)), 0u);
  EXPECT_GT(build_tcp_reply(make_l2(0x86dd), false, v6_reply, out, sizeof(out)), 0u);
}

TEST(TcpReplyRefusals, NoOrShortL2Header) {
  uint8_t out[kMaxReplyFrame];
  TcpReply r;
  r.src = {v4(10, 0, 0, 1), 443};
  r.dst = {v4(10, 0, 0, 2), 40000};
  r.flags = kTcpRst;
  L2Header none;  // length 0: nothing captured
  EXPECT_EQ(build_tcp_reply(none, false, r, out, sizeof(out)), 0u);
  L2Header short_one = make_l2(0x0800);
  short_one.length = 13;
  EXPECT_EQ(build_tcp_reply(short_one, false, r, out, sizeof(out)), 0u);
  L2Header too_long = make_l2(0x0800);
  too_long.length = kMaxL2Header + 1;
  EXPECT_EQ(build_tcp_reply(too_long, false, r, out, sizeof(out)), 0u);
}

TEST(TcpReplyRefusals, BufferTooSmall) {
  TcpReply r;
  r.src = {v4(10, 0, 0, 1), 443};
  r.dst = {v4(10, 0, 0, 2), 40000};
  r.flags = kTcpPsh | kTcpAck;
  r.payload = ByteSpan(kTlsAccessDeniedAlert, sizeof(kTlsAccessDeniedAlert));
  const L2Header l2 = make_l2(0x0800, {{0x88a8, 1}, {0x8100, 2}});
  const size_t need = l2.length + 20 + 20 + sizeof(kTlsAccessDeniedAlert);

  std::vector<uint8_t> buf(need + 8, 0x5a);
  EXPECT_EQ(build_tcp_reply(l2, false, r, buf.data(), need - 1), 0u);
  EXPECT_EQ(build_tcp_reply(l2, false, r, buf.data(), 0), 0u);
  for (size_t i = 0; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0x5a) << "refused: nothing written";
  EXPECT_EQ(build_tcp_reply(l2, false, r, buf.data(), need), need) << "an exact fit builds";
  for (size_t i = need; i < buf.size(); ++i) ASSERT_EQ(buf[i], 0x5a) << "nothing past the end";

  // The largest reply the inspector builds fits its own constant (IPv6, two tags, alert).
  TcpReply big = r;
  big.src.ip = v6(1);
  big.dst.ip = v6(2);
  uint8_t out[kMaxReplyFrame];
  EXPECT_GT(build_tcp_reply(make_l2(0x86dd, {{0x88a8, 1}, {0x8100, 2}}), true, big, out,
                            sizeof(out)),
            0u);
}

TEST(TcpReplyAlert, IsAFatalAccessDeniedRecord) {
  // RFC 8446 6: content type alert (21), legacy version 3,3, length 2, fatal (2), access_denied (49).
  EXPECT_EQ(sizeof(kTlsAccessDeniedAlert), 7u);
  EXPECT_EQ(kTlsAccessDeniedAlert[0], 21);
  EXPECT_EQ(kTlsAccessDeniedAlert[1], 3);
  EXPECT_EQ(kTlsAccessDeniedAlert[2], 3);
  EXPECT_EQ(kTlsAccessDeniedAlert[3], 0);
  EXPECT_EQ(kTlsAccessDeniedAlert[4], 2);
  EXPECT_EQ(kTlsAccessDeniedAlert[5], 2);
  EXPECT_EQ(kTlsAccessDeniedAlert[6], 49);
}

}  // namespace
}  // namespace sluice
