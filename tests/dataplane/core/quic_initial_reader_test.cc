// Crafted client first flights through QuicInitialReader and the QUIC ClientHello parser:
// versions, frame orders, several Initials, coalesced packets, corruption, truncation.
#include "dataplane/core/quic_initial_reader.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "dataplane/core/tls_client_hello.h"
#include "tests/dataplane/core/quic_initial_builder.h"

namespace sluice {
namespace {

using test::build_quic_initial;
using test::QuicInitialSpec;

class QuicInitialReaderTest : public ::testing::Test {
 protected:
  QuicInitialReaderTest() : data_(16384), seen_(256) { stream_.reset(0, data_, seen_); }

  QuicDatagramResult read(const Bytes& datagram) { return reader_.read(datagram, state_, stream_); }

  // The ClientHello parsed from what has been assembled so far.
  HelloStatus hello(ClientHelloInfo& info) {
    return parse_quic_client_hello(stream_.contiguous(), info);
  }

  static Bytes concat(const std::vector<Bytes>& parts) {
    Bytes out;
    for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  }

  QuicInitialReader reader_;
  QuicFlightState state_;
  std::vector<uint8_t> data_;
  std::vector<uint64_t> seen_;
  StreamAssembler stream_;
};

TEST_F(QuicInitialReaderTest, OneInitialNamesTheServer) {
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("www.Example.org", {"h3"}));
  const QuicDatagramResult r = read(build_quic_initial(spec));
  EXPECT_TRUE(r.quic);
  EXPECT_EQ(r.version, kQuicVersion1);
  EXPECT_EQ(r.initials, 1);
  EXPECT_TRUE(r.anomalies.empty());
  ClientHelloInfo info;
  ASSERT_EQ(hello(info), HelloStatus::kComplete);
  EXPECT_EQ(info.sni_view(), "www.example.org");
  EXPECT_EQ(std::string(info.ja4_view().substr(0, 10)), "q13d0313h3");  // JA4 protocol q
}

TEST_F(QuicInitialReaderTest, Version2AndDraft29) {
  for (uint32_t version : {kQuicVersion2, kQuicDraft29}) {
    QuicInitialReader reader;
    QuicFlightState state;
    StreamAssembler stream;
    stream.reset(0, data_, seen_);
    QuicInitialSpec spec;
    spec.version = version;
    spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("v.example"));
    const QuicDatagramResult r = reader.read(build_quic_initial(spec), state, stream);
    EXPECT_EQ(r.initials, 1) << std::hex << version;
    EXPECT_EQ(state.version, version);
    ClientHelloInfo info;
    ASSERT_EQ(parse_quic_client_hello(stream.contiguous(), info), HelloStatus::kComplete);
    EXPECT_EQ(info.sni_view(), "v.example");
  }
}

// Chromium's chaos protection: CRYPTO frames in reverse order, with PADDING and PING between.
TEST_F(QuicInitialReaderTest, ReversedCryptoFramesWithPaddingAndPing) {
  const Bytes ch = test::quic_client_hello("chaos.example");
  std::vector<Bytes> frames = test::quic_crypto_frames(ch, 37);
  Bytes payload;
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    payload.insert(payload.end(), it->begin(), it->end());
    const Bytes filler = (it - frames.rbegin()) % 2 ? test::quic_ping() : test::quic_padding(3);
    payload.insert(payload.end(), filler.begin(), filler.end());
  }
  QuicInitialSpec spec;
  spec.frames = payload;
  const QuicDatagramResult r = read(build_quic_initial(spec));
  EXPECT_EQ(r.initials, 1);
  EXPECT_TRUE(r.anomalies.empty());
  ClientHelloInfo info;
  ASSERT_EQ(hello(info), HelloStatus::kComplete);
  EXPECT_EQ(info.sni_view(), "chaos.example");
}

// A post-quantum-sized hello over three Initials, arriving last-first; duplicates are harmless.
TEST_F(QuicInitialReaderTest, HelloOverThreeInitialsOutOfOrder) {
  const Bytes ch = test::quic_client_hello("three.example", {"h3"}, 2800);
  ASSERT_GT(ch.size(), 2400u);
  const size_t third = ch.size() / 3 + 1;
  std::vector<Bytes> packets;
  for (uint32_t i = 0; i < 3; ++i) {
    QuicInitialSpec spec;
    spec.packet_number = i;
    const size_t from = i * third;
    const size_t to = std::min(ch.size(), from + third);
    spec.frames = test::quic_crypto_frame(from, Bytes(ch.begin() + from, ch.begin() + to));
    packets.push_back(build_quic_initial(spec));
  }
  ClientHelloInfo info;
  read(packets[2]);
  EXPECT_EQ(hello(info), HelloStatus::kNeedMore);
  read(packets[0]);
  EXPECT_EQ(hello(info), HelloStatus::kNeedMore);
  const QuicDatagramResult dup = read(packets[0]);
  EXPECT_TRUE(dup.anomalies.empty());
  read(packets[1]);
  ASSERT_EQ(hello(info), HelloStatus::kComplete);
  EXPECT_EQ(info.sni_view(), "three.example");
}

// Later Initials carry the server-chosen DCID but keep the first one's keys (RFC 9001 5.2).
TEST_F(QuicInitialReaderTest, LaterInitialWithNewDcidUsesFirstKeys) {
  const Bytes ch = test::quic_client_hello("switch.example", {"h3"}, 2000);
  QuicInitialSpec first;
  first.frames = test::quic_crypto_frame(0, Bytes(ch.begin(), ch.begin() + 1000));
  QuicInitialSpec second;
  second.packet_number = 1;
  second.dcid = {0xaa, 0xbb, 0xcc, 0xdd};
  second.key_dcid = first.dcid;
  second.frames = concat({test::quic_ack(0),
                          test::quic_crypto_frame(1000, Bytes(ch.begin() + 1000, ch.end()))});
  read(build_quic_initial(first));
  const QuicDatagramResult r = read(build_quic_initial(second));
  EXPECT_EQ(r.initials, 1);
  EXPECT_TRUE(r.anomalies.empty());  // ACK is allowed in a client Initial
  ClientHelloInfo info;
  ASSERT_EQ(hello(info), HelloStatus::kComplete);
  EXPECT_EQ(info.sni_view(), "switch.example");
}

TEST_F(QuicInitialReaderTest, CoalescedInitialAndHandshake) {
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("coalesced.example"));
  spec.pad_packet_to = 0;
  const Bytes datagram =
      concat({build_quic_initial(spec),
              test::build_quic_long_packet(kQuicVersion1, QuicPacketType::kHandshake, spec.dcid,
                                           1200),
              test::build_quic_long_packet(kQuicVersion1, QuicPacketType::kZeroRtt, spec.dcid, 40)});
  const QuicDatagramResult r = read(datagram);
  EXPECT_EQ(r.initials, 1);
  EXPECT_EQ(r.other_packets, 2);
  ClientHelloInfo info;
  ASSERT_EQ(hello(info), HelloStatus::kComplete);
  EXPECT_EQ(info.sni_view(), "coalesced.example");
}

TEST_F(QuicInitialReaderTest, OverlapWithOtherBytesIsAConflict) {
  const Bytes ch = test::quic_client_hello("real.example");
  Bytes fake = test::quic_client_hello("fake.example");
  QuicInitialSpec a;
  a.frames = test::quic_crypto_frame(0, ch);
  QuicInitialSpec b;
  b.packet_number = 1;
  b.frames = test::quic_crypto_frame(0, fake);
  read(build_quic_initial(a));
  const QuicDatagramResult r = read(build_quic_initial(b));
  EXPECT_TRUE(r.anomalies.has(Anomaly::kOverlapConflict));
  ClientHelloInfo info;
  ASSERT_EQ(hello(info), HelloStatus::kComplete);
  EXPECT_EQ(info.sni_view(), "real.example");  // first seen bytes are kept
}

TEST_F(QuicInitialReaderTest, CorruptedTagIsNotRead) {
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("corrupt.example"));
  Bytes packet = build_quic_initial(spec);
  packet[packet.size() - 1] ^= 0x80;
  const QuicDatagramResult r = read(packet);
  EXPECT_TRUE(r.quic);
  EXPECT_EQ(r.initials, 0);
  EXPECT_EQ(r.undecryptable, 1);
  EXPECT_TRUE(r.anomalies.has(Anomaly::kQuicUndecryptable));
  EXPECT_EQ(stream_.contiguous_length(), 0u);
}

TEST_F(QuicInitialReaderTest, TruncatedPacketIsMalformedNotACrash) {
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("cut.example"));
  const Bytes packet = build_quic_initial(spec);
  for (size_t n : {size_t{1}, size_t{6}, size_t{20}, size_t{100}, packet.size() - 1}) {
    const Bytes cut(packet.begin(), packet.begin() + n);
    const QuicDatagramResult r = read(cut);
    EXPECT_EQ(r.initials, 0) << n;
  }
}

TEST_F(QuicInitialReaderTest, SmallDatagramInitialIsIgnoredAsTheServerWould) {
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("small.example"));
  spec.pad_packet_to = 0;
  const QuicDatagramResult r = read(build_quic_initial(spec));
  EXPECT_TRUE(r.short_datagram);
  EXPECT_EQ(r.initials, 0);
  EXPECT_EQ(stream_.contiguous_length(), 0u);
}

TEST_F(QuicInitialReaderTest, StreamFrameInInitialIsAnAnomaly) {
  QuicInitialSpec spec;
  spec.frames = concat({test::quic_crypto_frame(0, test::quic_client_hello("x.example")),
                        test::quic_frame_of_type(0x08)});
  const QuicDatagramResult r = read(build_quic_initial(spec));
  EXPECT_TRUE(r.anomalies.has(Anomaly::kQuicUnexpectedFrame));
  ClientHelloInfo info;
  EXPECT_EQ(hello(info), HelloStatus::kComplete);  // what came before it still counts
}

TEST_F(QuicInitialReaderTest, OtherPacketTypesAreRecognisedAndSkipped) {
  const Bytes dcid = {1, 2, 3, 4};
  // Version negotiation (version 0), an unknown version, a short header, a Retry.
  Bytes vn = {0xc0, 0, 0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 1};
  QuicDatagramResult r = read(vn);
  EXPECT_TRUE(r.quic);
  EXPECT_EQ(r.other_packets, 1);
  Bytes unknown = {0xc0, 0x0a, 0x1a, 0x2a, 0x3a, 4, 1, 2, 3, 4, 0, 9, 9, 9};
  r = read(unknown);
  EXPECT_FALSE(r.quic);
  Bytes short_header = {0x40, 1, 2, 3, 4, 5, 6, 7, 8};
  r = read(short_header);
  EXPECT_FALSE(r.quic);
  r = read(test::build_quic_long_packet(kQuicVersion1, QuicPacketType::kRetry, dcid, 30));
  EXPECT_TRUE(r.quic);
  EXPECT_EQ(r.initials, 0);
  EXPECT_EQ(stream_.contiguous_length(), 0u);
}

TEST_F(QuicInitialReaderTest, CryptoBeyondTheCapIsReported) {
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(uint64_t{1} << 40, Bytes(10, 1));
  const QuicDatagramResult r = read(build_quic_initial(spec));
  EXPECT_TRUE(r.anomalies.has(Anomaly::kFirstFlightByteCap));
}

}  // namespace
}  // namespace sluice
