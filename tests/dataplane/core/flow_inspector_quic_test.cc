// The QUIC path of FlowInspector: UDP flows whose client sends QUIC Initials are held (inline),
// decrypted, judged by their ClientHello, then released or dropped; audit records carry the
// version, the name and a 'q' JA4.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dataplane/core/enforcement.h"
#include "dataplane/core/flow_inspector.h"
#include "dataplane/core/quic_version.h"
#include "tests/dataplane/core/packet_builder.h"
#include "tests/dataplane/core/quic_initial_builder.h"
#include "tests/dataplane/core/recording_audit_sink.h"

namespace sluice {
namespace {

using test::build_quic_initial;
using test::build_udp_frame;
using test::QuicInitialSpec;
using test::UdpSpec;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSecond = 1'000'000'000;

class Recorder : public EnforcementSink {
 public:
  void release(void* h) override { released.push_back(reinterpret_cast<uintptr_t>(h)); }
  void discard(void* h) override { discarded.push_back(reinterpret_cast<uintptr_t>(h)); }
  void inject(ByteSpan, uint16_t, bool) override { ++injected; }
  std::vector<uintptr_t> released;
  std::vector<uintptr_t> discarded;
  int injected = 0;
};

class BlockNames : public FlowJudge {
 public:
  void decide(const FlowFacts& facts, FlowDecision& out) override {
    seen.emplace_back(facts.server_name);
    kinds.push_back(facts.first_flight);
    out = FlowDecision{};
    const bool block = !blocked.empty() && std::string(facts.server_name) == blocked;
    out.decision.action.verdict = block ? Verdict::kBlock : Verdict::kPass;
    out.decision.rule = block ? "test_block" : "test_pass";
  }
  std::string blocked;
  std::vector<std::string> seen;
  std::vector<FirstFlightKind> kinds;
};

// Datagrams of one QUIC connection from 10.2.0.7:51000 to 198.51.100.9:443.
Bytes datagram(const Bytes& payload, bool from_client = true) {
  UdpSpec u;
  u.frame.src_ip = from_client ? "10.2.0.7" : "198.51.100.9";
  u.frame.dst_ip = from_client ? "198.51.100.9" : "10.2.0.7";
  u.src_port = from_client ? 51000 : 443;
  u.dst_port = from_client ? 443 : 51000;
  u.payload = payload;
  return build_udp_frame(u);
}

// A ClientHello for `sni` over `parts` Initials (each in its own datagram), of the connection
// whose first DCID is `dcid` (default: the RFC example's); `key_dcid` as in QuicInitialSpec.
std::vector<Bytes> initials(const std::string& sni, size_t parts, uint32_t version = kQuicVersion1,
                            const Bytes& dcid = {}, const Bytes& key_dcid = {}) {
  const Bytes ch = test::quic_client_hello(sni, {"h3"}, parts > 1 ? 1100 * parts : 0);
  std::vector<Bytes> out;
  const size_t each = (ch.size() + parts - 1) / parts;
  for (size_t i = 0; i < parts; ++i) {
    QuicInitialSpec spec;
    spec.version = version;
    spec.packet_number = static_cast<uint32_t>(i);
    if (!dcid.empty()) spec.dcid = dcid;
    spec.key_dcid = key_dcid;
    const size_t from = i * each;
    const size_t to = std::min(ch.size(), from + each);
    spec.frames = test::quic_crypto_frame(from, Bytes(ch.begin() + from, ch.begin() + to));
    out.push_back(datagram(build_quic_initial(spec)));
  }
  return out;
}

// `frame` (IPv4) with another TTL and its header checksum recomputed.
Bytes with_ttl(const Bytes& frame, uint8_t ttl) {
  Bytes f = frame;
  f[14 + 8] = ttl;
  f[14 + 10] = f[14 + 11] = 0;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (f[14 + i] << 8) | f[14 + i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  f[14 + 10] = static_cast<uint8_t>(~sum >> 8);
  f[14 + 11] = static_cast<uint8_t>(~sum);
  return f;
}

const Bytes kOtherDcid = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99};
const Bytes kServerCid = {0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8};

class FlowInspectorQuicTest : public ::testing::Test {
 protected:
  void make(EnforcementMode mode) {
    config_.flow_capacity = 64;
    config_.first_flight_buffers = 8;
    config_.enforcement = mode;
    inspector_ = std::make_unique<FlowInspector>(config_, events_);
    inspector_->set_enforcement_sink(&sink_);
    inspector_->set_judge(&judge_);
  }
  PacketAction send(const Bytes& frame) {
    frames_.push_back(frame);
    const FrameRef ref{reinterpret_cast<void*>(++handle_), 1};
    return inspector_->on_frame(frames_.back(), now_ += kMs, &ref);
  }
  std::vector<AuditEvent> verdicts() { return events_.of(AuditKind::kVerdict); }

  InspectorConfig config_;
  test::RecordingAuditSink events_;
  Recorder sink_;
  BlockNames judge_;
  std::unique_ptr<FlowInspector> inspector_;
  std::vector<Bytes> frames_;
  uintptr_t handle_ = 0;
  uint64_t now_ = 1'800'000'000 * kSecond;
};

TEST_F(FlowInspectorQuicTest, AuditNamesTheServerOfAQuicFlow) {
  make(EnforcementMode::kAuditOnly);
  send(initials("www.Example.net", 1)[0]);
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].first_flight, FirstFlightKind::kQuic);
  EXPECT_EQ(v[0].transport, 17);
  EXPECT_EQ(v[0].quic_version, kQuicVersion1);
  EXPECT_EQ(v[0].server_name(), "www.example.net");
  EXPECT_EQ(v[0].hello.ja4[0], 'q');
  EXPECT_EQ(v[0].server.port, 443);
  EXPECT_EQ(judge_.seen, (std::vector<std::string>{"www.example.net"}));
  EXPECT_EQ(inspector_->stats().quic_initials_decrypted, 1u);
  EXPECT_EQ(inspector_->held_first_flights(), 0u) << "a judged UDP flow keeps no buffer";
}

// An IPv6 datagram with a zero UDP checksum is dropped by its receiver (RFC 8200 8.1), so it is
// never the first flight, even when the NIC called its checksum good ("none to check").
TEST_F(FlowInspectorQuicTest, AZeroChecksumOverIpv6IsADecoyWhateverTheNicSays) {
  make(EnforcementMode::kAuditOnly);
  QuicInitialSpec spec;
  spec.frames = test::quic_crypto_frame(0, test::quic_client_hello("decoy.example", {"h3"}, 0));
  UdpSpec u;
  u.frame.ipv6 = true;
  u.frame.l4_checksum = test::L4Checksum::kZero;
  u.src_port = 51000;
  u.payload = build_quic_initial(spec);
  frames_.push_back(build_udp_frame(u));
  const FrameRef ref{reinterpret_cast<void*>(++handle_), 1, NicChecksum::kGood};
  inspector_->on_frame(frames_.back(), now_ += kMs, &ref);
  EXPECT_TRUE(judge_.seen.empty()) << "judged on a datagram the server never gets";
  EXPECT_EQ(inspector_->stats().l4_checksums_by_nic, 0u);
}

TEST_F(FlowInspectorQuicTest, InlinePassHoldsEveryInitialUntilTheHelloIsComplete) {
  make(EnforcementMode::kInline);
  const auto d = initials("pass.example", 3, kQuicVersion2);
  EXPECT_EQ(send(d[0]), PacketAction::kHeld);
  EXPECT_EQ(send(d[1]), PacketAction::kHeld);
  EXPECT_TRUE(verdicts().empty());
  EXPECT_TRUE(sink_.released.empty());
  EXPECT_EQ(send(d[2]), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{1, 2, 3})) << "released in arrival order";
  ASSERT_EQ(verdicts().size(), 1u);
  EXPECT_EQ(verdicts()[0].quic_version, kQuicVersion2);
  EXPECT_EQ(verdicts()[0].server_name(), "pass.example");
  // After the verdict: the fast path, both ways.
  EXPECT_EQ(send(datagram(Bytes(1200, 0x41), false)), PacketAction::kForward);
  EXPECT_EQ(send(datagram(Bytes(60, 0x42))), PacketAction::kForward);
  EXPECT_EQ(inspector_->stats().frames_held, 3u);
  EXPECT_EQ(inspector_->stats().frames_released, 3u);
}

TEST_F(FlowInspectorQuicTest, InlineBlockDropsHeldAndLaterDatagrams) {
  make(EnforcementMode::kInline);
  judge_.blocked = "blocked.example";
  const auto d = initials("blocked.example", 2);
  EXPECT_EQ(send(d[0]), PacketAction::kHeld);
  EXPECT_EQ(send(d[1]), PacketAction::kHeld);
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{1, 2}));
  EXPECT_TRUE(sink_.released.empty());
  EXPECT_EQ(sink_.injected, 0) << "nothing to reset on UDP: silence makes browsers use TCP";
  EXPECT_EQ(send(d[0]), PacketAction::kDrop) << "a retransmitted Initial";
  EXPECT_EQ(send(datagram(Bytes(40, 0x40), false)), PacketAction::kDrop);
  inspector_->close_some(now_, UINT32_MAX);
  const auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].quic_version, kQuicVersion1);
  EXPECT_EQ(inspector_->stats().blocked_packets, 2u);
}

TEST_F(FlowInspectorQuicTest, UndecryptableInitialsWaitForTheTimeCapThenIncomplete) {
  make(EnforcementMode::kInline);
  Bytes payload = build_quic_initial(QuicInitialSpec{});
  payload[300] ^= 0xff;  // the tag no longer matches
  EXPECT_EQ(send(datagram(payload)), PacketAction::kHeld);
  EXPECT_TRUE(verdicts().empty()) << "a good retransmission may still come";
  now_ += 6 * kSecond;
  inspector_->expire(now_);
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].first_flight, FirstFlightKind::kIncomplete);
  EXPECT_EQ(v[0].quic_version, kQuicVersion1);
  EXPECT_TRUE(v[0].anomalies.has(Anomaly::kQuicUndecryptable));
  EXPECT_TRUE(v[0].anomalies.has(Anomaly::kFirstFlightTimeout));
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{1})) << "incomplete passes here";
  EXPECT_EQ(inspector_->stats().quic_initials_undecryptable, 1u);
}

TEST_F(FlowInspectorQuicTest, PartialHelloAtCloseIsIncompleteAndTruncated) {
  make(EnforcementMode::kAuditOnly);
  send(initials("half.example", 2)[0]);
  inspector_->close_some(now_, UINT32_MAX);
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].first_flight, FirstFlightKind::kIncomplete);
  EXPECT_TRUE(v[0].anomalies.has(Anomaly::kTlsTruncated));
}

TEST_F(FlowInspectorQuicTest, PlainUdpIsNotQuic) {
  make(EnforcementMode::kInline);
  EXPECT_EQ(send(datagram(Bytes(100, 0x11))), PacketAction::kForward);
  ASSERT_EQ(verdicts().size(), 1u);
  EXPECT_EQ(verdicts()[0].first_flight, FirstFlightKind::kNonTls);
  EXPECT_EQ(verdicts()[0].quic_version, 0u);
}

// zapret's QUIC fake: a whole Initial for another name with a TTL that dies before the server,
// then the real one. What travels further than anything judged is not let through.
TEST_F(FlowInspectorQuicTest, AnInitialThatOutrunsTheJudgedOnesIsADecoysTwin) {
  make(EnforcementMode::kInline);
  judge_.blocked = "blocked.example";
  EXPECT_EQ(send(with_ttl(initials("allowed.example", 1)[0], 3)), PacketAction::kHeld);
  EXPECT_EQ(judge_.seen, (std::vector<std::string>{"allowed.example"}));
  const Bytes real = initials("blocked.example", 1)[0];  // TTL 64, the same DCID
  EXPECT_EQ(send(real), PacketAction::kDrop);
  EXPECT_EQ(send(real), PacketAction::kDrop);
  EXPECT_EQ(send(with_ttl(initials("allowed.example", 1)[0], 3)), PacketAction::kForward)
      << "what was judged may go again";
  EXPECT_EQ(send(datagram(Bytes(60, 0x42))), PacketAction::kForward) << "short headers";
  inspector_->close_some(now_, UINT32_MAX);
  ASSERT_EQ(events_.of(AuditKind::kClose).size(), 1u);
  EXPECT_TRUE(events_.of(AuditKind::kClose)[0].anomalies.has(Anomaly::kTtlDecoy));
}

// zapret's QUIC fake carries a connection ID of its own: the real Initial behind it opens
// under its own DCID's keys, so it is another connection, judged on its own name.
TEST_F(FlowInspectorQuicTest, AnotherConnectionsInitialAfterThePassIsJudgedOnItsOwn) {
  make(EnforcementMode::kInline);
  judge_.blocked = "blocked.example";
  EXPECT_EQ(send(with_ttl(initials("allowed.example", 1)[0], 3)), PacketAction::kHeld);
  ASSERT_EQ(verdicts().size(), 1u);
  const auto real = initials("blocked.example", 2, kQuicVersion1, kOtherDcid);
  EXPECT_EQ(send(real[0]), PacketAction::kHeld) << "a first flight of its own, held";
  EXPECT_EQ(send(real[1]), PacketAction::kHeld);
  EXPECT_EQ(judge_.seen, (std::vector<std::string>{"allowed.example", "blocked.example"}));
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].verdict, Verdict::kBlock);
  EXPECT_EQ(v[1].server_name(), "blocked.example");
  EXPECT_NE(v[0].flow_id, v[1].flow_id);
  const auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].flow_id, v[0].flow_id);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kReused);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{1})) << "the fake, judged and passed";
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{2, 3})) << "held, then discarded";
  EXPECT_EQ(inspector_->stats().quic_new_connections_on_flow, 1u);
  EXPECT_EQ(send(real[0]), PacketAction::kDrop) << "the blocked connection stays blocked";
}

// After the server's first Initial the client sends to the server's connection ID, still under
// the keys of its first DCID (RFC 9001 5.2): the same connection, forwarded, not judged again.
TEST_F(FlowInspectorQuicTest, TheJudgedConnectionUnderTheServersConnectionIdGoesOn) {
  make(EnforcementMode::kInline);
  judge_.blocked = "blocked.example";
  send(initials("allowed.example", 1)[0]);
  const Bytes first_dcid(std::begin(test::kRfcExampleDcid), std::end(test::kRfcExampleDcid));
  QuicInitialSpec ack;
  ack.dcid = kServerCid;
  ack.key_dcid = first_dcid;
  ack.packet_number = 2;
  ack.frames = test::quic_ack(0);
  EXPECT_EQ(send(datagram(build_quic_initial(ack))), PacketAction::kForward);
  // Even a hello for another name there: the server cannot open it either.
  const auto other = initials("blocked.example", 1, kQuicVersion1, kServerCid, first_dcid);
  EXPECT_EQ(send(other[0]), PacketAction::kForward);
  EXPECT_EQ(verdicts().size(), 1u);
  EXPECT_EQ(inspector_->stats().quic_new_connections_on_flow, 0u);
}

// While a hello is read, inline, another connection's first Initial goes nowhere: closing the
// flow would let its held part go as `incomplete`, and the rest of its hello after it unjudged
// (A1, B, A2). Sent again after the verdict, it is judged as a flow of its own.
TEST_F(FlowInspectorQuicTest, AnotherConnectionMidFirstFlightIsDroppedInline) {
  make(EnforcementMode::kInline);
  judge_.blocked = "blocked.example";
  const auto a = initials("blocked.example", 2);
  const Bytes b = initials("allowed.example", 1, kQuicVersion1, kOtherDcid)[0];
  EXPECT_EQ(send(a[0]), PacketAction::kHeld);
  EXPECT_EQ(send(b), PacketAction::kDrop);
  EXPECT_TRUE(verdicts().empty());
  EXPECT_EQ(send(a[1]), PacketAction::kHeld);
  auto v = verdicts();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].server_name(), "blocked.example");
  EXPECT_EQ(v[0].verdict, Verdict::kBlock);
  EXPECT_TRUE(v[0].anomalies.has(Anomaly::kQuicOtherConnection));
  EXPECT_TRUE(sink_.released.empty()) << "nothing of the blocked hello left";
  EXPECT_EQ(send(b), PacketAction::kHeld) << "now a flow of its own";
  v = verdicts();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].server_name(), "allowed.example");
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{4}));
  inspector_->close_some(now_, UINT32_MAX);
  static_assert(static_cast<size_t>(Anomaly::kQuicOtherConnection) >= 32, "past 32 bits");
  EXPECT_EQ(inspector_->stats().flows_by_anomaly[static_cast<size_t>(Anomaly::kQuicOtherConnection)],
            1u);
}

// A monitor holds nothing: the other connection starts its own flow at once, so it is audited
// by name (a Retry mid-hello, which only a monitor sees, looks just like this).
TEST_F(FlowInspectorQuicTest, AMonitorAuditsAnotherConnectionMidFirstFlight) {
  make(EnforcementMode::kAuditOnly);
  send(initials("half.example", 2)[0]);
  send(initials("second.example", 1, kQuicVersion1, kOtherDcid)[0]);
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].first_flight, FirstFlightKind::kIncomplete);
  EXPECT_EQ(v[1].server_name(), "second.example");
}

// A datagram that is not QUIC first judges the flow non-TLS; a QUIC Initial after it is a
// connection of its own, not carried by that verdict.
TEST_F(FlowInspectorQuicTest, AQuicInitialAfterJunkIsJudgedByItsName) {
  make(EnforcementMode::kInline);
  judge_.blocked = "blocked.example";
  EXPECT_EQ(send(datagram(Bytes(100, 0x11))), PacketAction::kForward);
  EXPECT_EQ(send(initials("blocked.example", 1)[0]), PacketAction::kHeld);
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{2}));
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].first_flight, FirstFlightKind::kNonTls);
  EXPECT_EQ(v[1].server_name(), "blocked.example");
}

// A monitor cannot drop it, but the audit names the second connection.
TEST_F(FlowInspectorQuicTest, AuditNamesEachConnectionOnTheSameAddresses) {
  make(EnforcementMode::kAuditOnly);
  send(initials("first.example", 1)[0]);
  send(initials("second.example", 1, kQuicVersion1, kOtherDcid)[0]);
  send(initials("first.example", 1)[0]);  // the first connection's retransmission: a third flow
  EXPECT_EQ(judge_.seen,
            (std::vector<std::string>{"first.example", "second.example", "first.example"}));
  // An Initial under 1200 bytes starts nothing: a server drops it.
  QuicInitialSpec small;
  small.dcid = kServerCid;
  small.frames = test::quic_crypto_frame(0, test::quic_client_hello("small.example"));
  small.pad_packet_to = 0;
  send(datagram(build_quic_initial(small)));
  EXPECT_EQ(judge_.seen.size(), 3u);
}

TEST_F(FlowInspectorQuicTest, ARetransmittedInitialAfterThePassGoesOn) {
  make(EnforcementMode::kInline);
  const auto d = initials("pass.example", 2);
  send(d[0]);
  send(d[1]);
  ASSERT_EQ(verdicts().size(), 1u);
  EXPECT_EQ(send(d[0]), PacketAction::kForward);
  EXPECT_EQ(send(d[1]), PacketAction::kForward);
}

TEST_F(FlowInspectorQuicTest, ConflictingRetransmissionIsAnAnomaly) {
  make(EnforcementMode::kAuditOnly);
  const auto two = initials("real.example", 2);
  send(two[0]);
  // The same offsets again, other bytes: a decoy racing the real Initial.
  const auto fake = initials("fake.example", 2);
  send(fake[0]);
  send(two[1]);
  const auto v = verdicts();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(v[0].anomalies.has(Anomaly::kOverlapConflict));
}

}  // namespace
}  // namespace sluice
