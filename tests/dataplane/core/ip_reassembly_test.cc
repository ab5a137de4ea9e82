#include "dataplane/core/ip_reassembly.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "dataplane/core/packet.h"
#include "tests/dataplane/core/packet_builder.h"

namespace sluice {
namespace {

using test::Bytes;
using test::FrameSpec;
using test::TcpSpec;
using Result = IpReassembler::Result;

constexpr uint64_t kMs = 1'000'000;

uint64_t reason_count(const WorkerStats& s, Malformed m) {
  return s.malformed_by_reason[static_cast<size_t>(m)];
}

// Feeds frames to one reassembler and remembers what came out.
class Harness {
 public:
  explicit Harness(IpReassemblyConfig config = {}) : reassembler_(config) {}

  Result feed(const Bytes& frame, uint64_t now_ns = 0) {
    ParsedPacket p;
    ParseResult r = parse_frame(ByteSpan(frame), ParseOptions{}, p);
    EXPECT_EQ(r.status, ParseStatus::kFragment);
    ByteSpan l4;
    Result result = reassembler_.add(p, now_ns, stats_, l4);
    if (result == Result::kComplete) {
      datagram_.assign(l4.begin(), l4.end());
      last_ = p;
      EXPECT_EQ(parse_l4(l4, ParseOptions{}, last_).status, ParseStatus::kOk);
      payload_.assign(last_.payload.begin(), last_.payload.end());
    }
    return result;
  }

  // Feeds all; returns the result of the last one.
  Result feed_all(const std::vector<Bytes>& frames, uint64_t now_ns = 0) {
    Result r = Result::kDropped;
    for (const Bytes& f : frames) r = feed(f, now_ns);
    return r;
  }

  IpReassembler& reassembler() { return reassembler_; }
  WorkerStats& stats() { return stats_; }
  const Bytes& datagram() const { return datagram_; }
  const Bytes& payload() const { return payload_; }
  const ParsedPacket& last() const { return last_; }

 private:
  IpReassembler reassembler_;
  WorkerStats stats_;
  Bytes datagram_;
  Bytes payload_;
  ParsedPacket last_;
};

TcpSpec big_tcp(bool v6, size_t payload = 2000, uint16_t id = 7) {
  TcpSpec s;
  s.frame.ipv6 = v6;
  s.frame.ipv4_id = id;
  s.frame.dont_fragment = false;
  s.payload.resize(payload);
  for (size_t i = 0; i < payload; ++i) s.payload[i] = static_cast<uint8_t>(i * 7 + 3);
  return s;
}

std::vector<Bytes> fragments(const TcpSpec& s, size_t chunk, uint32_t id = 7, size_t overlap = 0,
                             bool corrupt = false) {
  Bytes l4 = test::build_tcp_segment(s);
  return s.frame.ipv6 ? test::fragment_ipv6(s.frame, test::kProtoTcp, l4, chunk, id, overlap,
                                            corrupt)
                      : test::fragment_ipv4(s.frame, test::kProtoTcp, l4, chunk, overlap, corrupt);
}

class ReassemblyBothVersions : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(IpVersions, ReassemblyBothVersions, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "v6" : "v4";
                         });

TEST_P(ReassemblyBothVersions, InOrder) {
  Harness h;
  TcpSpec s = big_tcp(GetParam());
  std::vector<Bytes> frags = fragments(s, 600);
  ASSERT_EQ(frags.size(), 4u);
  for (size_t i = 0; i + 1 < frags.size(); ++i) {
    EXPECT_EQ(h.feed(frags[i]), Result::kIncomplete);
    EXPECT_EQ(h.reassembler().in_progress(), 1u);
  }
  ASSERT_EQ(h.feed(frags.back()), Result::kComplete);
  EXPECT_EQ(h.datagram(), test::build_tcp_segment(s));
  EXPECT_EQ(h.payload(), s.payload);
  EXPECT_EQ(h.last().l4_checksum, ChecksumState::kValid);
  EXPECT_EQ(h.last().src_port, 40000);
  EXPECT_EQ(h.stats().ip_fragments, 4u);
  EXPECT_EQ(h.stats().ip_reassembled, 1u);
  EXPECT_EQ(h.stats().malformed, 0u);
  EXPECT_EQ(h.reassembler().in_progress(), 0u);
}

TEST_P(ReassemblyBothVersions, Reversed) {
  Harness h;
  TcpSpec s = big_tcp(GetParam());
  std::vector<Bytes> frags = fragments(s, 256);
  std::reverse(frags.begin(), frags.end());
  EXPECT_EQ(h.feed_all(frags), Result::kComplete);
  EXPECT_EQ(h.payload(), s.payload);
  EXPECT_EQ(h.stats().ip_reassembled, 1u);
}

TEST_P(ReassemblyBothVersions, ShuffledAndDuplicated) {
  Harness h;
  TcpSpec s = big_tcp(GetParam());
  std::vector<Bytes> frags = fragments(s, 400);
  ASSERT_EQ(frags.size(), 6u);
  std::vector<Bytes> order = {frags[2], frags[0], frags[2], frags[5], frags[1],
                              frags[1], frags[4], frags[0]};
  EXPECT_EQ(h.feed_all(order), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[3]), Result::kComplete);
  EXPECT_EQ(h.payload(), s.payload);
  EXPECT_EQ(h.stats().malformed, 0u);
  EXPECT_EQ(h.stats().ip_fragments, 9u);
}

TEST_P(ReassemblyBothVersions, OverlapWithSameBytesIsRejected) {
  Harness h;
  std::vector<Bytes> frags = fragments(big_tcp(GetParam()), 512, 7, /*overlap=*/8);
  ASSERT_EQ(h.feed(frags[0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[1]), Result::kDropped);  // starts 8 bytes inside frags[0]
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentOverlap), 1u);
  EXPECT_EQ(h.reassembler().in_progress(), 1u);  // kept, refusing the rest, until its timeout
  h.feed_all(frags);
  EXPECT_EQ(h.stats().ip_reassembled, 0u);
}

// frags[0] went on to the server before the datagram was refused: had the rest gone on too (a
// fresh datagram to us, never complete), the server would have completed what we never judged.
TEST_P(ReassemblyBothVersions, ARefusedDatagramsLaterFragmentsAreDroppedUntilItsTimeout) {
  IpReassemblyConfig config;
  Harness h(config);
  std::vector<Bytes> frags = fragments(big_tcp(GetParam()), 512, 7, 16, /*corrupt=*/true);
  ASSERT_GE(frags.size(), 3u);
  ASSERT_EQ(h.feed(frags[0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[1]), Result::kDropped);
  for (size_t i = 2; i < frags.size(); ++i) EXPECT_EQ(h.feed(frags[i]), Result::kDropped) << i;
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentBad), frags.size() - 2);
  EXPECT_EQ(config.timeout_ns, 30'000'000'000u) << "the receivers' (Linux ipfrag_time)";
}

TEST_P(ReassemblyBothVersions, OverlapWithDifferentBytesIsRejected) {
  Harness h;
  std::vector<Bytes> frags = fragments(big_tcp(GetParam()), 512, 7, 16, /*corrupt=*/true);
  ASSERT_EQ(h.feed(frags[0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[1]), Result::kDropped);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentOverlap), 1u);
  EXPECT_EQ(h.reassembler().in_progress(), 1u);
  EXPECT_EQ(h.feed(frags[2]), Result::kDropped);  // the refused datagram's rest
}

TEST_P(ReassemblyBothVersions, SameRangeDifferentBytesIsRejected) {
  Harness h;
  bool v6 = GetParam();
  TcpSpec s = big_tcp(v6);
  Bytes l4 = test::build_tcp_segment(s);
  Bytes first(l4.begin(), l4.begin() + 64);
  Bytes evil = first;
  evil[40] ^= 0x55;
  auto make = [&](const Bytes& data) {
    return v6 ? test::build_ipv6_fragment(s.frame, test::kProtoTcp, data, 0, true, 9)
              : test::build_ipv4_fragment(s.frame, test::kProtoTcp, data, 0, true);
  };
  EXPECT_EQ(h.feed(make(first)), Result::kIncomplete);
  EXPECT_EQ(h.feed(make(evil)), Result::kDropped);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentOverlap), 1u);
}

TEST_P(ReassemblyBothVersions, TooLarge) {
  IpReassemblyConfig config;
  config.max_datagram_bytes = 1024;
  Harness h(config);
  std::vector<Bytes> frags = fragments(big_tcp(GetParam(), 1500), 512);
  EXPECT_EQ(h.feed(frags[0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[1]), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[2]), Result::kDropped);  // ends past 1024
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTooLarge), 1u);
  EXPECT_EQ(h.reassembler().in_progress(), 1u);
}

TEST_P(ReassemblyBothVersions, TooManyFragments) {
  IpReassemblyConfig config;
  config.max_fragments = 4;
  Harness h(config);
  std::vector<Bytes> frags = fragments(big_tcp(GetParam(), 100), 8);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(h.feed(frags[i]), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[4]), Result::kDropped);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTooLarge), 1u);
}

TEST_P(ReassemblyBothVersions, TableFullRefusesNewDatagramsAndKeepsLiveOnes) {
  IpReassemblyConfig config;
  config.max_datagrams = 2;
  Harness h(config);
  bool v6 = GetParam();
  std::vector<std::vector<Bytes>> datagrams;
  for (uint16_t id = 1; id <= 3; ++id) {
    datagrams.push_back(fragments(big_tcp(v6, 1000, id), 512, id));
  }
  EXPECT_EQ(h.feed(datagrams[0][0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(datagrams[1][0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(datagrams[2][0]), Result::kDropped);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTableFull), 1u);
  EXPECT_EQ(h.reassembler().in_progress(), 2u);
  EXPECT_EQ(h.feed(datagrams[0][1]), Result::kComplete);
  EXPECT_EQ(h.feed(datagrams[1][1]), Result::kComplete);
  EXPECT_EQ(h.feed_all(datagrams[2]), Result::kComplete);
  EXPECT_EQ(h.stats().ip_reassembled, 3u);
}

TEST_P(ReassemblyBothVersions, TableFullReclaimsOnlyStaleDatagrams) {
  IpReassemblyConfig config;
  config.max_datagrams = 1;
  config.timeout_ns = 100 * kMs;
  Harness h(config);
  bool v6 = GetParam();
  std::vector<Bytes> a = fragments(big_tcp(v6, 1000, 1), 512, 1);
  std::vector<Bytes> b = fragments(big_tcp(v6, 1000, 2), 512, 2);
  EXPECT_EQ(h.feed(a[0], 0), Result::kIncomplete);
  EXPECT_EQ(h.feed(b[0], 50 * kMs), Result::kDropped);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTableFull), 1u);
  EXPECT_EQ(h.feed(b[0], 150 * kMs), Result::kIncomplete);  // a is stale now
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTimeout), 1u);
  EXPECT_EQ(h.feed(b[1], 160 * kMs), Result::kComplete);
}

TEST_P(ReassemblyBothVersions, Timeout) {
  IpReassemblyConfig config;
  config.timeout_ns = 100 * kMs;
  Harness h(config);
  std::vector<Bytes> frags = fragments(big_tcp(GetParam()), 1024);
  EXPECT_EQ(h.feed(frags[0], 10 * kMs), Result::kIncomplete);
  h.reassembler().expire(110 * kMs, h.stats());  // exactly the timeout: still alive
  EXPECT_EQ(h.reassembler().in_progress(), 1u);
  h.reassembler().expire(111 * kMs, h.stats());
  EXPECT_EQ(h.reassembler().in_progress(), 0u);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTimeout), 1u);
  // The late rest starts over and cannot complete without the first part.
  EXPECT_EQ(h.feed(frags[1], 120 * kMs), Result::kIncomplete);
}

TEST_P(ReassemblyBothVersions, LateFragmentOfStaleDatagramCountsTimeout) {
  IpReassemblyConfig config;
  config.timeout_ns = 100 * kMs;
  Harness h(config);
  std::vector<Bytes> frags = fragments(big_tcp(GetParam()), 1024);
  EXPECT_EQ(h.feed(frags[0], 0), Result::kIncomplete);
  EXPECT_EQ(h.feed(frags[1], 500 * kMs), Result::kIncomplete);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentTimeout), 1u);
  EXPECT_EQ(h.reassembler().in_progress(), 1u);
}

TEST_P(ReassemblyBothVersions, InconsistentLengthsAreBad) {
  bool v6 = GetParam();
  TcpSpec s = big_tcp(v6, 200);
  Bytes l4 = test::build_tcp_segment(s);
  auto frag = [&](uint32_t begin, uint32_t end, bool more) {
    Bytes data(l4.begin() + begin, l4.begin() + end);
    return v6 ? test::build_ipv6_fragment(s.frame, test::kProtoTcp, data, begin, more, 3)
              : test::build_ipv4_fragment(s.frame, test::kProtoTcp, data, begin, more);
  };
  {
    Harness h;  // a non-last fragment whose length is not a multiple of 8
    EXPECT_EQ(h.feed(frag(0, 100, true)), Result::kDropped);
    EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentBad), 1u);
  }
  {
    Harness h;  // two last fragments that disagree on the length
    EXPECT_EQ(h.feed(frag(64, 120, false)), Result::kIncomplete);
    EXPECT_EQ(h.feed(frag(128, 200, false)), Result::kDropped);
    EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentBad), 1u);
    EXPECT_EQ(h.reassembler().in_progress(), 1u);
  }
  {
    Harness h;  // data past the end set by the last fragment
    EXPECT_EQ(h.feed(frag(8, 40, false)), Result::kIncomplete);
    EXPECT_EQ(h.feed(frag(48, 96, true)), Result::kDropped);
    EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentBad), 1u);
  }
  {
    Harness h;  // a last fragment ending before data already seen
    EXPECT_EQ(h.feed(frag(96, 160, true)), Result::kIncomplete);
    EXPECT_EQ(h.feed(frag(8, 50, false)), Result::kDropped);
    EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentBad), 1u);
  }
}

TEST(IpReassemblyTest, EmptyFragmentIsBad) {
  Harness h;
  FrameSpec f;
  EXPECT_EQ(h.feed(test::build_ipv4_fragment(f, test::kProtoTcp, Bytes{}, 8, true)),
            Result::kDropped);
  EXPECT_EQ(reason_count(h.stats(), Malformed::kFragmentBad), 1u);
}

TEST(IpReassemblyTest, DatagramsAreKeptApart) {
  Harness h;
  TcpSpec a = big_tcp(false, 1000, 1);
  TcpSpec b = big_tcp(false, 1000, 1);
  b.frame.src_ip = "192.0.2.99";  // same id, other source
  TcpSpec c = big_tcp(false, 1000, 2);
  std::vector<Bytes> fa = fragments(a, 512);
  std::vector<Bytes> fb = fragments(b, 512);
  std::vector<Bytes> fc = fragments(c, 512);
  EXPECT_EQ(h.feed(fa[0]), Result::kIncomplete);
  EXPECT_EQ(h.feed(fb[1]), Result::kIncomplete);
  EXPECT_EQ(h.feed(fc[0]), Result::kIncomplete);
  EXPECT_EQ(h.reassembler().in_progress(), 3u);
  EXPECT_EQ(h.feed(fb[0]), Result::kComplete);
  EXPECT_EQ(h.last().src.to_string(), "192.0.2.99");
  EXPECT_EQ(h.feed(fa[1]), Result::kComplete);
  EXPECT_EQ(h.last().src.to_string(), "192.0.2.1");
  EXPECT_EQ(h.payload(), a.payload);
  EXPECT_EQ(h.reassembler().in_progress(), 1u);
}

TEST(IpReassemblyTest, UdpOverIpv6WithDestinationOptionsAfterTheFragmentHeader) {
  // The fragmentable part starts with a destination options header; parse_l4 skips it.
  test::UdpSpec u;
  u.frame.ipv6 = true;
  u.payload.assign(300, 'u');
  Bytes udp = test::build_udp_datagram(u);
  const Bytes dest_options = {17, 0, 1, 4, 0, 0, 0, 0};  // next: UDP; PadN
  Bytes l4(dest_options.size() + udp.size());
  std::copy(dest_options.begin(), dest_options.end(), l4.begin());
  std::copy(udp.begin(), udp.end(), l4.begin() + 8);
  std::vector<Bytes> frags = test::fragment_ipv6(u.frame, 60, l4, 128, 77);
  Harness h;
  EXPECT_EQ(h.feed_all(frags), Result::kComplete);
  EXPECT_EQ(h.last().l4_protocol, 17);
  EXPECT_EQ(h.payload(), u.payload);
  EXPECT_EQ(h.last().l4_checksum, ChecksumState::kValid);
}

TEST(IpReassemblyTest, CorruptedDatagramHasInvalidChecksum) {
  TcpSpec s = big_tcp(false, 500);
  s.frame.l4_checksum = test::L4Checksum::kCorrupt;
  Harness h;
  EXPECT_EQ(h.feed_all(fragments(s, 200)), Result::kComplete);
  EXPECT_EQ(h.last().l4_checksum, ChecksumState::kInvalid);
}

TEST(IpReassemblyTest, ManyDatagramsReuseSlots) {
  IpReassemblyConfig config;
  config.max_datagrams = 4;
  Harness h(config);
  for (uint16_t id = 0; id < 100; ++id) {
    TcpSpec s = big_tcp(id % 2 == 1, 300 + id, id);
    std::vector<Bytes> frags = fragments(s, 128, id);
    std::reverse(frags.begin(), frags.end());
    ASSERT_EQ(h.feed_all(frags, id * kMs), Result::kComplete) << id;
    ASSERT_EQ(h.payload(), s.payload) << id;
  }
  EXPECT_EQ(h.stats().ip_reassembled, 100u);
  EXPECT_EQ(h.stats().malformed, 0u);
}

}  // namespace
}  // namespace sluice
