// Inline enforcement in the first-flight core: which frames are held, released, discarded or
// dropped, and which resets (and TLS alerts) the inspector builds, on built frames, with a
// recording EnforcementSink standing in for the worker loop.
#include <arpa/inet.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/core/enforcement.h"
#include "dataplane/core/flow_inspector.h"
#include "dataplane/core/packet.h"
#include "dataplane/core/tcp_reply.h"
#include "interceptor/handoff/handoff_message.h"
#include "tests/dataplane/core/client_hello_builder.h"
#include "tests/dataplane/core/packet_builder.h"
#include "tests/dataplane/core/recording_audit_sink.h"

namespace sluice {
namespace {

using test::build_tcp_frame;
using test::FrameSpec;
using test::TcpSpec;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint16_t kClientSidePort = 3;  // FrameRef::port of frames from the client
constexpr uint16_t kServerSidePort = 7;

// The worker loop, as far as the inspector can tell: what it was told to release, discard and
// send, in order.
class RecordingEnforcement : public EnforcementSink {
 public:
  struct Injected {
    Bytes frame;
    uint16_t client_port;
    bool toward_client;
  };
  void release(void* handle) override {
    released.push_back(reinterpret_cast<uintptr_t>(handle));
    log.push_back("release " + std::to_string(released.back()));
  }
  void discard(void* handle) override {
    discarded.push_back(reinterpret_cast<uintptr_t>(handle));
    log.push_back("discard " + std::to_string(discarded.back()));
  }
  void inject(ByteSpan frame, uint16_t client_port, bool toward_client) override {
    injected.push_back({Bytes(frame.begin(), frame.end()), client_port, toward_client});
    log.push_back(toward_client ? "inject client" : "inject server");
  }
  // Interception.
  bool inject_to_interceptor(ByteSpan frame) override {
    if (refuse_interceptor_frames) return false;
    to_tap_frames.emplace_back(frame.begin(), frame.end());
    log.push_back("handoff frame");
    return true;
  }
  void to_interceptor(void* handle, uint16_t l3_offset) override {
    to_tap.push_back(reinterpret_cast<uintptr_t>(handle));
    log.push_back("to interceptor " + std::to_string(to_tap.back()) + " l3 " +
                  std::to_string(l3_offset));
  }
  void to_client(void* handle, uint16_t l3_offset, const L2Header& client_l2,
                 uint16_t client_port) override {
    to_clients.push_back(reinterpret_cast<uintptr_t>(handle));
    log.push_back("to client " + std::to_string(to_clients.back()) + " l3 " +
                  std::to_string(l3_offset) + " l2 " + std::to_string(client_l2.length) +
                  " port " + std::to_string(client_port));
  }
  bool refuse_interceptor_frames = false;
  std::vector<Bytes> to_tap_frames;
  std::vector<uintptr_t> to_tap;
  std::vector<uintptr_t> to_clients;

  std::vector<Injected> toward(bool client) const {
    std::vector<Injected> out;
    for (const auto& i : injected)
      if (i.toward_client == client) out.push_back(i);
    return out;
  }
  std::vector<uintptr_t> released;
  std::vector<uintptr_t> discarded;
  std::vector<Injected> injected;
  std::vector<std::string> log;
};

using EventLog = test::RecordingAuditSink;

// A policy stand-in: blocks the names it is given (or everything), passes the rest.
class ListJudge : public FlowJudge {
 public:
  void decide(const FlowFacts& facts, FlowDecision& out) override {
    ++calls;
    names.emplace_back(facts.server_name);
    kinds.push_back(facts.first_flight);
    bool block = block_all;
    for (const auto& n : blocked)
      if (n == facts.server_name) block = true;
    out = FlowDecision{};
    out.decision.action.verdict = block ? Verdict::kBlock : Verdict::kPass;
    out.decision.rule = block ? "test_block" : "test_pass";
    for (const auto& n : intercepted)
      if (n == facts.server_name) {
        out.decision.action.verdict = Verdict::kIntercept;
        out.decision.rule = "test_intercept";
      }
  }
  void prefetch_name(std::string_view name) override { prefetched.emplace_back(name); }
  std::vector<std::string> intercepted;
  std::vector<std::string> prefetched;  // the burst's hints, in order
  bool block_all = false;
  std::vector<std::string> blocked;
  int calls = 0;
  std::vector<std::string> names;
  std::vector<FirstFlightKind> kinds;
};

// One TCP connection, both directions, as frames.
class Connection {
 public:
  static constexpr uint32_t kClientIsn = 0x10000000;
  static constexpr uint32_t kServerIsn = 0x7ffffff0;

  explicit Connection(bool ipv6 = false, std::vector<uint16_t> vlans = {},
                      uint16_t client_port = 41000, uint16_t server_port = 443) {
    for (TcpSpec* t : {&c_, &s_}) {
      t->frame.ipv6 = ipv6;
      t->frame.vlans = vlans;
      t->window = 64000;
    }
    c_.frame.src_ip = s_.frame.dst_ip = ipv6 ? "2001:db8:1::10" : "10.1.0.10";
    c_.frame.dst_ip = s_.frame.src_ip = ipv6 ? "2001:db8:2::20" : "203.0.113.20";
    c_.frame.src_mac = s_.frame.dst_mac = kClientMac;
    c_.frame.dst_mac = s_.frame.src_mac = kServerMac;
    c_.src_port = s_.dst_port = client_port;
    c_.dst_port = s_.src_port = server_port;
  }

  Bytes syn() {
    TcpSpec t = c_;
    t.seq = kClientIsn;
    t.ack = 0;
    t.flags = kTcpSyn;
    t.options.mss = 1460;
    return build_tcp_frame(t);
  }
  // A TCP Fast Open SYN with a cookie, carrying data.
  Bytes tfo_syn(Bytes payload) {
    TcpSpec t = c_;
    t.seq = kClientIsn;
    t.ack = 0;
    t.flags = kTcpSyn;
    t.options.mss = 1460;
    t.options.fast_open_cookie = Bytes{1, 2, 3, 4, 5, 6, 7, 8};
    t.payload = std::move(payload);
    return build_tcp_frame(t);
  }
  Bytes synack(uint32_t syn_data_acked = 0) {
    TcpSpec t = s_;
    t.seq = kServerIsn;
    t.ack = kClientIsn + 1 + syn_data_acked;
    t.flags = kTcpSyn | kTcpAck;
    t.options.mss = 1460;
    return build_tcp_frame(t);
  }
  Bytes ack() { return client(0, {}, kTcpAck); }

  // Client bytes starting `offset` bytes into its stream.
  TcpSpec client_spec(uint32_t offset, Bytes payload, uint8_t flags = kTcpPsh | kTcpAck) {
    TcpSpec t = c_;
    t.seq = kClientIsn + 1 + offset;
    t.ack = kServerIsn + 1;
    t.flags = flags;
    t.payload = std::move(payload);
    return t;
  }
  Bytes client(uint32_t offset, Bytes payload, uint8_t flags = kTcpPsh | kTcpAck) {
    return build_tcp_frame(client_spec(offset, std::move(payload), flags));
  }
  Bytes server(uint32_t offset, Bytes payload, uint32_t client_acked,
               uint8_t flags = kTcpPsh | kTcpAck) {
    TcpSpec t = s_;
    t.seq = kServerIsn + 1 + offset;
    t.ack = kClientIsn + 1 + client_acked;
    t.flags = flags;
    t.payload = std::move(payload);
    return build_tcp_frame(t);
  }

  const TcpSpec& client_template() const { return c_; }

  static constexpr std::array<uint8_t, 6> kClientMac = {0x02, 0xc1, 0, 0, 0, 0x01};
  static constexpr std::array<uint8_t, 6> kServerMac = {0x02, 0x5e, 0, 0, 0, 0x02};

 private:
  TcpSpec c_;
  TcpSpec s_;
};

Bytes hello(const std::string& sni) {
  HelloSpec spec;
  spec.sni = sni;
  spec.alpn = {"h2", "http/1.1"};
  return build_client_hello_records(spec);
}

Bytes part(const Bytes& b, size_t from, size_t len) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from),
               b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), from + len)));
}

// An injected frame, parsed back.
struct Reply {
  bool ok = false;
  ParsedPacket p;
  Bytes frame;
};
Reply parse_reply(const RecordingEnforcement::Injected& i) {
  Reply r;
  r.frame = i.frame;
  ParseOptions options;
  const ParseResult res = parse_frame(ByteSpan(r.frame.data(), r.frame.size()), options, r.p);
  r.ok = res.status == ParseStatus::kOk && r.p.l4_protocol == 6 &&
         check_l4_checksum(r.p) == ChecksumState::kValid;
  return r;
}

class EnforcementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.flow_capacity = 256;
    config_.first_flight_buffers = 32;
    config_.flow_hash_seed = 0x5eed;
  }
  void make(EnforcementMode mode, BlockResponse response = BlockResponse::kReset) {
    config_.enforcement = mode;
    config_.block_response = response;
    inspector_ = std::make_unique<FlowInspector>(config_, events_);
    inspector_->set_enforcement_sink(&sink_);
    inspector_->set_judge(&judge_);
  }

  // Hands in a frame as a worker would, with a fresh handle; last_handle_ names it.
  PacketAction send(const Bytes& frame, uint16_t port) {
    frames_.push_back(frame);  // kept alive as a real mbuf would be
    last_handle_ = ++next_handle_;
    const FrameRef ref{reinterpret_cast<void*>(last_handle_), port};
    return inspector_->on_frame(frames_.back(), now_ += kMs, &ref);
  }
  PacketAction from_client(const Bytes& frame) { return send(frame, kClientSidePort); }
  PacketAction from_server(const Bytes& frame) { return send(frame, kServerSidePort); }

  void handshake(Connection& c) {
    EXPECT_EQ(from_client(c.syn()), PacketAction::kForward);
    EXPECT_EQ(from_server(c.synack()), PacketAction::kForward);
    EXPECT_EQ(from_client(c.ack()), PacketAction::kForward);
  }

  const WorkerStats& stats() const { return inspector_->stats(); }

  InspectorConfig config_;
  EventLog events_;
  RecordingEnforcement sink_;
  ListJudge judge_;
  std::unique_ptr<FlowInspector> inspector_;
  std::vector<Bytes> frames_;
  uintptr_t next_handle_ = 0;
  uintptr_t last_handle_ = 0;
  uint64_t now_ = 1'800'000'000 * kSecond;
};

// --- inline: pass ---------------------------------------------------------------------------

TEST_F(EnforcementTest, InlinePassHoldsTheHelloAndReleasesItInOrder) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("fine.example");
  const size_t cut = h.size() / 2;

  EXPECT_EQ(from_client(c.client(0, part(h, 0, cut))), PacketAction::kHeld);
  const uintptr_t first = last_handle_;
  EXPECT_TRUE(sink_.released.empty()) << "nothing goes on before the verdict";
  EXPECT_TRUE(events_.of(AuditKind::kVerdict).empty());
  EXPECT_EQ(inspector_->held_frames(), 1u);

  EXPECT_EQ(from_client(c.client(cut, part(h, cut, h.size()))), PacketAction::kHeld);
  const uintptr_t second = last_handle_;
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{first, second}))
      << "both released, in arrival order, while the second was processed";
  EXPECT_TRUE(sink_.discarded.empty());
  EXPECT_EQ(inspector_->held_frames(), 0u);
  ASSERT_EQ(events_.of(AuditKind::kVerdict).size(), 1u);
  EXPECT_EQ(events_.of(AuditKind::kVerdict)[0].verdict, Verdict::kPass);
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"fine.example"}));

  // The rest of the connection flows.
  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_server(c.server(0, Bytes(900, 0x16), len)), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(len, Bytes(80, 0x17))), PacketAction::kForward);
  EXPECT_EQ(from_server(c.server(900, Bytes(300, 0x17), len + 80)), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(len + 80, {}, kTcpAck | kTcpFin)), PacketAction::kForward);

  EXPECT_TRUE(sink_.injected.empty()) << "no reset on a pass";
  EXPECT_EQ(sink_.released.size(), 2u) << "forwarded frames are not released again";
  EXPECT_EQ(stats().frames_held, 2u);
  EXPECT_EQ(stats().frames_released, 2u);
  EXPECT_EQ(stats().frames_discarded, 0u);
  EXPECT_EQ(stats().resets_sent, 0u);
  EXPECT_EQ(stats().flows_blocked, 0u);
  EXPECT_EQ(stats().blocked_packets, 0u);
  EXPECT_EQ(stats().decoys_dropped, 0u);
}

TEST_F(EnforcementTest, InlinePassThroughOnBurst) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("burst.example");
  const size_t a = h.size() / 3, b = 2 * h.size() / 3;
  const std::vector<Bytes> frames = {c.client(0, part(h, 0, a)), c.client(a, part(h, a, b - a)),
                                     c.server(0, {}, 0, kTcpAck),
                                     c.client(b, part(h, b, h.size()))};
  std::vector<ByteSpan> spans;
  std::vector<uint64_t> times;
  std::vector<FrameRef> refs;
  for (size_t i = 0; i < frames.size(); ++i) {
    spans.emplace_back(frames[i]);
    times.push_back(now_ += kMs);
    refs.push_back({reinterpret_cast<void*>(uintptr_t{100 + i}),
                    i == 2 ? kServerSidePort : kClientSidePort});
  }
  PacketAction actions[4];
  inspector_->on_burst(spans.data(), times.data(), 4, actions, refs.data());
  EXPECT_EQ(actions[0], PacketAction::kHeld);
  EXPECT_EQ(actions[1], PacketAction::kHeld);
  EXPECT_EQ(actions[2], PacketAction::kForward) << "the server's ACK is never held";
  EXPECT_EQ(actions[3], PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{100, 101, 103}));
  EXPECT_TRUE(sink_.injected.empty());
}

// A burst hints the judge with the name of each segment that starts a ClientHello before any is
// judged; the verdicts are the judge's own, as without the hint.
TEST_F(EnforcementTest, BurstHintsTheJudgeWithEachHelloName) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"two.example"};
  Connection one(false, {}, 41001), two(false, {}, 41002);
  handshake(one);
  handshake(two);
  const Bytes h1 = hello("one.example"), h2 = hello("two.example");
  const std::vector<Bytes> frames = {one.client(0, h1), two.client(0, h2)};
  std::vector<ByteSpan> spans(frames.begin(), frames.end());
  std::vector<uint64_t> times = {now_ += kMs, now_ += kMs};
  std::vector<FrameRef> refs = {{reinterpret_cast<void*>(uintptr_t{100}), kClientSidePort},
                                {reinterpret_cast<void*>(uintptr_t{101}), kClientSidePort}};
  PacketAction actions[2];
  inspector_->on_burst(spans.data(), times.data(), 2, actions, refs.data());
  EXPECT_EQ(judge_.prefetched, (std::vector<std::string>{"one.example", "two.example"}));
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"one.example", "two.example"}));
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{100}));
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{101}));
}

TEST_F(EnforcementTest, InlineWithoutFrameRefsHoldsNothing) {
  make(EnforcementMode::kInline);
  Connection c;
  for (const Bytes& f : {c.syn(), c.synack(), c.ack()})
    EXPECT_EQ(inspector_->on_frame(f, now_ += kMs), PacketAction::kForward);
  const Bytes h = hello("noref.example");
  EXPECT_EQ(inspector_->on_frame(c.client(0, part(h, 0, 20)), now_ += kMs),
            PacketAction::kForward);
  EXPECT_EQ(inspector_->on_frame(c.client(20, part(h, 20, h.size())), now_ += kMs),
            PacketAction::kForward);
  EXPECT_EQ(stats().frames_held, 0u);
  EXPECT_TRUE(sink_.released.empty());
  EXPECT_EQ(judge_.calls, 1);
}

// --- inline: block --------------------------------------------------------------------------

// Checks one reset against what it must be.
void expect_reset(const RecordingEnforcement::Injected& i, const Connection& c, bool to_client,
                  uint32_t seq, uint8_t flags, const std::vector<uint16_t>& vlans) {
  SCOPED_TRACE(to_client ? "toward the client" : "toward the server");
  EXPECT_EQ(i.toward_client, to_client);
  EXPECT_EQ(i.client_port, kClientSidePort);
  const Reply r = parse_reply(i);
  ASSERT_TRUE(r.ok) << "parses, checksums valid";
  EXPECT_EQ(r.p.seq, seq);
  EXPECT_EQ(r.p.tcp_flags, flags);
  EXPECT_TRUE(r.p.payload.empty());
  ASSERT_EQ(r.p.vlan_count, vlans.size());
  for (size_t k = 0; k < vlans.size(); ++k) EXPECT_EQ(r.p.vlan_ids[k], vlans[k]);
  const TcpSpec& t = c.client_template();
  const uint16_t client_port = t.src_port, server_port = t.dst_port;
  EXPECT_EQ(r.p.src_port, to_client ? server_port : client_port);
  EXPECT_EQ(r.p.dst_port, to_client ? client_port : server_port);
  // Addresses: the client's frame went client -> server.
  const auto& dst_mac = to_client ? Connection::kClientMac : Connection::kServerMac;
  const auto& src_mac = to_client ? Connection::kServerMac : Connection::kClientMac;
  EXPECT_EQ(0, std::memcmp(r.frame.data(), dst_mac.data(), 6));
  EXPECT_EQ(0, std::memcmp(r.frame.data() + 6, src_mac.data(), 6));
}

TEST_F(EnforcementTest, InlineBlockDiscardsTheHelloAndResetsBothEnds) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"blocked.example"};
  const std::vector<uint16_t> vlans = {300, 42};
  Connection c(false, vlans);
  handshake(c);
  const Bytes h = hello("blocked.example");
  const auto len = static_cast<uint32_t>(h.size());
  const size_t cut = 40;

  EXPECT_EQ(from_client(c.client(0, part(h, 0, cut))), PacketAction::kHeld);
  const uintptr_t first = last_handle_;
  EXPECT_TRUE(sink_.injected.empty());
  EXPECT_EQ(from_client(c.client(cut, part(h, cut, h.size()))), PacketAction::kHeld);
  const uintptr_t second = last_handle_;

  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{first, second}));
  EXPECT_TRUE(sink_.released.empty()) << "the server never gets the hello";
  EXPECT_EQ(inspector_->held_frames(), 0u);

  ASSERT_EQ(sink_.injected.size(), 2u);
  const auto to_server = sink_.toward(false);
  const auto to_client = sink_.toward(true);
  ASSERT_EQ(to_server.size(), 1u);
  ASSERT_EQ(to_client.size(), 1u);
  expect_reset(to_server[0], c, false, Connection::kClientIsn + 1, kTcpRst | kTcpAck, vlans);
  expect_reset(to_client[0], c, true, Connection::kServerIsn + 1, kTcpRst | kTcpAck, vlans);
  const Reply rc = parse_reply(to_client[0]);
  EXPECT_EQ(rc.p.ack, Connection::kClientIsn + 1 + len) << "acknowledges what the client sent";
  const Reply rs = parse_reply(to_server[0]);
  EXPECT_TRUE(rs.p.tcp_flags & kTcpRst);
  EXPECT_EQ(rs.p.src, parse_reply(to_client[0]).p.dst);

  auto verdicts = events_.of(AuditKind::kVerdict);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].verdict, Verdict::kBlock);

  // Everything after, in both directions, is dropped and counted.
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kDrop) << "a retransmitted hello";
  EXPECT_EQ(from_server(c.server(0, Bytes(100, 0x16), len)), PacketAction::kDrop);
  EXPECT_EQ(from_client(c.client(len, {}, kTcpAck)), PacketAction::kDrop);
  EXPECT_EQ(from_server(c.server(100, {}, len, kTcpAck | kTcpFin)), PacketAction::kDrop);
  EXPECT_EQ(from_client(c.client(len, {}, kTcpRst)), PacketAction::kDrop);
  EXPECT_EQ(stats().blocked_packets, 5u);
  EXPECT_EQ(sink_.injected.size(), 2u) << "one reset per end, not one per packet";
  EXPECT_EQ(sink_.discarded.size(), 2u) << "dropped frames are the caller's, not discarded";

  EXPECT_EQ(stats().flows_blocked, 1u);
  EXPECT_EQ(stats().resets_sent, 1u);
  EXPECT_EQ(stats().resets_unsent, 0u);
  EXPECT_EQ(stats().frames_held, 2u);
  EXPECT_EQ(stats().frames_discarded, 2u);
  EXPECT_EQ(stats().frames_released, 0u);

  // The flow ends when it goes quiet; its close record says it was blocked.
  EXPECT_TRUE(events_.of(AuditKind::kClose).empty());
  inspector_->expire(now_ + config_.timeouts.closing_ns + kSecond, UINT32_MAX);
  auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kBlocked);
  EXPECT_EQ(closes[0].verdict, Verdict::kBlock);
  EXPECT_EQ(inspector_->active_flows(), 0u);
}

TEST_F(EnforcementTest, InlineBlockOverIpv6WithOneTag) {
  make(EnforcementMode::kInline);
  judge_.block_all = true;
  const std::vector<uint16_t> vlans = {77};
  Connection c(true, vlans, 50505, 8443);
  handshake(c);
  const Bytes h = hello("v6.example");
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kHeld);
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{last_handle_}));
  const auto to_server = sink_.toward(false);
  const auto to_client = sink_.toward(true);
  ASSERT_EQ(to_server.size(), 1u);
  ASSERT_EQ(to_client.size(), 1u);
  expect_reset(to_server[0], c, false, Connection::kClientIsn + 1, kTcpRst | kTcpAck, vlans);
  expect_reset(to_client[0], c, true, Connection::kServerIsn + 1, kTcpRst | kTcpAck, vlans);
  EXPECT_EQ(parse_reply(to_client[0]).p.ip_version, 6);
  EXPECT_EQ(parse_reply(to_server[0]).p.ip_version, 6);
}

TEST_F(EnforcementTest, InlineBlockWithTlsAlertAlertsTheClientFirst) {
  make(EnforcementMode::kInline, BlockResponse::kTlsAlertAndReset);
  judge_.block_all = true;
  const std::vector<uint16_t> vlans = {12};
  Connection c(false, vlans);
  handshake(c);
  const Bytes h = hello("alert.example");
  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 100))), PacketAction::kHeld);
  EXPECT_EQ(from_client(c.client(100, part(h, 100, h.size()))), PacketAction::kHeld);
  EXPECT_EQ(sink_.discarded.size(), 2u);

  const auto to_client = sink_.toward(true);
  const auto to_server = sink_.toward(false);
  ASSERT_EQ(to_client.size(), 2u) << "the alert, then the reset";
  ASSERT_EQ(to_server.size(), 1u);

  const Reply alert = parse_reply(to_client[0]);
  ASSERT_TRUE(alert.ok);
  EXPECT_EQ(alert.p.tcp_flags, kTcpPsh | kTcpAck);
  EXPECT_EQ(alert.p.seq, Connection::kServerIsn + 1);
  EXPECT_EQ(alert.p.ack, Connection::kClientIsn + 1 + len);
  ASSERT_EQ(alert.p.payload.size(), sizeof(kTlsAccessDeniedAlert));
  EXPECT_EQ(0, std::memcmp(alert.p.payload.data(), kTlsAccessDeniedAlert,
                           sizeof(kTlsAccessDeniedAlert)));
  EXPECT_EQ(to_client[0].client_port, kClientSidePort);
  ASSERT_EQ(alert.p.vlan_count, 1);
  EXPECT_EQ(alert.p.vlan_ids[0], 12);

  expect_reset(to_client[1], c, true, Connection::kServerIsn + 1 + 7, kTcpRst | kTcpAck, vlans);
  expect_reset(to_server[0], c, false, Connection::kClientIsn + 1, kTcpRst | kTcpAck, vlans);
  // The alert reaches the client before its reset.
  size_t alert_at = SIZE_MAX, rst_at = SIZE_MAX;
  for (size_t i = 0; i < sink_.injected.size(); ++i) {
    if (!sink_.injected[i].toward_client) continue;
    if (alert_at == SIZE_MAX) alert_at = i; else rst_at = i;
  }
  EXPECT_LT(alert_at, rst_at);
  EXPECT_EQ(stats().resets_sent, 1u);
}

TEST_F(EnforcementTest, TlsAlertIsOnlyForTlsFlights) {
  make(EnforcementMode::kInline, BlockResponse::kTlsAlertAndReset);
  judge_.block_all = true;
  Connection c(false, {}, 41001, 80);
  handshake(c);
  const std::string req = "GET / HTTP/1.1\r\nHost: plain.example\r\n\r\n";
  EXPECT_EQ(from_client(c.client(0, Bytes(req.begin(), req.end()))), PacketAction::kHeld);
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"plain.example"}));
  const auto to_client = sink_.toward(true);
  ASSERT_EQ(to_client.size(), 1u) << "plain HTTP gets no TLS alert";
  expect_reset(to_client[0], c, true, Connection::kServerIsn + 1, kTcpRst | kTcpAck, {});
  EXPECT_EQ(sink_.toward(false).size(), 1u);
}

// --- decoys ---------------------------------------------------------------------------------

TEST_F(EnforcementTest, DecoysWhileHoldingAreDroppedAndTheRealHelloIsJudged) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"real.example"};
  Connection c;
  handshake(c);  // TTL 64 throughout

  // A fake hello the server would drop for its checksum.
  TcpSpec bad = c.client_spec(0, hello("fake-one.example"));
  bad.frame.l4_checksum = test::L4Checksum::kCorrupt;
  EXPECT_EQ(from_client(build_tcp_frame(bad)), PacketAction::kDrop);
  // A fake hello that dies before the server (lower TTL than the handshake).
  TcpSpec low = c.client_spec(0, hello("fake-two.example"));
  low.frame.ttl = 5;
  EXPECT_EQ(from_client(build_tcp_frame(low)), PacketAction::kDrop);
  EXPECT_EQ(stats().decoys_dropped, 2u);
  EXPECT_EQ(judge_.calls, 0) << "no decoy is judged";
  EXPECT_EQ(inspector_->held_frames(), 0u);

  // The real one, in two segments, with a decoy for the second half in between.
  const Bytes h = hello("real.example");
  const size_t cut = h.size() / 2;
  EXPECT_EQ(from_client(c.client(0, part(h, 0, cut))), PacketAction::kHeld);
  const uintptr_t first = last_handle_;
  const Bytes fake = hello("fake-three.example");
  TcpSpec low2 = c.client_spec(static_cast<uint32_t>(cut), part(fake, cut, fake.size()));
  low2.frame.ttl = 63;
  EXPECT_EQ(from_client(build_tcp_frame(low2)), PacketAction::kDrop);
  EXPECT_EQ(stats().decoys_dropped, 3u);
  EXPECT_EQ(judge_.calls, 0);
  EXPECT_EQ(from_client(c.client(cut, part(h, cut, h.size()))), PacketAction::kHeld);
  const uintptr_t second = last_handle_;

  EXPECT_EQ(judge_.names, (std::vector<std::string>{"real.example"}));
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{first, second}))
      << "only the real frames were held; decoys were the caller's to drop";
  EXPECT_TRUE(sink_.released.empty());
  EXPECT_EQ(stats().frames_held, 2u);
  EXPECT_EQ(sink_.injected.size(), 2u);
}

TEST_F(EnforcementTest, DecoysBeforeAPassDoNotReachTheServer) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"fake.example"};
  Connection c;
  handshake(c);
  TcpSpec low = c.client_spec(0, hello("fake.example"));
  low.frame.ttl = 10;
  EXPECT_EQ(from_client(build_tcp_frame(low)), PacketAction::kDrop);
  const uintptr_t decoy = last_handle_;
  EXPECT_EQ(from_client(c.client(0, hello("good.example"))), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_NE(sink_.released[0], decoy);
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"good.example"}));
  EXPECT_TRUE(sink_.injected.empty());
}

// A RST the server would answer with a challenge ACK (in its window, not at its next byte:
// RFC 5961 3.2, as Linux does) must not end the flow in our eyes: the connection goes on, and
// a low-TTL fake after it would otherwise be judged on a flow without its handshake's floor.
TEST_F(EnforcementTest, AResetOffTheNextSequenceNumberEndsNothing) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"blocked.example"};
  Connection c;
  handshake(c);
  TcpSpec rst = c.client_spec(0, {}, kTcpRst | kTcpAck);
  rst.seq += 1;
  from_client(build_tcp_frame(rst));
  from_server(c.server(0, {}, 0, kTcpAck));  // the challenge ACK
  EXPECT_EQ(inspector_->active_flows(), 1u);
  TcpSpec fake = c.client_spec(0, hello("allowed.example"));
  fake.frame.ttl = 3;
  EXPECT_EQ(from_client(build_tcp_frame(fake)), PacketAction::kDrop);
  EXPECT_EQ(from_client(c.client(0, hello("blocked.example"))), PacketAction::kHeld);
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"blocked.example"}));
  ASSERT_FALSE(events_.of(AuditKind::kVerdict).empty());
  EXPECT_TRUE(events_.of(AuditKind::kVerdict)[0].anomalies.has(Anomaly::kRstIgnored));
  // At the next sequence number a RST does end it.
  Connection d(false, {}, 41001);
  handshake(d);
  from_client(d.client(0, {}, kTcpRst | kTcpAck));
  EXPECT_EQ(inspector_->active_flows(), 1u) << "the first connection only";
}

// A FIN before what the server has acknowledged is an old duplicate the server drops: taken as
// the client's FIN it let a fake SYN (another ISN, low TTL) start a "new connection" whose
// low-TTL fake hello was judged while the real one went to the server.
TEST_F(EnforcementTest, AFinLeftOfTheServersWindowClosesNothing) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"blocked.example"};
  Connection c;
  handshake(c);
  TcpSpec fin = c.client_spec(0, {}, kTcpAck | kTcpFin);
  fin.seq -= 100000;
  from_client(build_tcp_frame(fin));
  from_server(c.server(0, {}, 0, kTcpAck));
  TcpSpec syn = c.client_spec(0, {}, kTcpSyn);
  syn.seq = Connection::kClientIsn - 1;
  syn.ack = 0;
  syn.frame.ttl = 3;
  from_client(build_tcp_frame(syn));
  TcpSpec fake = c.client_spec(0, hello("allowed.example"));
  fake.seq = Connection::kClientIsn;
  fake.frame.ttl = 3;
  from_client(build_tcp_frame(fake));
  EXPECT_EQ(from_client(c.client(0, hello("blocked.example"))), PacketAction::kHeld);
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"blocked.example"}));
}

// Whatever let a fake be judged (here the handshake's flow timed out, so the fake's low TTL had
// no floor to fail), the real hello that follows contradicts the judged bytes: inline it is
// dropped, so the server never gets a name that was not judged.
TEST_F(EnforcementTest, BytesThatContradictTheJudgedOnesNeverReachTheServer) {
  make(EnforcementMode::kInline);
  judge_.blocked = {"blocked.example"};
  Connection c;
  handshake(c);
  now_ += 11 * kSecond;  // past timeouts.handshake: the flow is forgotten
  while (inspector_->expire(now_) != 0) {
  }
  ASSERT_EQ(inspector_->active_flows(), 0u);
  TcpSpec fake = c.client_spec(0, hello("allowed.example"));
  fake.frame.ttl = 3;
  EXPECT_EQ(from_client(build_tcp_frame(fake)), PacketAction::kHeld);  // judged, released
  ASSERT_FALSE(judge_.names.empty());
  EXPECT_EQ(judge_.names.back(), "allowed.example");
  const uint64_t dropped = stats().decoys_dropped;
  for (int attempt = 0; attempt < 3; ++attempt)  // the client's retransmissions
    EXPECT_EQ(from_client(c.client(0, hello("blocked.example"))), PacketAction::kDrop) << attempt;
  EXPECT_EQ(stats().decoys_dropped, dropped + 3);
  // A copy of what was judged still goes on.
  EXPECT_EQ(from_client(build_tcp_frame(fake)), PacketAction::kForward);
}

// --- caps -----------------------------------------------------------------------------------

// Past the per-flow cap, frames are dropped unread: only bytes the server will get are judged.
// A hello that never fits is judged incomplete at the time cap, and the held frames follow the
// verdict.
TEST_F(EnforcementTest, PerFlowCapDropsTheRestUnreadAndTheTimeCapDecides) {
  config_.max_held_per_flow = 4;
  config_.first_flight_time_cap_ns = 2 * kSecond;
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("tiny.example");
  std::vector<uintptr_t> held;
  size_t dropped = 0;
  for (size_t off = 0; off < h.size(); ++off) {
    const PacketAction a = from_client(c.client(static_cast<uint32_t>(off), part(h, off, 1)));
    if (off < 4) {
      ASSERT_EQ(a, PacketAction::kHeld) << "segment " << off;
      held.push_back(last_handle_);
    } else {
      ASSERT_EQ(a, PacketAction::kDrop) << "segment " << off;
      ++dropped;
    }
  }
  EXPECT_EQ(stats().hold_flow_cap, dropped);
  EXPECT_EQ(judge_.calls, 0) << "bytes the server will not get are not judged";
  EXPECT_TRUE(sink_.released.empty());

  inspector_->expire(now_ + 3 * kSecond);
  EXPECT_EQ(judge_.kinds, (std::vector<FirstFlightKind>{FirstFlightKind::kIncomplete}));
  EXPECT_EQ(sink_.released, held);
  EXPECT_EQ(inspector_->held_frames(), 0u);
}

TEST_F(EnforcementTest, FullHoldPoolDropsAndRecovers) {
  config_.held_frames = 3;
  make(EnforcementMode::kInline);
  Connection a(false, {}, 42001), b(false, {}, 42002);
  handshake(a);
  handshake(b);
  const Bytes ha = hello("a.example"), hb = hello("b.example");
  EXPECT_EQ(from_client(a.client(0, part(ha, 0, 10))), PacketAction::kHeld);
  const uintptr_t a1 = last_handle_;
  EXPECT_EQ(from_client(b.client(0, part(hb, 0, 10))), PacketAction::kHeld);
  const uintptr_t b1 = last_handle_;
  EXPECT_EQ(from_client(a.client(10, part(ha, 10, 10))), PacketAction::kHeld);
  const uintptr_t a2 = last_handle_;
  EXPECT_EQ(from_client(b.client(10, part(hb, 10, hb.size()))), PacketAction::kDrop)
      << "pool empty: dropped unread";
  EXPECT_EQ(stats().hold_exhausted, 1u);
  EXPECT_EQ(judge_.calls, 0);
  EXPECT_EQ(inspector_->held_frames(), 3u);

  // The client resends; still no room, still unread.
  EXPECT_EQ(from_client(a.client(20, part(ha, 20, ha.size()))), PacketAction::kDrop);
  EXPECT_EQ(stats().hold_exhausted, 2u);
  EXPECT_EQ(judge_.calls, 0);

  // The time cap frees the pool (incomplete, passed by this judge); then resent bytes are held
  // and judged again from scratch on a new flow... here the flows are judged, so they go on.
  inspector_->expire(now_ + config_.first_flight_time_cap_ns + kSecond);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{a1, a2, b1}));
  EXPECT_EQ(inspector_->held_frames(), 0u);
  EXPECT_EQ(from_client(b.client(10, part(hb, 10, hb.size()))), PacketAction::kForward);
}

// Was a bug (fixed: frames that cannot be held are dropped unread): bytes of a frame dropped at
// the per-flow hold cap counted toward the first flight, so the verdict could be taken on bytes
// the server never receives. An
// evading client sends max_held_per_flow tiny segments (held), then the rest of a harmless
// hello (dropped past the cap, but judged: pass, the held frames are released), then the rest of
// the hello it really means at the same sequence numbers: the flow is judged, so that segment is
// forwarded and the server gets a ClientHello naming a blocked server that no one judged (only an
// overlap_conflict anomaly is left in the close record). The same holds for frames dropped
// because the hold pool is empty (hold_exhausted). What must hold: whatever the server receives
// of the first flight is what was judged.
TEST_F(EnforcementTest, BytesDroppedAtTheHoldCapAreNotWhatIsJudged) {
  config_.max_held_per_flow = 4;
  make(EnforcementMode::kInline);
  judge_.blocked = {"evil.example"};
  Connection c;
  handshake(c);
  HelloSpec spec;
  spec.sni = "good.example";
  const Bytes good = build_client_hello_records(spec);
  spec.sni = "evil.example";
  const Bytes evil = build_client_hello_records(spec);
  ASSERT_EQ(good.size(), evil.size());
  ASSERT_TRUE(std::equal(good.begin(), good.begin() + 4, evil.begin())) << "a common prefix";
  for (uint32_t off = 0; off < 4; ++off)
    ASSERT_EQ(from_client(c.client(off, part(good, off, 1))), PacketAction::kHeld);
  // Past the cap: dropped, never delivered.
  EXPECT_EQ(from_client(c.client(4, part(good, 4, good.size()))), PacketAction::kDrop);
  // The bytes the server will really get.
  const PacketAction real = from_client(c.client(4, part(evil, 4, evil.size())));
  const bool evil_judged =
      std::find(judge_.names.begin(), judge_.names.end(), "evil.example") != judge_.names.end();
  EXPECT_TRUE(real != PacketAction::kForward || evil_judged)
      << "the server receives a hello for evil.example that was never judged (judged: "
      << (judge_.names.empty() ? std::string("nothing") : judge_.names[0]) << ")";
}

// A TCP Fast Open SYN carrying the ClientHello: the SYN goes on at once, its data does not.
// What leaves is the same SYN (addresses, tags, sequence number, every option with the TFO
// cookie) without payload and with valid checksums; the server acknowledges the SYN alone, the
// client sends the hello again after the handshake, and that copy is held and judged.
class TfoEnforcementTest : public EnforcementTest,
                           public ::testing::WithParamInterface<bool> {};

TEST_P(TfoEnforcementTest, SynDataIsWithheldAndTheResentHelloIsJudged) {
  make(EnforcementMode::kInline);
  judge_.block_all = true;
  Connection c(/*ipv6=*/GetParam(), {100});
  const Bytes h = hello("tfo.example");
  const Bytes syn = c.tfo_syn(h);
  EXPECT_EQ(from_client(syn), PacketAction::kDrop) << "the frame with the data never leaves";
  EXPECT_EQ(judge_.calls, 0);
  ASSERT_EQ(sink_.injected.size(), 1u);
  EXPECT_FALSE(sink_.injected[0].toward_client);
  EXPECT_EQ(sink_.injected[0].client_port, kClientSidePort);
  const Reply sent = parse_reply(sink_.injected[0]);
  ASSERT_TRUE(sent.ok) << "parses, IP and TCP checksums valid";
  ParsedPacket original;
  ASSERT_EQ(parse_frame(ByteSpan(syn.data(), syn.size()), ParseOptions{}, original).status,
            ParseStatus::kOk);
  EXPECT_TRUE(sent.p.payload.empty());
  EXPECT_EQ(sent.p.tcp_flags, kTcpSyn);
  EXPECT_EQ(sent.p.seq, Connection::kClientIsn);
  EXPECT_EQ(sent.p.src, original.src);
  EXPECT_EQ(sent.p.dst, original.dst);
  EXPECT_EQ(sent.p.src_port, original.src_port);
  EXPECT_EQ(sent.p.ttl, original.ttl);
  ASSERT_EQ(sent.p.vlan_count, 1);
  EXPECT_EQ(sent.p.vlan_ids[0], 100);
  EXPECT_TRUE(sent.p.tcp_options.fast_open_cookie) << "still a TFO SYN with its cookie";
  EXPECT_EQ(sent.p.tcp_options.mss, 1460);
  EXPECT_EQ(sent.frame.size(), syn.size() - h.size());
  EXPECT_EQ(stats().syn_data_stripped, 1u);

  // The server took the SYN alone; the client resends its hello, which waits for the verdict.
  EXPECT_EQ(from_server(c.synack(0)), PacketAction::kForward);
  EXPECT_EQ(from_client(c.ack()), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kHeld);
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"tfo.example"}));
  EXPECT_TRUE(sink_.released.empty()) << "the blocked hello never reaches the server";
  EXPECT_EQ(sink_.discarded.size(), 1u);
  ASSERT_EQ(sink_.toward(false).size(), 2u) << "the stripped SYN, then the server's reset";
  const Reply reset = parse_reply(sink_.toward(false)[1]);
  ASSERT_TRUE(reset.ok);
  EXPECT_TRUE(reset.p.tcp_flags & kTcpRst);
  EXPECT_EQ(reset.p.seq, Connection::kClientIsn + 1) << "the server has received no data";
  EXPECT_FALSE(events_.of(AuditKind::kVerdict).empty());
}

TEST_P(TfoEnforcementTest, PassedTfoFlowReleasesTheResentHello) {
  make(EnforcementMode::kInline);
  Connection c(/*ipv6=*/GetParam());
  const Bytes h = hello("ok.example");
  EXPECT_EQ(from_client(c.tfo_syn(h)), PacketAction::kDrop);
  EXPECT_EQ(from_server(c.synack(0)), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kHeld);
  const uintptr_t resent = last_handle_;
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{resent}));
  EXPECT_EQ(from_client(c.client(static_cast<uint32_t>(h.size()), Bytes(40, 0x17))),
            PacketAction::kForward);
  EXPECT_EQ(judge_.calls, 1);
}

INSTANTIATE_TEST_SUITE_P(IpVersions, TfoEnforcementTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return param_info.param ? "v6" : "v4";
                         });

// Monitor mode cannot withhold anything: the TFO data is judged once the SYN-ACK shows the
// server took it, and both ends are reset where they are.
TEST_F(EnforcementTest, MonitorJudgesTfoDataWhenTheSynAckTakesIt) {
  make(EnforcementMode::kMonitor);
  judge_.block_all = true;
  Connection c;
  const Bytes h = hello("tfo.example");
  from_client(c.tfo_syn(h));
  EXPECT_EQ(judge_.calls, 0);
  from_server(c.synack(static_cast<uint32_t>(h.size())));
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"tfo.example"}));
  ASSERT_FALSE(sink_.toward(false).empty());
  const Reply to_server = parse_reply(sink_.toward(false)[0]);
  ASSERT_TRUE(to_server.ok);
  EXPECT_EQ(to_server.p.seq, Connection::kClientIsn + 1 + h.size())
      << "the server took the SYN's data: its next expected sequence number is past it";
}

// A FIN right behind held data waits with it; a pure ACK does not.
TEST_F(EnforcementTest, FinBehindHeldDataIsHeldWithIt) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("fin.example");
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 50))), PacketAction::kHeld);
  const uintptr_t data = last_handle_;
  EXPECT_EQ(from_client(c.client(50, {}, kTcpAck)), PacketAction::kForward) << "a pure ACK";
  EXPECT_EQ(from_server(c.server(0, {}, 50, kTcpAck)), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(50, part(h, 50, h.size()), kTcpAck | kTcpPsh | kTcpFin)),
            PacketAction::kHeld);
  const uintptr_t rest = last_handle_;
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{data, rest}));
}

TEST_F(EnforcementTest, EmptyConnectionFinIsNotHeld) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  EXPECT_EQ(from_client(c.client(0, {}, kTcpAck | kTcpFin)), PacketAction::kForward);
  EXPECT_EQ(stats().frames_held, 0u);
}

TEST_F(EnforcementTest, OutOfOrderSegmentsAreReleasedInArrivalOrder) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("ooo.example");
  const size_t cut = h.size() / 2;
  EXPECT_EQ(from_client(c.client(static_cast<uint32_t>(cut), part(h, cut, h.size()))),
            PacketAction::kHeld);
  const uintptr_t later_bytes = last_handle_;
  EXPECT_EQ(judge_.calls, 0);
  EXPECT_EQ(from_client(c.client(0, part(h, 0, cut))), PacketAction::kHeld);
  const uintptr_t earlier_bytes = last_handle_;
  EXPECT_EQ(judge_.names, (std::vector<std::string>{"ooo.example"}));
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{later_bytes, earlier_bytes}));
}

TEST_F(EnforcementTest, EvictingAHoldingFlowReleasesItsFrames) {
  config_.flow_capacity = 2;
  make(EnforcementMode::kInline);
  Connection a(false, {}, 43001), b(false, {}, 43002), n(false, {}, 43003);
  handshake(a);
  handshake(b);
  const Bytes ha = hello("a.example"), hb = hello("b.example");
  EXPECT_EQ(from_client(a.client(0, part(ha, 0, 30))), PacketAction::kHeld);
  const uintptr_t a1 = last_handle_;
  EXPECT_EQ(from_client(b.client(0, part(hb, 0, 30))), PacketAction::kHeld);
  const uintptr_t b1 = last_handle_;
  ASSERT_EQ(inspector_->active_flows(), 2u);
  // A third connection needs a slot: the flow idle longest (a) goes, and its frame with it.
  EXPECT_EQ(from_client(n.syn()), PacketAction::kForward);
  EXPECT_EQ(stats().flows_evicted, 1u);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{a1}));
  EXPECT_EQ(inspector_->held_frames(), 1u);
  auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kEvicted);
  EXPECT_EQ(closes[0].client.port, 43001);
  // b is untouched and completes as usual.
  EXPECT_EQ(from_client(b.client(30, part(hb, 30, hb.size()))), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{a1, b1, last_handle_}));
}

// --- time cap, shutdown ---------------------------------------------------------------------

TEST_F(EnforcementTest, TimeCapJudgesIncompleteAndReleases) {
  config_.first_flight_time_cap_ns = 2 * kSecond;
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("slow.example");
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 30))), PacketAction::kHeld);
  const uintptr_t h1 = last_handle_;
  EXPECT_EQ(from_client(c.client(30, part(h, 30, 30))), PacketAction::kHeld);
  const uintptr_t h2 = last_handle_;

  inspector_->expire(now_ + kSecond);
  EXPECT_TRUE(sink_.released.empty()) << "before the cap nothing moves";
  EXPECT_EQ(judge_.calls, 0);

  inspector_->expire(now_ + 3 * kSecond);
  EXPECT_EQ(judge_.kinds, (std::vector<FirstFlightKind>{FirstFlightKind::kIncomplete}));
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{h1, h2}));
  EXPECT_TRUE(sink_.discarded.empty());
  EXPECT_TRUE(sink_.injected.empty());
  EXPECT_EQ(inspector_->held_frames(), 0u);
  EXPECT_EQ(inspector_->active_flows(), 1u) << "the flow lives on";

  now_ += 3 * kSecond;
  EXPECT_EQ(from_client(c.client(60, part(h, 60, h.size()))), PacketAction::kForward);
  EXPECT_EQ(judge_.calls, 1);
}

TEST_F(EnforcementTest, TimeCapWithABlockingPolicyDiscardsAndResets) {
  config_.first_flight_time_cap_ns = 2 * kSecond;
  make(EnforcementMode::kInline);
  judge_.block_all = true;
  Connection c;
  handshake(c);
  const Bytes h = hello("stall.example");
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 30))), PacketAction::kHeld);
  inspector_->expire(now_ + 3 * kSecond);
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(sink_.injected.size(), 2u);
  now_ += 3 * kSecond;
  EXPECT_EQ(from_client(c.client(30, part(h, 30, h.size()))), PacketAction::kDrop);
  EXPECT_EQ(stats().blocked_packets, 1u);
}

TEST_F(EnforcementTest, ShutdownReleasesHeldFrames) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("bye.example");
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 50))), PacketAction::kHeld);
  const uintptr_t h1 = last_handle_;
  EXPECT_EQ(inspector_->held_frames(), 1u);
  EXPECT_EQ(inspector_->close_some(now_, UINT32_MAX), 0u);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{h1}));
  EXPECT_TRUE(sink_.discarded.empty());
  EXPECT_EQ(inspector_->held_frames(), 0u);
  auto verdicts = events_.of(AuditKind::kVerdict);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].first_flight, FirstFlightKind::kIncomplete);
  auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kShutdown);
}

TEST_F(EnforcementTest, ClientResetWhileHoldingReleasesFirst) {
  make(EnforcementMode::kInline);
  Connection c;
  handshake(c);
  const Bytes h = hello("abort.example");
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 50))), PacketAction::kHeld);
  const uintptr_t h1 = last_handle_;
  EXPECT_EQ(from_client(c.client(50, {}, kTcpRst)), PacketAction::kForward);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{h1})) << "held data goes before the reset";
  auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].close_reason, CloseReason::kRst);
  EXPECT_EQ(inspector_->held_frames(), 0u);
}

// --- monitor --------------------------------------------------------------------------------

TEST_F(EnforcementTest, MonitorHoldsNothingAndResetsBlockedFlows) {
  make(EnforcementMode::kMonitor);
  judge_.block_all = true;
  const std::vector<uint16_t> vlans = {5};
  Connection c(false, vlans);
  handshake(c);
  const Bytes h = hello("watched.example");
  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 60))), PacketAction::kForward);
  EXPECT_TRUE(sink_.injected.empty());
  EXPECT_EQ(from_client(c.client(60, part(h, 60, h.size()))), PacketAction::kForward);
  EXPECT_EQ(judge_.calls, 1);

  const auto to_server = sink_.toward(false);
  const auto to_client = sink_.toward(true);
  ASSERT_EQ(to_server.size(), 1u);
  ASSERT_EQ(to_client.size(), 1u);
  expect_reset(to_server[0], c, false, Connection::kClientIsn + 1 + len, kTcpRst | kTcpAck,
               vlans);
  expect_reset(to_client[0], c, true, Connection::kServerIsn + 1, kTcpRst | kTcpAck, vlans);

  // A mirror drops nothing. Its first resets race the server's answer, so a few later packets
  // of the flow aim more resets, at the sequence numbers each packet shows.
  sink_.injected.clear();
  EXPECT_EQ(from_server(c.server(0, Bytes(50, 0x16), len)), PacketAction::kForward);
  {
    const auto to_client2 = sink_.toward(true);
    const auto to_server2 = sink_.toward(false);
    ASSERT_EQ(to_client2.size(), 1u);
    ASSERT_EQ(to_server2.size(), 1u);
    expect_reset(to_client2[0], c, true, Connection::kServerIsn + 1 + 50, kTcpRst, vlans);
    expect_reset(to_server2[0], c, false, Connection::kClientIsn + 1 + len, kTcpRst, vlans);
  }
  sink_.injected.clear();
  EXPECT_EQ(from_client(c.client(len, Bytes(10, 0x17))), PacketAction::kForward);
  {
    const auto to_client2 = sink_.toward(true);
    const auto to_server2 = sink_.toward(false);
    ASSERT_EQ(to_client2.size(), 1u);
    ASSERT_EQ(to_server2.size(), 1u);
    expect_reset(to_server2[0], c, false, Connection::kClientIsn + 1 + len + 10, kTcpRst, vlans);
    expect_reset(to_client2[0], c, true, Connection::kServerIsn + 1, kTcpRst, vlans);
  }
  // Only a few: a long flow does not draw a reset per packet.
  size_t packets_with_resets = 2;
  for (uint32_t i = 0; i < 30; ++i) {
    const size_t before = sink_.injected.size();
    from_server(c.server(50 + i, Bytes(1, 0x17), len + 10));
    if (sink_.injected.size() > before) ++packets_with_resets;
  }
  EXPECT_LE(packets_with_resets, 16u);
  const size_t settled = sink_.injected.size();
  for (uint32_t i = 0; i < 5; ++i) from_client(c.client(len + 10, {}, kTcpAck));
  EXPECT_EQ(sink_.injected.size(), settled) << "the repeats ran out";
  EXPECT_EQ(stats().resets_sent, 1u + packets_with_resets);
  // While the flow still moves (a mirror reader lagging the wire aimed the repeats at stale
  // packets), a sparse reset for its life: one every kMonitorLateResetEvery packets.
  size_t late = 0;
  for (uint32_t i = 0; i < 2 * FlowInspector::kMonitorLateResetEvery; ++i) {
    const size_t before = sink_.injected.size();
    from_server(c.server(80 + i, Bytes(1, 0x17), len + 10));
    if (sink_.injected.size() > before) {
      ++late;
      const auto to_client_late = sink_.toward(true);
      expect_reset(to_client_late.back(), c, true, Connection::kServerIsn + 1 + 80 + i + 1, kTcpRst,
                   vlans);
    }
  }
  EXPECT_EQ(late, 2u);
  EXPECT_EQ(stats().resets_sent, 1u + packets_with_resets + late);

  // The server took its reset and fell silent, while the client's resets were all aimed behind
  // data still in flight: no packet count comes round again, but the client's next ACK (or its
  // challenge ACK) names exactly where it is, and draws a reset there.
  sink_.injected.clear();
  TcpSpec new_ack = c.client_spec(len + 10, {}, kTcpAck);
  new_ack.ack = Connection::kServerIsn + 1 + 4000;
  from_client(build_tcp_frame(new_ack));
  {
    const auto to_client_now = sink_.toward(true);
    ASSERT_EQ(to_client_now.size(), 1u);
    expect_reset(to_client_now[0], c, true, Connection::kServerIsn + 1 + 4000, kTcpRst, vlans);
  }

  EXPECT_TRUE(sink_.released.empty());
  EXPECT_TRUE(sink_.discarded.empty());
  EXPECT_EQ(stats().frames_held, 0u);
  EXPECT_EQ(stats().blocked_packets, 0u);
  EXPECT_EQ(stats().flows_blocked, 1u);
  EXPECT_EQ(inspector_->held_frames(), 0u);
}

TEST_F(EnforcementTest, MonitorAimsNoResetAtAReset) {
  make(EnforcementMode::kMonitor);
  judge_.block_all = true;
  Connection c;
  handshake(c);
  const Bytes h = hello("rst.example");
  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kForward);
  EXPECT_EQ(sink_.injected.size(), 2u);
  // A reset seen on the mirror (perhaps one of ours coming back) draws none.
  EXPECT_EQ(from_server(c.server(0, {}, len, kTcpRst | kTcpAck)), PacketAction::kForward);
  EXPECT_EQ(sink_.injected.size(), 2u);
  EXPECT_EQ(stats().resets_sent, 1u);
}

// Was a bug (fixed: inject() checks for a sink): the enforcement sink is optional
// (send_block_response and
// carry_out check for nullptr), but the monitor's repeated resets (reset_from_packet, commit
// db2e16e) call inject(), which dereferences it unchecked: in monitor mode without a sink, the
// next packet of a blocked flow crashed the worker (SIGSEGV).
//
TEST_F(EnforcementTest, MonitorWithoutASinkSurvivesABlockedFlow) {
  make(EnforcementMode::kMonitor);
  inspector_->set_enforcement_sink(nullptr);
  judge_.block_all = true;
  Connection c;
  handshake(c);
  const Bytes h = hello("nosink.example");
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kForward);
  EXPECT_EQ(from_server(c.server(0, Bytes(20, 0x16), static_cast<uint32_t>(h.size()))),
            PacketAction::kForward);
  EXPECT_EQ(stats().flows_blocked, 1u);
}

TEST_F(EnforcementTest, InlineWithoutASinkStillDropsABlockedFlow) {
  make(EnforcementMode::kInline);
  inspector_->set_enforcement_sink(nullptr);
  judge_.block_all = true;
  Connection c;
  handshake(c);
  const Bytes h = hello("nosink.example");
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kHeld);
  EXPECT_EQ(from_server(c.server(0, {}, 0, kTcpAck)), PacketAction::kDrop);
  EXPECT_EQ(stats().flows_blocked, 1u);
  EXPECT_EQ(stats().frames_discarded, 1u);
  EXPECT_EQ(inspector_->held_frames(), 0u);
}

TEST_F(EnforcementTest, MonitorPassInjectsNothing) {
  make(EnforcementMode::kMonitor);
  Connection c;
  handshake(c);
  const Bytes h = hello("ok.example");
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kForward);
  EXPECT_EQ(from_server(c.server(0, Bytes(50, 0x16), static_cast<uint32_t>(h.size()))),
            PacketAction::kForward);
  EXPECT_EQ(judge_.calls, 1);
  EXPECT_TRUE(sink_.injected.empty());
  EXPECT_EQ(stats().resets_sent, 0u);
}

// --- audit only -----------------------------------------------------------------------------

TEST_F(EnforcementTest, AuditOnlyIsTheDefaultAndNeverHolds) {
  EXPECT_EQ(InspectorConfig{}.enforcement, EnforcementMode::kAuditOnly);
  inspector_ = std::make_unique<FlowInspector>(config_, events_);
  inspector_->set_enforcement_sink(&sink_);
  inspector_->set_judge(&judge_);
  judge_.block_all = true;
  Connection c(false, {9});
  handshake(c);
  const Bytes h = hello("audited.example");
  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_client(c.client(0, part(h, 0, 40))), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(40, part(h, 40, h.size()))), PacketAction::kForward);
  TcpSpec low = c.client_spec(len, Bytes(20, 0x17));
  low.frame.ttl = 3;
  EXPECT_EQ(from_client(build_tcp_frame(low)), PacketAction::kForward) << "no decoy dropping";
  EXPECT_EQ(from_server(c.server(0, Bytes(50, 0x16), len)), PacketAction::kForward);
  EXPECT_EQ(judge_.calls, 1);
  auto verdicts = events_.of(AuditKind::kVerdict);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].verdict, Verdict::kBlock) << "recorded, not carried out";
  inspector_->close_some(now_, UINT32_MAX);
  EXPECT_TRUE(sink_.released.empty());
  EXPECT_TRUE(sink_.discarded.empty());
  EXPECT_TRUE(sink_.injected.empty());
  EXPECT_EQ(stats().frames_held, 0u);
  EXPECT_EQ(stats().decoys_dropped, 0u);
  EXPECT_EQ(stats().blocked_packets, 0u);
  EXPECT_EQ(stats().flows_blocked, 0u);
  EXPECT_EQ(stats().resets_sent, 0u);
  auto closes = events_.of(AuditKind::kClose);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_NE(closes[0].close_reason, CloseReason::kBlocked);
}

// --- inline: intercept, handed to the interceptor through the TAP ----------------------------

constexpr uint16_t kTapPort = 9;

class InterceptTest : public EnforcementTest {
 protected:
  void make_intercepting(bool interceptor_ready) {
    config_.intercept.enabled = true;
    config_.intercept.tap_port = kTapPort;
    config_.intercept.tap_mac = {0x02, 0x7a, 0, 0, 0, 1};
    config_.intercept.appliance_ip = {10, 0, 0, 250};
    config_.intercept.source_ip = {169, 254, 77, 1};
    config_.intercept.fallback = Verdict::kPass;
    make(EnforcementMode::kInline);
    inspector_->set_interceptor_ready(interceptor_ready);
    judge_.intercepted = {"intercept.example"};
  }
  // The handoff message the fragments carry (one fragment: the hellos here are small).
  absl::StatusOr<handoff::Handoff> sent_handoff(Bytes& storage) {
    EXPECT_EQ(sink_.to_tap_frames.size(), 1u);
    storage = sink_.to_tap_frames.at(0);
    ParsedPacket p;
    EXPECT_EQ(parse_frame(ByteSpan(storage), ParseOptions{}, p).status, ParseStatus::kOk);
    EXPECT_EQ(std::vector<uint8_t>(storage.begin(), storage.begin() + 6),
              std::vector<uint8_t>({0x02, 0x7a, 0, 0, 0, 1}))
        << "addressed to the TAP";
    return handoff::decode_handoff(p.payload);
  }
  PacketAction from_tap(const Bytes& frame) { return send(frame, kTapPort); }
};

TEST_F(InterceptTest, HandsTheFlowOverResetsTheServerAndSteersWhatFollows) {
  make_intercepting(true);
  Connection c;
  handshake(c);
  const Bytes h = hello("intercept.example");
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kHeld);
  const uintptr_t held = last_handle_;

  Bytes storage;
  absl::StatusOr<handoff::Handoff> m = sent_handoff(storage);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->client_isn, Connection::kClientIsn);
  EXPECT_EQ(m->server_isn, Connection::kServerIsn);
  EXPECT_EQ(m->client.port, 41000);
  EXPECT_EQ(m->server.port, 443);
  EXPECT_EQ(m->client_mss, 1460);
  EXPECT_EQ(std::vector<uint8_t>(m->hello.begin(), m->hello.end()), h);

  // The server leg: one reset where the server expects the client's first byte.
  const auto to_server = sink_.toward(false);
  ASSERT_EQ(to_server.size(), 1u);
  const Reply rst = parse_reply(to_server[0]);
  ASSERT_TRUE(rst.ok);
  EXPECT_EQ(rst.p.tcp_flags & kTcpRst, kTcpRst);
  EXPECT_EQ(rst.p.seq, Connection::kClientIsn + 1);
  EXPECT_TRUE(sink_.toward(true).empty()) << "the client is never reset";
  EXPECT_EQ(sink_.discarded, (std::vector<uintptr_t>{held})) << "its bytes went in the message";
  EXPECT_TRUE(sink_.released.empty());
  EXPECT_EQ(sink_.log.front(), "handoff frame") << "the handoff goes before anything else";

  ASSERT_EQ(events_.of(AuditKind::kVerdict).size(), 1u);
  const AuditEvent v = events_.of(AuditKind::kVerdict)[0];
  EXPECT_EQ(v.verdict, Verdict::kIntercept);
  EXPECT_EQ(v.handoff, HandoffOutcome::kHandedOff);
  EXPECT_EQ(v.rule_view(), "test_intercept");

  // Later: the client's packets into the TAP, the TAP's answers to the client, the server's
  // packets nowhere, and nothing from the TAP that is not a handed-off flow.
  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_client(c.client(len, {1, 2, 3})), PacketAction::kHeld);
  EXPECT_EQ(sink_.to_tap, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(from_tap(c.server(0, {4, 5, 6}, len)), PacketAction::kHeld);
  EXPECT_EQ(sink_.to_clients, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(sink_.log.back(), "to client " + std::to_string(last_handle_) + " l3 14 l2 14 port " +
                                  std::to_string(kClientSidePort));
  EXPECT_EQ(from_server(c.server(0, {7}, len)), PacketAction::kDrop);
  Connection other(false, {}, 41001);
  EXPECT_EQ(from_tap(other.server(0, {8}, 0)), PacketAction::kDrop);

  EXPECT_EQ(stats().handoffs_sent, 1u);
  EXPECT_EQ(stats().handoff_fragments, 1u);
  EXPECT_EQ(stats().handoff_server_resets, 1u);
  EXPECT_EQ(stats().handoff_to_interceptor, 1u);
  EXPECT_EQ(stats().handoff_to_client, 1u);
  EXPECT_EQ(stats().handoff_server_dropped, 1u);
  EXPECT_EQ(stats().tap_unmatched, 1u);
  EXPECT_EQ(stats().intercept_fallbacks, 0u);
}

TEST_F(InterceptTest, WithoutTheInterceptorTheFallbackIsCarriedOut) {
  make_intercepting(false);
  Connection c;
  handshake(c);
  EXPECT_EQ(from_client(c.client(0, hello("intercept.example"))), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{last_handle_})) << "fallback pass";
  EXPECT_TRUE(sink_.to_tap_frames.empty());
  EXPECT_TRUE(sink_.injected.empty()) << "nobody is reset";
  const AuditEvent v = events_.of(AuditKind::kVerdict).at(0);
  EXPECT_EQ(v.verdict, Verdict::kPass);
  EXPECT_EQ(v.handoff, HandoffOutcome::kInterceptorAbsent);
  EXPECT_EQ(v.rule_view(), "test_intercept") << "the rule that said intercept stays";
  EXPECT_EQ(stats().intercept_fallbacks, 1u);
  EXPECT_EQ(stats().handoff_interceptor_absent, 1u);
  EXPECT_EQ(stats().flows_by_verdict[static_cast<size_t>(Verdict::kPass)], 1u);
}

TEST_F(InterceptTest, AFlowWithoutItsSynCannotBeAdopted) {
  make_intercepting(true);
  Connection c;
  EXPECT_EQ(from_server(c.synack()), PacketAction::kForward);  // the SYN went unseen
  EXPECT_EQ(from_client(c.ack()), PacketAction::kForward);
  EXPECT_EQ(from_client(c.client(0, hello("intercept.example"))), PacketAction::kHeld);
  EXPECT_TRUE(sink_.to_tap_frames.empty());
  EXPECT_EQ(events_.of(AuditKind::kVerdict).at(0).handoff, HandoffOutcome::kNotAdoptable);
  EXPECT_EQ(stats().handoff_not_adoptable, 1u);
}

TEST_F(InterceptTest, IPv6FlowsGetTheFallbackWithoutAnApplianceIpv6Address) {
  make_intercepting(true);
  Connection c(true);
  handshake(c);
  EXPECT_EQ(from_client(c.client(0, hello("intercept.example"))), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{last_handle_}))
      << "no intercept.address6: the appliance namespace has no IPv6 way back to the client, "
         "so the flow passes (fallback) rather than vanish";
  EXPECT_TRUE(sink_.to_tap_frames.empty());
  EXPECT_EQ(events_.of(AuditKind::kVerdict).at(0).handoff, HandoffOutcome::kNotAdoptable);
}

TEST_F(InterceptTest, IPv6FlowsAreHandedOverWithAnApplianceIpv6Address) {
  config_.intercept.ipv6 = true;
  config_.intercept.appliance_ip6 = {0xfd, 0, 0, 0x5c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x50};
  make_intercepting(true);
  Connection c(true);
  handshake(c);
  const Bytes h = hello("intercept.example");
  EXPECT_EQ(from_client(c.client(0, h)), PacketAction::kHeld);
  EXPECT_TRUE(sink_.released.empty());
  Bytes storage;
  absl::StatusOr<handoff::Handoff> m = sent_handoff(storage);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->client.is_v4());
  EXPECT_FALSE(m->server.is_v4());
  const auto v6 = [](const char* text) {
    std::array<uint8_t, 16> a{};
    EXPECT_EQ(inet_pton(AF_INET6, text, a.data()), 1);
    return a;
  };
  EXPECT_EQ(m->client.bytes, v6("2001:db8:1::10"));
  EXPECT_EQ(m->server.bytes, v6("2001:db8:2::20"));
  EXPECT_EQ(std::vector<uint8_t>(m->hello.begin(), m->hello.end()), h);
  EXPECT_EQ(events_.of(AuditKind::kVerdict).at(0).handoff, HandoffOutcome::kHandedOff);
  const auto to_server = sink_.toward(false);
  ASSERT_EQ(to_server.size(), 1u) << "the server leg is reset";
  EXPECT_TRUE(sink_.toward(true).empty()) << "the client is never reset";

  const auto len = static_cast<uint32_t>(h.size());
  EXPECT_EQ(from_client(c.client(len, {1, 2, 3})), PacketAction::kHeld);
  EXPECT_EQ(sink_.to_tap, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(from_tap(c.server(0, {4, 5, 6}, len)), PacketAction::kHeld);
  EXPECT_EQ(sink_.to_clients, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(stats().handoffs_sent, 1u);
  EXPECT_EQ(stats().intercept_fallbacks, 0u);
}

TEST_F(InterceptTest, ATapThatTakesNothingMeansFallback) {
  make_intercepting(true);
  sink_.refuse_interceptor_frames = true;
  Connection c;
  handshake(c);
  EXPECT_EQ(from_client(c.client(0, hello("intercept.example"))), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(events_.of(AuditKind::kVerdict).at(0).handoff, HandoffOutcome::kNoBuffer);
  EXPECT_EQ(stats().handoff_send_failed, 1u);
}

TEST_F(InterceptTest, PassedFlowsAreUntouchedAndTheTapStaysClosedToThem) {
  make_intercepting(true);
  Connection c;
  handshake(c);
  EXPECT_EQ(from_client(c.client(0, hello("fine.example"))), PacketAction::kHeld);
  EXPECT_EQ(sink_.released, (std::vector<uintptr_t>{last_handle_}));
  EXPECT_EQ(events_.of(AuditKind::kVerdict).at(0).handoff, HandoffOutcome::kNone);
  EXPECT_EQ(from_tap(c.server(0, {1}, 0)), PacketAction::kDrop)
      << "a frame out of the TAP for a passed flow goes nowhere";
  EXPECT_EQ(stats().tap_unmatched, 1u);
}

}  // namespace
}  // namespace sluice
