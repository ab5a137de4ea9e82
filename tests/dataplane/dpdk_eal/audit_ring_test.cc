// AuditRing on a real DPDK ring: events come out as they went in, though only the bytes that
// carry anything are copied (AuditEvent::wire_size), and a slot's earlier, longer event never
// shows through a later one.
#include "dataplane/dpdk/audit_ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace sluice {
namespace {

void set(std::array<char, kMaxSniLength + 1>& field, uint16_t& length, std::string_view text) {
  std::memcpy(field.data(), text.data(), text.size());
  length = static_cast<uint16_t>(text.size());
}

AuditEvent verdict(uint64_t id, std::string_view sni) {
  AuditEvent e;
  e.kind = AuditKind::kVerdict;
  e.flow_id = id;
  e.first_flight = FirstFlightKind::kTls;
  e.verdict = Verdict::kBlock;
  e.audit = false;
  std::memcpy(e.rule.data(), "rule-a", 6);
  std::memcpy(e.list.data(), "list-a", 6);
  set(e.hello.sni, e.hello.sni_length, sni);
  std::memcpy(e.hello.ja4.data(), "t13d1516h2_8daaf6152771_e5627efa2ab1", 36);
  e.hello.anomalies.add(Anomaly::kSniInvalid);
  e.packets_to_server = 3;
  return e;
}

AuditEvent close_of(uint64_t id) {
  AuditEvent e;
  e.kind = AuditKind::kClose;
  e.flow_id = id;
  e.first_flight = FirstFlightKind::kTls;
  e.verdict = Verdict::kBlock;
  e.audit = false;
  e.close_reason = CloseReason::kRst;
  e.bytes_to_client = 12345;
  return e;
}

void expect_same(const AuditEvent& got, const AuditEvent& want) {
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.flow_id, want.flow_id);
  EXPECT_EQ(got.first_flight, want.first_flight);
  EXPECT_EQ(got.verdict, want.verdict);
  EXPECT_EQ(got.audit, want.audit);
  EXPECT_EQ(got.close_reason, want.close_reason);
  EXPECT_EQ(got.packets_to_server, want.packets_to_server);
  EXPECT_EQ(got.bytes_to_client, want.bytes_to_client);
  EXPECT_EQ(got.rule_view(), want.rule_view());
  EXPECT_EQ(got.list_view(), want.list_view());
  EXPECT_EQ(got.server_name(), want.server_name());
  EXPECT_EQ(got.http_host_view(), want.http_host_view());
  EXPECT_EQ(got.hello.ja4_view(), want.hello.ja4_view());
  EXPECT_EQ(got.hello.anomalies.bits(), want.hello.anomalies.bits());
}

TEST(AuditRing, EventsComeOutAsTheyWentInAndSlotsLeaveNothingBehind) {
  // Four slots, three usable: event k is written into slot k % 4, over event k - 4.
  absl::StatusOr<std::unique_ptr<AuditRing>> made = AuditRing::create("audit_ring_test", 4);
  ASSERT_TRUE(made.ok()) << made.status();
  AuditRing& ring = **made;

  AuditEvent http = verdict(2, "");
  http.first_flight = FirstFlightKind::kHttp;
  set(http.http_host, http.http_host_length, "plain.example");
  const AuditEvent events[] = {
      verdict(1, std::string(200, 'x')), http, close_of(1),
      verdict(3, "short.example"), close_of(2) /* over the long name */,
      verdict(5, "a.example") /* over the Host header */,
      close_of(3), verdict(6, "b.example") /* over a shorter name's slot */,
      verdict(7, "cc.example") /* over a close */};
  AuditEvent out[8];
  for (size_t k = 0; k < std::size(events); k += 3) {
    for (size_t i = k; i < k + 3; ++i) ASSERT_TRUE(ring.publish(events[i])) << i;
    if (k == 0) {
      EXPECT_FALSE(ring.publish(close_of(9))) << "a full ring refuses";
    }
    ASSERT_EQ(ring.drain(out, 8), 3u);
    for (size_t i = 0; i < 3; ++i) {
      SCOPED_TRACE(k + i);
      expect_same(out[i], events[k + i]);
      // Past what the event carries, a drained event holds default values: nothing of the slot's
      // earlier event (its name's tail, its Host header, a verdict's fields under a close).
      const AuditEvent& e = out[i];
      const auto zero = [](char c) { return c == '\0'; };
      EXPECT_TRUE(std::all_of(e.hello.sni.begin() + e.hello.sni_length, e.hello.sni.end(), zero));
      EXPECT_TRUE(std::all_of(e.http_host.begin() + e.http_host_length, e.http_host.end(), zero));
      if (e.kind == AuditKind::kClose) {
        EXPECT_EQ(e.rule_view(), "");
        EXPECT_EQ(e.list_view(), "");
        EXPECT_EQ(e.hello.ja4_view(), "");
        EXPECT_EQ(e.hello.anomalies.bits(), 0u);
      }
    }
  }
  EXPECT_LE(close_of(1).wire_size(), 128u) << "a close event is two cache lines";
  EXPECT_LT(verdict(3, "short.example").wire_size(), sizeof(AuditEvent) / 2);
}

}  // namespace
}  // namespace sluice
