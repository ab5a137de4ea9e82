#include "control/audit_json.h"

#include <gtest/gtest.h>

#include <string>

#include "control/json_writer.h"

namespace sluice {
namespace {

TEST(JsonWriterTest, EscapesControlQuotesAndInvalidUtf8) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("s", std::string_view("a\"b\\c\n\x01\x7f\0", 9));  // with a NUL
  w.field("u", std::string_view("caf\xc3\xa9", 5));           // valid UTF-8 kept
  w.field("bad", std::string_view("x\xff\xc3", 3));           // invalid bytes replaced
  w.field("n", uint64_t{42});
  w.field("t", true);
  w.field_null("z");
  w.begin_array("list");
  w.element("one");
  w.element("two");
  w.end_array();
  w.end_object();
  EXPECT_EQ(out,
            "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\\u007f\\u0000\",\"u\":\"caf\xc3\xa9\",\"bad\":\"x\\ufffd"
            "\\ufffd\",\"n\":42,\"t\":true,\"z\":null,\"list\":[\"one\",\"two\"]}");
}

TEST(AuditJsonTest, Rfc3339WithMicroseconds) {
  std::string out;
  append_rfc3339_micros(out, 1'795'790'955'378'073'123ull);
  EXPECT_EQ(out, "2026-11-27T14:49:15.378073Z");
}

TEST(AuditJsonTest, FlowRecordHasEveryField) {
  AuditEvent v;
  v.kind = AuditKind::kVerdict;
  v.first_flight = FirstFlightKind::kTls;
  const char sni[] = "www.example.com";
  std::memcpy(v.hello.sni.data(), sni, sizeof(sni) - 1);
  v.hello.sni_length = sizeof(sni) - 1;
  v.hello.versions[0] = 0x0304;
  v.hello.version_count = 1;
  std::memcpy(v.rule.data(), "no_policy", 9);
  AuditEvent c = v;
  c.kind = AuditKind::kClose;
  c.start_ns = 1'000'000'000;
  c.last_packet_ns = 1'250'000'000;
  c.transport = 6;
  c.close_reason = CloseReason::kFin;
  c.anomalies.add(Anomaly::kOverlapConflict);
  std::string judgement;
  append_judgement(judgement, v);
  std::string out;
  append_flow_record(out, judgement, c);
  for (const char* field : {"\"ts\":", "\"client_ip\":", "\"server_port\":", "\"transport\":\"tcp\"",
                            "\"first_flight\":\"tls\"", "\"sni\":\"www.example.com\"",
                            "\"tls_versions\":[\"TLSv1.3\"]", "\"ech\":false", "\"ja4\":null",
                            "\"anomalies\":[\"overlap_conflict\"]", "\"verdict\":\"pass\"",
                            "\"rule\":\"no_policy\"", "\"list\":null",
                            "\"duration_ms\":250.000", "\"close_reason\":\"fin\""}) {
    EXPECT_NE(out.find(field), std::string::npos) << field << " in " << out;
  }
  EXPECT_EQ(out.front(), '{');
  EXPECT_EQ(out.back(), '}');
}

TEST(AuditJsonTest, QuicFlowCarriesItsVersionAndHello) {
  AuditEvent v;
  v.kind = AuditKind::kVerdict;
  v.first_flight = FirstFlightKind::kQuic;
  v.transport = 17;
  v.quic_version = 0x6b3343cf;
  const char sni[] = "h3.example";
  std::memcpy(v.hello.sni.data(), sni, sizeof(sni) - 1);
  v.hello.sni_length = sizeof(sni) - 1;
  v.hello.alpn = {2, 'h', '3'};
  v.hello.alpn_length = 3;
  std::memcpy(v.hello.ja4.data(), "q13d0313h3_55b375c5d22e_d8d1e9ba8c4a", 36);
  std::memcpy(v.rule.data(), "no_policy", 9);
  std::string out;
  append_event_record(out, v);
  for (const char* field : {"\"transport\":\"udp\"", "\"quic_version\":\"v2\"",
                            "\"first_flight\":\"quic\"", "\"sni\":\"h3.example\"",
                            "\"alpn\":[\"h3\"]", "\"ja4\":\"q13d0313h3_"}) {
    EXPECT_NE(out.find(field), std::string::npos) << field << " in " << out;
  }
  v.quic_version = 0xff00001d;
  out.clear();
  append_event_record(out, v);
  EXPECT_NE(out.find("\"quic_version\":\"draft-29\""), std::string::npos) << out;
  v.quic_version = 0;
  v.transport = 6;
  out.clear();
  append_event_record(out, v);
  EXPECT_EQ(out.find("quic_version"), std::string::npos) << "only QUIC flows have one";
}

TEST(AuditJsonTest, RuleAndListOfAPolicyDecision) {
  AuditEvent v;
  v.kind = AuditKind::kVerdict;
  v.verdict = Verdict::kBlock;
  std::memcpy(v.rule.data(), "block_video", 11);
  std::memcpy(v.list.data(), "video.domains", 13);
  std::string judgement;
  append_judgement(judgement, v);
  EXPECT_NE(judgement.find("\"verdict\":\"block\",\"rule\":\"block_video\",\"list\":\"video.domains\""),
            std::string::npos)
      << judgement;
  std::string event;
  append_event_record(event, v);
  EXPECT_NE(event.find("\"rule\":\"block_video\",\"list\":\"video.domains\""), std::string::npos)
      << event;
}

}  // namespace
}  // namespace sluice
