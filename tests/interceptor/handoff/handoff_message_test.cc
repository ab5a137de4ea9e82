#include "interceptor/handoff/handoff_message.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::handoff {
namespace {

Handoff sample(const std::vector<uint8_t>& hello) {
  Handoff h;
  h.client.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 1, 10};
  h.server.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  h.client.port = 40000;
  h.server.port = 443;
  h.client_isn = 0xfffffff0;
  h.server_isn = 12345;
  h.client_mss = 1460;
  h.client_wscale = 7;
  h.server_wscale = -1;
  h.sack_permitted = true;
  h.timestamps = true;
  h.server_tsval = 777;
  h.client_tsval = 888;
  h.client_window = 64240 << 7;
  h.server_window = 65160;
  h.flow_id = (uint64_t{1} << 48) | 42;
  h.hello = hello;
  return h;
}

TEST(HandoffMessage, RoundTripsEveryField) {
  const std::vector<uint8_t> hello = {0x16, 3, 1, 0, 4, 1, 0, 0, 0};
  std::vector<uint8_t> buf(kMaxMessageBytes);
  const size_t n = encode_handoff(sample(hello), buf.data(), buf.size());
  ASSERT_EQ(n, kHandoffHeaderBytes + hello.size());
  absl::StatusOr<Handoff> d = decode_handoff(std::span<const uint8_t>(buf.data(), n));
  ASSERT_TRUE(d.ok()) << d.status();
  const Handoff want = sample(hello);
  EXPECT_EQ(d->client.bytes, want.client.bytes);
  EXPECT_EQ(d->server.bytes, want.server.bytes);
  EXPECT_EQ(d->client.port, 40000);
  EXPECT_EQ(d->server.port, 443);
  EXPECT_EQ(d->client_isn, 0xfffffff0u);
  EXPECT_EQ(d->server_isn, 12345u);
  EXPECT_EQ(d->client_mss, 1460);
  EXPECT_EQ(d->client_wscale, 7);
  EXPECT_EQ(d->server_wscale, -1);
  EXPECT_TRUE(d->sack_permitted);
  EXPECT_TRUE(d->timestamps);
  EXPECT_EQ(d->server_tsval, 777u);
  EXPECT_EQ(d->client_tsval, 888u);
  EXPECT_EQ(d->client_window, 64240u << 7);
  EXPECT_EQ(d->server_window, 65160u);
  EXPECT_EQ(d->flow_id, want.flow_id);
  EXPECT_EQ(std::vector<uint8_t>(d->hello.begin(), d->hello.end()), hello);
}

TEST(HandoffMessage, EncodeRefusesWhatDoesNotFit) {
  const std::vector<uint8_t> hello(100, 0x16);
  std::vector<uint8_t> buf(kHandoffHeaderBytes + 99);
  EXPECT_EQ(encode_handoff(sample(hello), buf.data(), buf.size()), 0u);
}

TEST(HandoffMessage, HeartbeatIsItsOwnType) {
  uint8_t buf[kPrefixBytes];
  ASSERT_EQ(encode_heartbeat(buf, sizeof(buf)), kPrefixBytes);
  absl::StatusOr<MessageType> t = message_type(buf);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, MessageType::kHeartbeat);
  EXPECT_EQ(decode_handoff(buf).status().message(), "handoff message: a heartbeat, not a handoff");
}

TEST(HandoffMessage, RefusesDamagedMessagesWithAReason) {
  const std::vector<uint8_t> hello = {1, 2, 3};
  std::vector<uint8_t> good(kMaxMessageBytes);
  good.resize(encode_handoff(sample(hello), good.data(), good.size()));
  auto error_of = [](std::vector<uint8_t> m) {
    return std::string(decode_handoff(m).status().message());
  };
  EXPECT_EQ(error_of({1, 2, 3}), "handoff message: 3 bytes, shorter than its 12-byte prefix");
  std::vector<uint8_t> m = good;
  m[0] = 'X';
  EXPECT_EQ(error_of(m), "handoff message: no SLHO magic (not from sluice)");
  m = good;
  m[4] = 2;
  EXPECT_EQ(error_of(m), "handoff message: version 2, this build reads version 1");
  m = good;
  m.pop_back();
  EXPECT_EQ(error_of(m), "handoff message: says 91 bytes, the datagram has 90");
  m = good;
  m[7] = 40;  // header length 40 < 88
  EXPECT_EQ(error_of(m), "handoff message: header of 40 bytes, a handoff needs 88");
  m = good;
  m[12] = 5;
  EXPECT_EQ(error_of(m), "handoff message: address family 5");
  m = good;
  m[14] = 15;
  EXPECT_EQ(error_of(m), "handoff message: window scale outside -1..14");
  m = good;
  m[12] = 6;  // IPv4-mapped addresses under family 6
  EXPECT_EQ(error_of(m), "handoff message: addresses do not match the family");
  m = good;
  m[48] = m[49] = 0;
  EXPECT_EQ(error_of(m), "handoff message: port 0");
}

TEST(HandoffMessage, ALongerHeaderFromALaterMinorChangeIsSkipped) {
  // A later encoder may append header fields; the hello starts where the header says.
  const std::vector<uint8_t> hello = {9, 9};
  std::vector<uint8_t> m(kMaxMessageBytes);
  m.resize(encode_handoff(sample(hello), m.data(), m.size()));
  m.insert(m.begin() + kHandoffHeaderBytes, {0xaa, 0xbb, 0xcc, 0xdd});
  m[7] = static_cast<uint8_t>(kHandoffHeaderBytes + 4);
  m[11] = static_cast<uint8_t>(m.size());
  absl::StatusOr<Handoff> d = decode_handoff(m);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(std::vector<uint8_t>(d->hello.begin(), d->hello.end()), hello);
}

}  // namespace
}  // namespace sluice::handoff
