// The first-flight stage end to end on built frames: what an evasive client or a hostile
// network does to a ClientHello, and what the verdict event says about it.
#include "dataplane/core/flow_inspector.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "tests/dataplane/core/client_hello_builder.h"
#include "tests/dataplane/core/packet_builder.h"
#include "tests/dataplane/core/recording_audit_sink.h"

namespace sluice {
namespace {

using test::build_tcp_frame;
using test::build_udp_frame;
using test::FrameSpec;
using test::TcpSpec;
using test::UdpSpec;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSecond = 1'000'000'000;

using VectorSink = test::RecordingAuditSink;

// One TCP connection between a client and a server, as frames.
class Conversation {
 public:
  explicit Conversation(uint16_t client_port = 40000, uint16_t server_port = 443,
                        bool ipv6 = false) {
    c_.frame.ipv6 = s_.frame.ipv6 = ipv6;
    c_.frame.src_ip = s_.frame.dst_ip = ipv6 ? "2001:db8::2" : "10.0.0.2";
    c_.frame.dst_ip = s_.frame.src_ip = ipv6 ? "2001:db8::1" : "10.0.0.1";
    c_.src_port = s_.dst_port = client_port;
    c_.dst_port = s_.src_port = server_port;
  }
  FrameSpec& client_frame() { return c_.frame; }
  FrameSpec& server_frame() { return s_.frame; }

  Bytes syn(Bytes payload = {}, bool tfo = false, bool timestamps = false) {
    TcpSpec t = c_;
    t.seq = kClientIsn;
    t.ack = 0;
    t.flags = kTcpSyn;
    t.options.mss = 1460;
    t.options.window_scale = 7;
    t.options.sack_permitted = true;
    if (timestamps) t.options.timestamps = std::make_pair(uint32_t{999}, uint32_t{0});
    if (tfo) t.options.fast_open_cookie = Bytes{1, 2, 3, 4, 5, 6, 7, 8};
    t.payload = std::move(payload);
    return build_tcp_frame(t);
  }
  Bytes synack(uint16_t window = 65535, uint32_t syn_data_acked = 0, bool timestamps = false) {
    TcpSpec t = s_;
    t.seq = kServerIsn;
    t.ack = kClientIsn + 1 + syn_data_acked;
    t.flags = kTcpSyn | kTcpAck;
    t.window = window;
    t.options.mss = 1460;
    t.options.window_scale = 7;
    if (timestamps) t.options.timestamps = std::make_pair(uint32_t{5000}, uint32_t{999});
    return build_tcp_frame(t);
  }
  Bytes ack() { return client(0, {}, kTcpAck); }
  // Client bytes at `offset` from the start of its stream (tsval 0: no timestamp option).
  TcpSpec client_spec(uint32_t offset, Bytes payload, uint8_t flags, uint32_t tsval) {
    TcpSpec t = c_;
    t.seq = kClientIsn + 1 + offset;
    t.ack = kServerIsn + 1;
    t.flags = flags;
    t.window = 502;
    if (tsval != 0) t.options.timestamps = std::make_pair(tsval, uint32_t{5000});
    t.payload = std::move(payload);
    return t;
  }
  Bytes client(uint32_t offset, Bytes payload, uint8_t flags = kTcpAck | kTcpPsh,
               uint32_t tsval = 0) {
    return build_tcp_frame(client_spec(offset, std::move(payload), flags, tsval));
  }
  Bytes server(uint32_t offset, Bytes payload, uint8_t flags = kTcpAck | kTcpPsh,
               uint32_t client_bytes_acked = 0) {
    TcpSpec t = s_;
    t.seq = kServerIsn + 1 + offset;
    t.ack = kClientIsn + 1 + client_bytes_acked;
    t.flags = flags;
    t.window = 502;
    t.payload = std::move(payload);
    return build_tcp_frame(t);
  }
  // The client's first data segment as a spec, to be fragmented at the IP layer.
  TcpSpec first_segment(Bytes payload) {
    TcpSpec t = c_;
    t.frame.dont_fragment = false;
    t.seq = kClientIsn + 1;
    t.ack = kServerIsn + 1;
    t.payload = std::move(payload);
    return t;
  }
  // The three-way handshake.
  std::vector<Bytes> handshake() { return {syn(), synack(), ack()}; }

  static constexpr uint32_t kClientIsn = 1000;
  static constexpr uint32_t kServerIsn = 900000;

 private:
  TcpSpec c_;
  TcpSpec s_;
};

Bytes hello_records(const std::string& sni, size_t pad_to = 0, size_t max_record = 16384) {
  HelloSpec spec;
  spec.sni = sni;
  spec.alpn = {"h2", "http/1.1"};
  spec.pad_message_to = pad_to;
  return build_client_hello_records(spec, max_record);
}

Bytes slice(const Bytes& b, size_t from, size_t len) {
  return Bytes(b.begin() + from, b.begin() + std::min(b.size(), from + len));
}

class FlowInspectorTest : public ::testing::Test {
 protected:
  void make(ChecksumMode mode = ChecksumMode::kOn) {
    config_.checksum_mode = mode;
    inspector_ = std::make_unique<FlowInspector>(config_, sink_);
  }
  void SetUp() override {
    config_.flow_capacity = 1024;
    config_.first_flight_buffers = 64;
    make();
  }

  void feed(const Bytes& frame) { inspector_->on_frame(frame, now_ += kMs); }
  void feed(const std::vector<Bytes>& frames) {
    for (const auto& f : frames) feed(f);
  }
  // The verdict event of the only flow, after closing everything.
  AuditEvent only_verdict() {
    inspector_->close_some(now_, UINT32_MAX);
    auto v = sink_.of(AuditKind::kVerdict);
    EXPECT_EQ(v.size(), 1u);
    return v.empty() ? AuditEvent{} : v[0];
  }
  std::string sni_of(const AuditEvent& e) { return std::string(e.hello.sni_view()); }

  InspectorConfig config_;
  VectorSink sink_;
  std::unique_ptr<FlowInspector> inspector_;
  uint64_t now_ = 1'700'000'000 * kSecond;
};

TEST_F(FlowInspectorTest, JudgesAClientHelloAsSoonAsItIsComplete) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("www.example.com")));
  auto verdicts = sink_.of(AuditKind::kVerdict);
  ASSERT_EQ(verdicts.size(), 1u) << "judged before the connection ends";
  EXPECT_EQ(verdicts[0].first_flight, FirstFlightKind::kTls);
  EXPECT_EQ(sni_of(verdicts[0]), "www.example.com");
  EXPECT_EQ(verdicts[0].client.port, 40000);
  EXPECT_EQ(verdicts[0].server.port, 443);
  EXPECT_TRUE(verdicts[0].anomalies.empty());
  EXPECT_NE(verdicts[0].hello.ja4_view(), "");
}

// A warning alert in front of the hello, sent on its own: Go's servers skip it, so the flow is
// not non-TLS; it waits for the hello and is judged by its name.
TEST_F(FlowInspectorTest, AWarningAlertBeforeTheHelloDoesNotHideIt) {
  Conversation c;
  feed(c.handshake());
  const Bytes alert = {0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x70};
  feed(c.client(0, alert));
  EXPECT_TRUE(sink_.of(AuditKind::kVerdict).empty());
  feed(c.client(alert.size(), hello_records("www.example.com")));
  auto verdicts = sink_.of(AuditKind::kVerdict);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].first_flight, FirstFlightKind::kTls);
  EXPECT_EQ(sni_of(verdicts[0]), "www.example.com");
  EXPECT_TRUE(verdicts[0].anomalies.has(Anomaly::kTlsIgnoredRecords));
}

TEST_F(FlowInspectorTest, CloseEventCarriesTotals) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("a.example")));
  feed(c.server(0, Bytes(1000, 0x17)));
  const uint32_t sent = static_cast<uint32_t>(hello_records("a.example").size());
  feed(c.client(sent, {}, kTcpAck | kTcpFin));
  feed(c.server(1000, {}, kTcpAck | kTcpFin, sent + 1));
  inspector_->close_some(now_, UINT32_MAX);
  auto closes = sink_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].packets_to_server, 4u);
  EXPECT_EQ(closes[0].packets_to_client, 3u);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kFin);
}

// Was a bug: the worker reuses one event, so a close carried the name, rule and list of the
// last flow the worker judged (and the top names counted its bytes for that name).
TEST_F(FlowInspectorTest, CloseEventNamesNoOtherFlow) {
  Conversation first(40001);
  Conversation second(40002);
  feed(first.handshake());
  feed(first.client(0, hello_records("first.example")));
  feed(second.handshake());
  feed(second.client(0, hello_records("second.example")));
  inspector_->close_some(now_, UINT32_MAX);
  auto closes = sink_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 2u);
  for (const AuditEvent& close : closes) {  // both were closed after both were judged
    EXPECT_EQ(close.server_name(), "") << close.client.port;
    EXPECT_EQ(close.rule_view(), "") << close.client.port;
    EXPECT_EQ(close.list_view(), "") << close.client.port;
  }
}

TEST_F(FlowInspectorTest, HelloSplitAtEveryBytePosition) {
  const Bytes hello = hello_records("split.example.org");
  for (size_t cut = 1; cut < hello.size(); ++cut) {
    sink_.events.clear();
    make();
    Conversation c(static_cast<uint16_t>(20000 + cut));
    feed(c.handshake());
    feed(c.client(0, slice(hello, 0, cut)));
    EXPECT_TRUE(sink_.of(AuditKind::kVerdict).empty()) << "judged early at cut " << cut;
    feed(c.client(static_cast<uint32_t>(cut), slice(hello, cut, hello.size())));
    auto v = sink_.of(AuditKind::kVerdict);
    ASSERT_EQ(v.size(), 1u) << "cut " << cut;
    EXPECT_EQ(sni_of(v[0]), "split.example.org") << "cut " << cut;
  }
}

TEST_F(FlowInspectorTest, TinySegmentsReversedAndDuplicated) {
  const Bytes hello = hello_records("tiny.example.net");
  std::vector<std::pair<uint32_t, Bytes>> pieces;
  for (uint32_t pos = 0, k = 0; pos < hello.size(); ++k) {
    const size_t len = 1 + k % 7;
    pieces.push_back({pos, slice(hello, pos, len)});
    pos += static_cast<uint32_t>(pieces.back().second.size());
  }
  std::reverse(pieces.begin(), pieces.end());
  Conversation c;
  feed(c.handshake());
  for (const auto& [offset, bytes] : pieces) {
    feed(c.client(offset, bytes));
    feed(c.client(offset, bytes));  // every segment twice
  }
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "tiny.example.net");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kTinySegments));
  EXPECT_TRUE(v.anomalies.has(Anomaly::kOutOfOrder));
  EXPECT_FALSE(v.anomalies.has(Anomaly::kOverlapConflict)) << "duplicates are not conflicts";
}

TEST_F(FlowInspectorTest, RandomOrderOfSmallSegments) {
  const Bytes hello = hello_records("shuffle.example", 1500);
  std::vector<std::pair<uint32_t, Bytes>> pieces;
  std::mt19937 rng(7);
  for (uint32_t pos = 0; pos < hello.size();) {
    pieces.push_back({pos, slice(hello, pos, 1 + rng() % 40)});
    pos += static_cast<uint32_t>(pieces.back().second.size());
  }
  std::shuffle(pieces.begin(), pieces.end(), rng);
  Conversation c;
  feed(c.handshake());
  for (const auto& [offset, bytes] : pieces) feed(c.client(offset, bytes));
  EXPECT_EQ(sni_of(only_verdict()), "shuffle.example");
}

TEST_F(FlowInspectorTest, ConflictingRetransmissionBeforeTheVerdict) {
  // Part of a decoy hello goes first at the same sequence numbers, then the real hello.
  const Bytes real = hello_records("blocked.example");
  const Bytes decoy = hello_records("allowed.example");
  ASSERT_EQ(real.size(), decoy.size());
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, slice(decoy, 0, decoy.size() - 40)));
  feed(c.client(0, real));
  auto v = only_verdict();
  EXPECT_TRUE(v.anomalies.has(Anomaly::kOverlapConflict));
}

TEST_F(FlowInspectorTest, TtlLimitedFakeHelloIsNotJudged) {
  // zapret/GoodbyeDPI "fake": a whole hello with another name and a TTL too low to reach the
  // server goes first at the same sequence numbers, then the real one.
  const Bytes real = hello_records("blocked.example");
  const Bytes decoy = hello_records("allowed.example");
  Conversation c;
  feed(c.handshake());
  c.client_frame().ttl = 3;
  feed(c.client(0, decoy));
  c.client_frame().ttl = 64;
  feed(c.client(0, real));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "blocked.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kTtlDecoy));
}

TEST_F(FlowInspectorTest, ConflictingRetransmissionAfterTheVerdict) {
  // A fake we cannot tell from the real thing by its headers is judged; the real hello follows
  // at the same sequence numbers before the server acknowledged anything. The flow must not end
  // with the decoy's word unchallenged.
  const Bytes real = hello_records("blocked.example");
  const Bytes decoy = hello_records("allowed.example");
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, decoy));
  feed(c.client(0, real));
  inspector_->close_some(now_, UINT32_MAX);
  auto closes = sink_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_TRUE(closes[0].anomalies.has(Anomaly::kOverlapConflict));
}

TEST_F(FlowInspectorTest, FakesTheServerWouldDropAreNotTruth) {
  // Each fake carries a decoy hello; the real hello follows. zapret's fooling methods.
  const std::vector<std::pair<const char*, Anomaly>> names = {
      {"md5sig", Anomaly::kSignatureDecoy}, {"badack", Anomaly::kBadAck},
      {"noack", Anomaly::kBadAck}, {"oldts", Anomaly::kPawsDecoy}};
  for (const auto& [name, expected] : names) {
    sink_.events.clear();
    make();
    Conversation c;
    feed(c.syn(Bytes{}, false, /*timestamps=*/true));
    feed(c.synack(65535, 0, /*timestamps=*/true));
    feed(c.client(0, {}, kTcpAck, /*tsval=*/1000));
    TcpSpec fake = c.client_spec(0, hello_records("allowed.example"), kTcpAck | kTcpPsh, 1001);
    const std::string n = name;
    if (n == "md5sig") fake.options.raw = Bytes{19, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (n == "badack") fake.ack -= 66000;
    if (n == "noack") fake.flags = kTcpPsh;
    if (n == "oldts") fake.options.timestamps = std::make_pair(uint32_t{10}, uint32_t{0});
    feed(build_tcp_frame(fake));
    feed(c.client(0, hello_records("blocked.example"), kTcpAck | kTcpPsh, 1002));
    auto v = only_verdict();
    EXPECT_EQ(sni_of(v), "blocked.example") << name;
    EXPECT_TRUE(v.anomalies.has(expected)) << name;
  }
}

TEST_F(FlowInspectorTest, FakeSynWithAnotherIsnIsOverruledByTheSynAck) {
  // A fake SYN (never reaching the server) sets another ISN, and a fake hello follows in that
  // sequence space; the server's SYN-ACK acknowledges the real SYN's ISN.
  Conversation c;
  TcpSpec fake_syn = c.client_spec(0, {}, kTcpSyn, 0);
  fake_syn.seq = Conversation::kClientIsn + 60000;
  feed(build_tcp_frame(fake_syn));
  feed(c.syn());
  feed(c.synack());
  feed(c.ack());
  TcpSpec fake_hello = c.client_spec(0, hello_records("allowed.example"), kTcpAck | kTcpPsh, 0);
  fake_hello.seq = Conversation::kClientIsn + 60001;
  feed(build_tcp_frame(fake_hello));
  feed(c.client(0, hello_records("blocked.example")));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "blocked.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kIsnMismatch) || v.anomalies.has(Anomaly::kOutOfWindow));
}

TEST_F(FlowInspectorTest, RstOutsideTheWindowDoesNotEndTheFlow) {
  Conversation c;
  feed(c.handshake());
  TcpSpec rst = c.client_spec(0, {}, kTcpRst, 0);
  rst.seq += 5'000'000;
  feed(build_tcp_frame(rst));
  feed(c.client(0, hello_records("after-rst.example")));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "after-rst.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kRstIgnored));
}

TEST_F(FlowInspectorTest, ServerDataOutsideItsStreamIsNotServerFirst) {
  Conversation c;
  feed(c.handshake());
  const std::string banner = "SSH-2.0-spoofed\r\n";
  feed(c.server(70000, Bytes(banner.begin(), banner.end())));
  feed(c.client(0, hello_records("spoof.example")));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kTls);
  EXPECT_EQ(sni_of(v), "spoof.example");
}

TEST_F(FlowInspectorTest, NewConnectionOnTheSameFourTuple) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("first.example")));
  const uint32_t sent = static_cast<uint32_t>(hello_records("first.example").size());
  feed(c.client(sent, {}, kTcpAck | kTcpFin));
  feed(c.server(0, {}, kTcpAck | kTcpFin, sent + 1));
  TcpSpec syn2 = c.client_spec(0, {}, kTcpSyn, 0);
  syn2.seq = Conversation::kClientIsn + 1'000'000;
  feed(build_tcp_frame(syn2));
  inspector_->close_some(now_, UINT32_MAX);
  EXPECT_EQ(sink_.of(AuditKind::kClose).size(), 2u) << "the old flow ended, a new one began";
}

TEST_F(FlowInspectorTest, HelloNeverSeenButAcknowledgedIsNotNone) {
  // The real hello never reaches us (e.g. its fragments were spoiled by a fake overlapping one
  // that died before the server), but the server acknowledges it.
  Conversation c;
  feed(c.handshake());
  c.client_frame().ttl = 2;
  feed(c.client(0, hello_records("decoy.example")));  // refused: lower TTL than the SYN
  feed(c.server(0, {}, kTcpAck, 300));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kIncomplete);
  EXPECT_TRUE(v.anomalies.has(Anomaly::kTtlDecoy));
  EXPECT_TRUE(v.anomalies.has(Anomaly::kUnseenAcked));
}

TEST_F(FlowInspectorTest, ServerAckOfBytesNeverSeenIsReported) {
  Conversation c;
  feed(c.handshake());
  const Bytes hello = hello_records("partial.example");
  feed(c.client(0, slice(hello, 0, 100)));
  feed(c.server(0, {}, kTcpAck, static_cast<uint32_t>(hello.size())));  // acks it all
  feed(c.client(100, slice(hello, 100, hello.size())));
  auto v = only_verdict();
  EXPECT_TRUE(v.anomalies.has(Anomaly::kUnseenAcked));
}

TEST_F(FlowInspectorTest, BytesAcknowledgedByTheServerEndTheCheck) {
  const Bytes hello = hello_records("acked.example");
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello));
  feed(c.server(0, Bytes(100, 0x16), kTcpAck | kTcpPsh, static_cast<uint32_t>(hello.size())));
  EXPECT_EQ(inspector_->held_first_flights(), 0u) << "buffer returned once the server acked";
}

TEST_F(FlowInspectorTest, SegmentsWithBadChecksumsAreNotTruth) {
  Conversation c;
  feed(c.handshake());
  c.client_frame().l4_checksum = test::L4Checksum::kCorrupt;
  feed(c.client(0, hello_records("decoy.example")));
  c.client_frame().l4_checksum = test::L4Checksum::kCorrect;
  EXPECT_TRUE(sink_.of(AuditKind::kVerdict).empty());
  feed(c.client(0, hello_records("real.example")));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "real.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kBadChecksumIgnored));
  EXPECT_FALSE(v.anomalies.has(Anomaly::kOverlapConflict));
}

TEST_F(FlowInspectorTest, OffloadChecksumsAcceptedOnlyInAutoMode) {
  for (ChecksumMode mode : {ChecksumMode::kAuto, ChecksumMode::kOn}) {
    sink_.events.clear();
    make(mode);
    Conversation c;
    c.client_frame().l4_checksum = test::L4Checksum::kOffloadPartial;
    feed(c.handshake());
    feed(c.client(0, hello_records("offload.example")));
    inspector_->close_some(now_, UINT32_MAX);
    auto v = sink_.of(AuditKind::kVerdict);
    if (mode == ChecksumMode::kAuto) {
      ASSERT_EQ(v.size(), 1u);
      EXPECT_EQ(sni_of(v[0]), "offload.example");
    } else {
      // On the wire, an unfinished checksum is a bad one: no flow is built from such packets.
      EXPECT_TRUE(v.empty() || v[0].first_flight != FirstFlightKind::kTls);
    }
  }
}

// RX checksum offload: where the NIC says a segment's checksum is good, the inspector takes its
// word (here for a hello whose checksum field is wrong, which only the NIC's word can pass);
// without it the segment is summed as ever.
TEST_F(FlowInspectorTest, TheNicsGoodChecksumStandsInForTheSum) {
  for (NicChecksum nic : {NicChecksum::kGood, NicChecksum::kUnknown}) {
    sink_.events.clear();
    make();
    Conversation c;
    feed(c.handshake());
    c.client_frame().l4_checksum = test::L4Checksum::kCorrupt;
    const FrameRef ref{nullptr, 0, nic};
    inspector_->on_frame(c.client(0, hello_records("nic.example")), now_ += kMs, &ref);
    inspector_->close_some(now_, UINT32_MAX);
    auto v = sink_.of(AuditKind::kVerdict);
    const bool judged = v.size() == 1 && sni_of(v[0]) == "nic.example";
    EXPECT_EQ(judged, nic == NicChecksum::kGood);
    EXPECT_EQ(inspector_->stats().l4_checksums_by_nic, nic == NicChecksum::kGood ? 1u : 0u);
  }
}

TEST_F(FlowInspectorTest, SynPayloadWithoutFastOpenIsADecoy) {
  Conversation c;
  feed(c.syn(hello_records("decoy.example")));
  feed(c.synack());
  feed(c.ack());
  feed(c.client(0, hello_records("real.example")));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "real.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kSynPayload));
}

TEST_F(FlowInspectorTest, SynPayloadWithFastOpenIsTheFirstFlightOnceAcknowledged) {
  const Bytes hello = hello_records("tfo.example");
  Conversation c;
  feed(c.syn(hello, /*tfo=*/true));
  EXPECT_TRUE(sink_.of(AuditKind::kVerdict).empty()) << "not judged before the SYN-ACK";
  feed(c.synack(65535, static_cast<uint32_t>(hello.size())));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "tfo.example");
  EXPECT_FALSE(v.anomalies.has(Anomaly::kSynPayload));
}

TEST_F(FlowInspectorTest, FastOpenDataTheServerRefusedIsNotTruth) {
  Conversation c;
  feed(c.syn(hello_records("decoy.example"), /*tfo=*/true));
  feed(c.synack());  // acknowledges only the SYN
  feed(c.ack());
  feed(c.client(0, hello_records("real.example")));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "real.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kSynPayload));
}

TEST_F(FlowInspectorTest, DataBeyondTheServerWindowIsIgnored) {
  Conversation c;
  feed(c.syn());
  feed(c.synack(/*window=*/1000));  // the SYN-ACK window is never scaled
  feed(c.ack());
  const Bytes hello = hello_records("window.example", 2000);
  feed(c.client(5000, hello));  // far beyond what the server accepts
  EXPECT_TRUE(sink_.of(AuditKind::kVerdict).empty());
  feed(c.client(0, slice(hello, 0, 900)));
  feed(c.server(0, {}, kTcpAck, 900));  // the server acknowledges; its window opens
  feed(c.client(900, slice(hello, 900, hello.size())));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "window.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kOutOfWindow));
}

TEST_F(FlowInspectorTest, Ipv4FragmentsOfTheHelloAreReassembled) {
  Conversation c;
  feed(c.handshake());
  TcpSpec seg = c.first_segment(hello_records("fragments.example"));
  const Bytes l4 = test::build_tcp_segment(seg);
  auto frags = test::fragment_ipv4(seg.frame, test::kProtoTcp, l4, 64);
  ASSERT_GT(frags.size(), 3u);
  std::reverse(frags.begin(), frags.end());
  feed(frags);
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "fragments.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kIpFragmented));
}

TEST_F(FlowInspectorTest, Ipv6WithExtensionHeadersAndFragments) {
  Conversation c(40000, 443, /*ipv6=*/true);
  c.client_frame().ipv6_ext = {{0, Bytes(6, 0)}, {60, Bytes(14, 0)}};  // hop-by-hop, dest opts
  feed(c.handshake());
  TcpSpec seg = c.first_segment(hello_records("v6.example"));
  const Bytes l4 = test::build_tcp_segment(seg);
  // The fragments carry the hop-by-hop and destination options before their fragment header.
  feed(test::fragment_ipv6(seg.frame, test::kProtoTcp, l4, 128));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "v6.example");
  EXPECT_FALSE(v.client.ip.is_v4());
  EXPECT_TRUE(v.anomalies.has(Anomaly::kIpFragmented));
}

TEST_F(FlowInspectorTest, OverlappingFragmentsAreRejected) {
  Conversation c;
  feed(c.handshake());
  TcpSpec seg = c.first_segment(hello_records("overlap.example"));
  const Bytes l4 = test::build_tcp_segment(seg);
  feed(test::fragment_ipv4(seg.frame, test::kProtoTcp, l4, 64, /*overlap=*/16,
                           /*corrupt_overlap=*/true));
  EXPECT_TRUE(sink_.of(AuditKind::kVerdict).empty());
  EXPECT_GT(inspector_->stats().malformed_by_reason[static_cast<size_t>(Malformed::kFragmentOverlap)], 0u);
}

TEST_F(FlowInspectorTest, VlanAndQinQFlowsKeepTheirTag) {
  Conversation c;
  c.client_frame().vlans = c.server_frame().vlans = {100, 200};
  feed(c.handshake());
  feed(c.client(0, hello_records("qinq.example")));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "qinq.example");
  EXPECT_EQ(v.vlan, 200);
}

TEST_F(FlowInspectorTest, ServerNameIsLowerCasedWithoutTrailingDot) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("WWW.Example.COM.")));
  EXPECT_EQ(sni_of(only_verdict()), "www.example.com");
}

TEST_F(FlowInspectorTest, HelloOverTenKilobytesAcrossRecordsAndSegments) {
  const Bytes hello = hello_records("big.example", 11000, /*max_record=*/4000);
  ASSERT_GT(hello.size(), 10000u);
  Conversation c;
  feed(c.handshake());
  for (uint32_t pos = 0; pos < hello.size(); pos += 1448) feed(c.client(pos, slice(hello, pos, 1448)));
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "big.example");
  EXPECT_TRUE(v.anomalies.has(Anomaly::kTlsRecordFragmented));
}

TEST_F(FlowInspectorTest, TruncatedHelloIsIncompleteAtClose) {
  Conversation c;
  feed(c.handshake());
  const Bytes hello = hello_records("cut.example");
  feed(c.client(0, slice(hello, 0, hello.size() / 2)));
  feed(c.client(static_cast<uint32_t>(hello.size() / 2), {}, kTcpAck | kTcpFin));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kIncomplete);
  EXPECT_TRUE(v.anomalies.has(Anomaly::kTlsTruncated));
}

TEST_F(FlowInspectorTest, TimeCapJudgesAStalledHello) {
  Conversation c;
  feed(c.handshake());
  const Bytes hello = hello_records("slow.example");
  feed(c.client(0, slice(hello, 0, 10)));
  inspector_->expire(now_ + config_.first_flight_time_cap_ns + kSecond);
  auto v = sink_.of(AuditKind::kVerdict);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].first_flight, FirstFlightKind::kIncomplete);
  EXPECT_TRUE(v[0].anomalies.has(Anomaly::kFirstFlightTimeout));
}

TEST_F(FlowInspectorTest, ByteCapJudgesAnEndlessHello) {
  config_.first_flight_byte_cap = 4096;
  make();
  Conversation c;
  feed(c.handshake());
  // A record header claiming 16 KB of handshake that never ends within the cap.
  Bytes endless = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc};
  endless.resize(1400, 0x41);
  for (uint32_t pos = 0; pos < 6000; pos += 1400) {
    Bytes piece = pos == 0 ? endless : Bytes(1400, 0x41);
    feed(c.client(pos, piece));
  }
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kIncomplete);
  EXPECT_TRUE(v.anomalies.has(Anomaly::kFirstFlightByteCap));
}

TEST_F(FlowInspectorTest, PlainHttpOnPort80) {
  Conversation c(40000, 80);
  feed(c.handshake());
  const std::string req = "GET / HTTP/1.1\r\nHost: Example.ORG:80\r\nAccept: */*\r\n\r\n";
  feed(c.client(0, Bytes(req.begin(), req.end())));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kHttp);
  EXPECT_EQ(v.http_host_view(), "example.org");
}

TEST_F(FlowInspectorTest, PlainHttpOnPort443IsNonTlsWithItsHost) {
  Conversation c;
  feed(c.handshake());
  const std::string req = "GET / HTTP/1.1\r\nHost: tunnel.example\r\n\r\n";
  feed(c.client(0, Bytes(req.begin(), req.end())));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kNonTls);
  EXPECT_EQ(v.http_host_view(), "tunnel.example");
}

TEST_F(FlowInspectorTest, PlainHttpHeadSentAByteAtATime) {
  Conversation c(40000, 80);
  feed(c.handshake());
  const std::string req = "GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: slow.example\r\n\r\n";
  for (uint32_t i = 0; i < req.size(); ++i) feed(c.client(i, Bytes{static_cast<uint8_t>(req[i])}));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kHttp);
  EXPECT_EQ(v.http_host_view(), "slow.example");
}

TEST_F(FlowInspectorTest, ExpiryIsBatchedSoTheAuditRingIsNotFlooded) {
  for (uint16_t i = 0; i < 300; ++i) {
    Conversation c(static_cast<uint16_t>(20000 + i));
    feed(c.handshake());
    feed(c.client(0, hello_records("batch.example")));
  }
  sink_.events.clear();
  const uint64_t later = now_ + config_.timeouts.established_ns + kSecond;
  EXPECT_EQ(inspector_->expire(later), FlowInspector::kExpireBatch);
  EXPECT_EQ(sink_.events.size(), FlowInspector::kExpireBatch);
  while (inspector_->expire(later) > 0) {
  }
  EXPECT_EQ(inspector_->active_flows(), 0u);
  EXPECT_EQ(sink_.of(AuditKind::kClose).size(), 300u);
}

TEST_F(FlowInspectorTest, JudgedBytesAreNotKeptWhenThePoolRunsLow) {
  // 64 buffers: flows whose server never acknowledges keep theirs only while the pool has room.
  for (uint16_t i = 0; i < 200; ++i) {
    Conversation c(static_cast<uint16_t>(20000 + i));
    feed(c.handshake());
    feed(c.client(0, hello_records("unacked.example")));
  }
  EXPECT_LE(inspector_->held_first_flights(), config_.first_flight_buffers * 3 / 4 + 1);
  EXPECT_EQ(inspector_->stats().first_flight_buffers_exhausted, 0u);
  inspector_->close_some(now_, UINT32_MAX);
  for (const auto& v : sink_.of(AuditKind::kVerdict)) EXPECT_EQ(sni_of(v), "unacked.example");
}

TEST_F(FlowInspectorTest, OtherBytesAreNonTls) {
  Conversation c;
  feed(c.handshake());
  const std::string banner = "SSH-2.0-OpenSSH_9.2\r\n";
  feed(c.client(0, Bytes(banner.begin(), banner.end())));
  EXPECT_EQ(only_verdict().first_flight, FirstFlightKind::kNonTls);
}

TEST_F(FlowInspectorTest, ServerSpeaksFirst) {
  Conversation c(40000, 22);
  feed(c.handshake());
  const std::string banner = "SSH-2.0-OpenSSH_9.2\r\n";
  feed(c.server(0, Bytes(banner.begin(), banner.end())));
  EXPECT_EQ(only_verdict().first_flight, FirstFlightKind::kServerFirst);
}

TEST_F(FlowInspectorTest, NoPayloadAtAll) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, {}, kTcpAck | kTcpFin));
  feed(c.server(0, {}, kTcpAck | kTcpFin, 1));
  EXPECT_EQ(only_verdict().first_flight, FirstFlightKind::kNone);
}

TEST_F(FlowInspectorTest, MidstreamFlowStillNamed) {
  Conversation c;
  feed(c.client(0, hello_records("midstream.example")));  // no handshake seen
  auto v = only_verdict();
  EXPECT_EQ(sni_of(v), "midstream.example");
  EXPECT_EQ(v.server.port, 443);
  EXPECT_TRUE(v.anomalies.has(Anomaly::kMidstream));
}

TEST_F(FlowInspectorTest, MalformedFramesAreCountedAndSurvived) {
  Conversation c;
  Bytes frame = c.client(0, hello_records("x.example"));
  for (size_t len = 0; len < 60; ++len) feed(slice(frame, 0, len));
  EXPECT_GT(inspector_->stats().malformed, 0u);
  feed(c.handshake());
  feed(c.client(0, hello_records("after.example")));
  EXPECT_EQ(sni_of(only_verdict()), "after.example");
}

// A long header of a version sluice cannot read is QUIC by its look, judged at once without a
// name (decrypted Initials: flow_inspector_quic_test.cc).
TEST_F(FlowInspectorTest, UdpQuicLongHeaderOfUnknownVersionIsRecognised) {
  UdpSpec u;
  u.frame.src_ip = "10.0.0.2";
  u.frame.dst_ip = "10.0.0.1";
  u.src_port = 50000;
  u.dst_port = 443;
  u.payload = Bytes(1200, 0);
  u.payload[0] = 0xc3;  // long header, Initial
  u.payload[4] = 0x2a;  // a version nobody speaks
  feed(build_udp_frame(u));
  auto v = only_verdict();
  EXPECT_EQ(v.first_flight, FirstFlightKind::kQuic);
  EXPECT_EQ(v.transport, 17);
  EXPECT_EQ(v.quic_version, 0x2au);
  EXPECT_EQ(v.hello.sni_length, 0);
}

TEST_F(FlowInspectorTest, FullTableEvictsHandshakesFirstAndReportsThem) {
  config_.flow_capacity = 8;
  make();
  Conversation judged(30000);
  feed(judged.handshake());
  feed(judged.client(0, hello_records("keep.example")));
  for (uint16_t i = 0; i < 20; ++i) feed(Conversation(static_cast<uint16_t>(31000 + i)).syn());
  EXPECT_EQ(inspector_->active_flows(), 8u);
  EXPECT_EQ(inspector_->stats().flows_evicted, 13u);
  size_t evicted = 0;
  for (const auto& e : sink_.of(AuditKind::kClose)) {
    EXPECT_EQ(e.close_reason, CloseReason::kEvicted);
    EXPECT_NE(e.client.port, 30000) << "the judged flow outlives the SYN flood";
    ++evicted;
  }
  EXPECT_EQ(evicted, 13u);
}

TEST_F(FlowInspectorTest, IdleFlowsExpireWithACloseEvent) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("idle.example")));
  inspector_->expire(now_ + config_.timeouts.established_ns + kSecond);
  auto closes = sink_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kIdle);
  EXPECT_EQ(inspector_->active_flows(), 0u);
}

// A judge that records the facts it was given and answers with a fixed decision.
class FakeJudge : public FlowJudge {
 public:
  void decide(const FlowFacts& facts, FlowDecision& out) override {
    ++calls;
    last = facts;
    last_name = std::string(facts.server_name);
    out = answer;
  }
  FlowDecision answer;
  int calls = 0;
  FlowFacts last;
  std::string last_name;
};

TEST_F(FlowInspectorTest, WithoutAJudgeEveryFlowPassesUnderNoPolicy) {
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("www.example.com")));
  const AuditEvent v = only_verdict();
  EXPECT_EQ(v.verdict, Verdict::kPass);
  EXPECT_EQ(v.rule_view(), "no_policy");
  EXPECT_EQ(v.list_view(), "");
}

TEST_F(FlowInspectorTest, TheJudgesVerdictRuleAndListReachTheEvent) {
  FakeJudge judge;
  judge.answer.decision = Decision{{Verdict::kBlock, true}, "block_video", "video.domains"};
  inspector_->set_judge(&judge);
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, hello_records("www.example.com")));
  const AuditEvent v = only_verdict();
  ASSERT_EQ(judge.calls, 1);
  EXPECT_EQ(judge.last_name, "www.example.com");
  EXPECT_EQ(judge.last.first_flight, FirstFlightKind::kTls);
  EXPECT_EQ(judge.last.server_port, 443);
  EXPECT_EQ(judge.last.client_ip, v.client.ip);
  EXPECT_EQ(judge.last.server_ip, v.server.ip);
  EXPECT_FALSE(judge.last.ech);
  EXPECT_EQ(v.verdict, Verdict::kBlock);
  EXPECT_EQ(v.rule_view(), "block_video");
  EXPECT_EQ(v.list_view(), "video.domains");
  auto closes = sink_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].verdict, Verdict::kBlock);
  EXPECT_EQ(inspector_->stats().intercept_fallbacks, 0u);
}

TEST_F(FlowInspectorTest, TheJudgeSeesTheHttpHostAndLongNamesAreCutSafely) {
  FakeJudge judge;
  const std::string long_rule(200, 'r');
  const std::string long_list(200, 'l');
  judge.answer.decision = Decision{{Verdict::kBlock, true}, long_rule, long_list};
  judge.answer.intercept_fallback = true;
  inspector_->set_judge(&judge);
  Conversation c(40000, 80);
  feed(c.handshake());
  const std::string request = "GET / HTTP/1.1\r\nHost: Www.Example.Org:8080\r\n\r\n";
  feed(c.client(0, Bytes(request.begin(), request.end())));
  const AuditEvent v = only_verdict();
  EXPECT_EQ(judge.last.first_flight, FirstFlightKind::kHttp);
  EXPECT_EQ(judge.last_name, "www.example.org");
  EXPECT_EQ(v.rule_view(), long_rule.substr(0, kMaxRuleName));
  EXPECT_EQ(v.list_view(), long_list.substr(0, kMaxRuleName));
  EXPECT_EQ(inspector_->stats().intercept_fallbacks, 1u);
}

TEST_F(FlowInspectorTest, TheJudgeSeesTheFlowsAnomalies) {
  FakeJudge judge;
  judge.answer.decision = Decision{{Verdict::kBlock, true}, "default_anomaly_overlap_conflict", ""};
  inspector_->set_judge(&judge);
  const Bytes real = hello_records("blocked.example");
  const Bytes decoy = hello_records("allowed.example");
  Conversation c;
  feed(c.handshake());
  feed(c.client(0, slice(decoy, 0, decoy.size() - 40)));
  feed(c.client(0, real));
  const AuditEvent v = only_verdict();
  ASSERT_EQ(judge.calls, 1);
  EXPECT_TRUE(judge.last.anomalies.has(Anomaly::kOverlapConflict));
  EXPECT_EQ(v.verdict, Verdict::kBlock);
  EXPECT_EQ(v.rule_view(), "default_anomaly_overlap_conflict");
  EXPECT_EQ(v.list_view(), "");
}

TEST_F(FlowInspectorTest, TheJudgeDecidesFlowsWithoutAFirstFlight) {
  FakeJudge judge;
  judge.answer.decision = Decision{{Verdict::kPass, true}, "default_no_sni", ""};
  inspector_->set_judge(&judge);
  Conversation c;
  feed(c.handshake());
  const AuditEvent v = only_verdict();
  ASSERT_EQ(judge.calls, 1);
  EXPECT_EQ(judge.last.first_flight, FirstFlightKind::kNone);
  EXPECT_EQ(judge.last_name, "");
  EXPECT_EQ(v.rule_view(), "default_no_sni");
}

}  // namespace
}  // namespace sluice
