// Fuzzes TCP first-flight reassembly and judging through the whole FlowInspector. Raw frames
// rarely make a TCP conversation, so the input is a script of segments for one connection
// (after a real handshake), which the target turns into frames:
//   op (1 byte): bit 0 direction (1 = server), bits 1-3 TCP flags choice, bit 4 bad checksum
//   offset (2 bytes, big-endian): sequence offset from the direction's first byte
//   length (1 byte), then that many payload bytes (fewer if the input ends).
// Every flow must be judged exactly once and closed exactly once, whatever the script does. The
// same script also runs through an inline inspector (verdict by the script's first byte: pass or
// block): every frame it holds must come back exactly once, released or discarded, and nothing
// may stay held at the end.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/core/flow_inspector.h"
#include "dataplane/core/flow_judge.h"

namespace {

using sluice::AuditEvent;
using sluice::AuditKind;

constexpr uint32_t kClientIsn = 0xfffff000;  // sequence numbers wrap inside the first flight
constexpr uint32_t kServerIsn = 77;

struct CountingSink : sluice::AuditSink {
  bool publish(const AuditEvent& e) override {
    (e.kind == AuditKind::kVerdict ? verdicts : closes) += 1;
    return true;
  }
  int verdicts = 0;
  int closes = 0;
};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Frame handles are 1, 2, 3, ...: each held one must come back once.
struct CheckingEnforcement : sluice::EnforcementSink {
  void release(void* h) override { back(h); }
  void discard(void* h) override { back(h); }
  void inject(sluice::ByteSpan frame, uint16_t, bool) override { check(frame.size() >= 54); }
  void back(void* h) {
    const auto i = reinterpret_cast<uintptr_t>(h);
    check(i < returned.size() && held[i] && !returned[i]);
    returned[i] = true;
  }
  std::vector<bool> held;
  std::vector<bool> returned;
};

struct FixedJudge : sluice::FlowJudge {
  void decide(const sluice::FlowFacts&, sluice::FlowDecision& out) override {
    out.decision.action.verdict = verdict;
  }
  sluice::Verdict verdict = sluice::Verdict::kPass;
};

uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (n & 1) sum += p[n - 1] << 8;
  return sum;
}

// Ethernet + IPv4 + TCP (with a window scale option on SYNs) + payload, valid checksums.
std::vector<uint8_t> frame(bool from_server, uint32_t seq, uint32_t ack, uint8_t flags,
                           const uint8_t* payload, size_t n, bool bad_checksum) {
  const bool syn = flags & sluice::kTcpSyn;
  const size_t tcp_len = syn ? 24 : 20;
  std::vector<uint8_t> f(14 + 20 + tcp_len + n, 0);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  const uint16_t total = static_cast<uint16_t>(20 + tcp_len + n);
  ip[2] = total >> 8;
  ip[3] = total & 0xff;
  ip[8] = 64;
  ip[9] = 6;
  const uint8_t client[4] = {10, 1, 0, 2}, server[4] = {10, 1, 0, 1};
  std::memcpy(ip + 12, from_server ? server : client, 4);
  std::memcpy(ip + 16, from_server ? client : server, 4);
  const uint16_t ip_sum = checksum_fold(sum16(ip, 20));
  ip[10] = ip_sum >> 8;
  ip[11] = ip_sum & 0xff;
  uint8_t* tcp = ip + 20;
  const uint16_t sport = from_server ? 443 : 50000, dport = from_server ? 50000 : 443;
  tcp[0] = sport >> 8, tcp[1] = sport & 0xff, tcp[2] = dport >> 8, tcp[3] = dport & 0xff;
  for (int i = 0; i < 4; ++i) tcp[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  for (int i = 0; i < 4; ++i) tcp[8 + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
  tcp[12] = static_cast<uint8_t>((tcp_len / 4) << 4);
  tcp[13] = flags;
  tcp[14] = 0x01;  // window 256 (scaled by 2^7 after the handshake)
  if (syn) tcp[20] = 1, tcp[21] = 3, tcp[22] = 3, tcp[23] = 7;
  if (n) std::memcpy(tcp + tcp_len, payload, n);
  uint32_t sum = sum16(ip + 12, 8) + 6 + static_cast<uint32_t>(tcp_len + n);
  uint16_t tcp_sum = checksum_fold(sum16(tcp, tcp_len + n, sum));
  if (bad_checksum) tcp_sum ^= 0x5555;
  tcp[16] = tcp_sum >> 8;
  tcp[17] = tcp_sum & 0xff;
  return f;
}

constexpr uint8_t kFlagChoices[8] = {
    sluice::kTcpAck | sluice::kTcpPsh, sluice::kTcpAck, sluice::kTcpAck | sluice::kTcpFin,
    sluice::kTcpRst, sluice::kTcpSyn, sluice::kTcpAck | sluice::kTcpUrg,
    sluice::kTcpAck | sluice::kTcpPsh, sluice::kTcpSyn | sluice::kTcpAck};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static CountingSink* sink = new CountingSink;
  static sluice::FlowInspector* inspector = [] {
    sluice::InspectorConfig config;
    config.flow_capacity = 64;
    config.first_flight_buffers = 8;
    config.first_flight_byte_cap = 4096;  // small, so the cap is within reach
    return new sluice::FlowInspector(config, *sink);
  }();
  static CountingSink* inline_sink = new CountingSink;
  static CheckingEnforcement* enforcement = new CheckingEnforcement;
  static FixedJudge* judge = new FixedJudge;
  static sluice::FlowInspector* inline_inspector = [] {
    sluice::InspectorConfig config;
    config.flow_capacity = 64;
    config.first_flight_buffers = 8;
    config.first_flight_byte_cap = 4096;
    config.enforcement = sluice::EnforcementMode::kInline;
    config.block_response = sluice::BlockResponse::kTlsAlertAndReset;
    config.held_frames = 16;
    config.max_held_per_flow = 6;
    auto* i = new sluice::FlowInspector(config, *inline_sink);
    i->set_enforcement_sink(enforcement);
    i->set_judge(judge);
    return i;
  }();
  sink->verdicts = sink->closes = 0;
  inline_sink->verdicts = inline_sink->closes = 0;
  enforcement->held.assign(1, false);
  enforcement->returned.assign(1, false);
  judge->verdict = size > 0 && (data[0] & 0x80) ? sluice::Verdict::kBlock : sluice::Verdict::kPass;

  uint64_t now = 1'000'000'000;
  auto feed = [&](const std::vector<uint8_t>& f) {
    now += 1'000'000;
    inspector->on_frame(sluice::ByteSpan(f.data(), f.size()), now);
    const uintptr_t handle = enforcement->held.size();
    enforcement->held.push_back(true);  // before the call: a held frame can come back inside it
    enforcement->returned.push_back(false);
    const sluice::FrameRef ref{reinterpret_cast<void*>(handle), 0};
    const sluice::PacketAction a =
        inline_inspector->on_frame(sluice::ByteSpan(f.data(), f.size()), now, &ref);
    if (a != sluice::PacketAction::kHeld) {
      check(!enforcement->returned[handle]);  // not held, so never handed back
      enforcement->held[handle] = false;
    }
  };
  feed(frame(false, kClientIsn, 0, sluice::kTcpSyn, nullptr, 0, false));
  feed(frame(true, kServerIsn, kClientIsn + 1, sluice::kTcpSyn | sluice::kTcpAck, nullptr, 0,
             false));
  feed(frame(false, kClientIsn + 1, kServerIsn + 1, sluice::kTcpAck, nullptr, 0, false));

  size_t pos = 0;
  while (pos + 4 <= size) {
    const uint8_t op = data[pos];
    const uint16_t offset = static_cast<uint16_t>((data[pos + 1] << 8) | data[pos + 2]);
    size_t n = data[pos + 3];
    pos += 4;
    if (n > size - pos) n = size - pos;
    const bool from_server = op & 1;
    const uint8_t flags = kFlagChoices[(op >> 1) & 7];
    const uint32_t seq = (from_server ? kServerIsn : kClientIsn) + 1 + offset;
    const uint32_t ack = from_server ? kClientIsn + 1 + offset : kServerIsn + 1;
    feed(frame(from_server, seq, ack, flags, data + pos, n, op & 0x10));
    pos += n;
    if (op & 0x20) {  // past the time cap
      now += 6'000'000'000ULL;
      inspector->expire(now);
      inline_inspector->expire(now);
    }
  }
  inspector->close_some(now, UINT32_MAX);
  inline_inspector->close_some(now, UINT32_MAX);
  check(inline_inspector->active_flows() == 0);
  check(inline_inspector->held_frames() == 0);
  check(inline_sink->verdicts == inline_sink->closes);
  for (size_t i = 1; i < enforcement->held.size(); ++i)
    check(enforcement->held[i] == enforcement->returned[i]);
  check(inspector->active_flows() == 0);
  check(inspector->held_first_flights() == 0);
  check(sink->verdicts == sink->closes);
  return 0;
}
