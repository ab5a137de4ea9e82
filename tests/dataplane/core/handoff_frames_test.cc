// The handoff datagram as the appliance kernel gets it: fragments that reassemble (here with the
// core's own IP reassembler) into one UDP datagram whose checksum holds and whose payload
// decodes to the message that was cut up.
#include "dataplane/core/handoff_frames.h"

#include <gtest/gtest.h>

#include <vector>

#include "dataplane/core/inet_checksum.h"
#include "dataplane/core/ip_reassembly.h"
#include "dataplane/core/packet.h"
#include "interceptor/handoff/handoff_message.h"

namespace sluice {
namespace {

InterceptPath path() {
  InterceptPath p;
  p.enabled = true;
  p.tap_mac = {0x02, 0x7a, 0, 0, 0, 0x01};
  p.appliance_ip = {10, 0, 0, 250};
  p.source_ip = {169, 254, 77, 1};
  p.port = 7301;
  return p;
}

std::vector<std::vector<uint8_t>> cut(const std::vector<uint8_t>& message, uint16_t id) {
  std::vector<std::vector<uint8_t>> frames;
  const uint16_t n = emit_handoff_frames(path(), id, ByteSpan(message), [&](ByteSpan f) {
    frames.emplace_back(f.begin(), f.end());
    return true;
  });
  EXPECT_EQ(n, frames.size());
  return frames;
}

// Reassembles the frames as a receiver would; returns the UDP datagram (header and payload).
std::vector<uint8_t> reassemble(const std::vector<std::vector<uint8_t>>& frames) {
  IpReassembler r{IpReassemblyConfig{4, 65535, 64, 1'000'000'000}};
  WorkerStats stats;
  for (const auto& f : frames) {
    ParsedPacket p;
    const ParseResult res = parse_frame(ByteSpan(f), ParseOptions{}, p);
    EXPECT_EQ(p.dst, IpAddress::from_v4(path().appliance_ip.data()));
    if (res.status == ParseStatus::kOk) return std::vector<uint8_t>(p.l4.begin(), p.l4.end());
    EXPECT_EQ(res.status, ParseStatus::kFragment);
    EXPECT_LE(f.size(), kMaxHandoffFrame) << "every fragment fits the TAP's MTU";
    ByteSpan l4;
    if (r.add(p, 1, stats, l4) == IpReassembler::Result::kComplete) {
      // The UDP checksum covers the whole datagram.
      uint32_t sum = pseudo_header_sum(p.src, p.dst, false, 17, static_cast<uint32_t>(l4.size()));
      EXPECT_EQ(static_cast<uint16_t>(~checksum_add(sum, l4)), 0) << "UDP checksum";
      return std::vector<uint8_t>(l4.begin(), l4.end());
    }
  }
  ADD_FAILURE() << "the fragments never completed a datagram";
  return {};
}

handoff::Handoff sample(const std::vector<uint8_t>& hello) {
  handoff::Handoff h;
  h.client.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 1, 10};
  h.server.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  h.client.port = 41000;
  h.server.port = 443;
  h.client_isn = 1;
  h.server_isn = 2;
  h.hello = hello;
  return h;
}

void expect_round_trip(size_t hello_bytes, size_t want_frames) {
  std::vector<uint8_t> hello(hello_bytes);
  for (size_t i = 0; i < hello.size(); ++i) hello[i] = static_cast<uint8_t>(i * 7);
  std::vector<uint8_t> message(handoff::kMaxMessageBytes);
  message.resize(handoff::encode_handoff(sample(hello), message.data(), message.size()));
  const auto frames = cut(message, 0x1234);
  EXPECT_EQ(frames.size(), want_frames);
  const std::vector<uint8_t> udp = reassemble(frames);
  ASSERT_GE(udp.size(), 8u);
  EXPECT_EQ(load_be16(udp.data() + 2), 7301);
  absl::StatusOr<handoff::Handoff> d =
      handoff::decode_handoff(std::span<const uint8_t>(udp.data() + 8, udp.size() - 8));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(std::vector<uint8_t>(d->hello.begin(), d->hello.end()), hello);
}

TEST(HandoffFrames, ASmallHelloIsOneUnfragmentedDatagram) { expect_round_trip(517, 1); }

TEST(HandoffFrames, APostQuantumHelloTakesTwoFragments) { expect_round_trip(1800, 2); }

TEST(HandoffFrames, AHelloAtTheByteCapReassembles) { expect_round_trip(16384, 12); }

TEST(HandoffFrames, ARefusedFragmentEndsTheDatagram) {
  std::vector<uint8_t> message(3000, 0x16);
  int calls = 0;
  EXPECT_EQ(emit_handoff_frames(path(), 1, ByteSpan(message),
                                [&](ByteSpan) { return ++calls < 2; }),
            0);
  EXPECT_EQ(calls, 2) << "nothing is emitted after a refusal";
}

}  // namespace
}  // namespace sluice
