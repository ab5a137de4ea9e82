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

// A ClientHello for `sni` over `parts` Initials (each in its own datagram).
std::vector<Bytes> initials(const std::string& sni, size_t parts, uint32_t version = kQuicVersion1) {
  const Bytes ch = test::quic_client_hello(sni, {"h3"}, parts > 1 ? 1100 * parts : 0);
  std::vector<Bytes> out;
  const size_t each = (ch.size() + parts - 1) / parts;
  for (size_t i = 0; i < parts; ++i) {
    QuicInitialSpec spec;
    spec.version = version;
    spec.packet_number = static_cast<uint32_t>(i);
    const size_t from = i * each;
    const size_t to = std::min(ch.size(), from + each);
    spec.frames = test::quic_crypto_frame(from, Bytes(ch.begin() + from, ch.begin() + to));
    out.push_back(datagram(build_quic_initial(spec)));
  }
  return out;
}

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
  auto with_ttl = [](const Bytes& frame, uint8_t ttl) {
    Bytes f = frame;
    f[14 + 8] = ttl;  // IPv4 TTL (the checksum below is recomputed)
    f[14 + 10] = f[14 + 11] = 0;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (f[14 + i] << 8) | f[14 + i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    f[14 + 10] = static_cast<uint8_t>(~sum >> 8);
    f[14 + 11] = static_cast<uint8_t>(~sum);
    return f;
  };
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
