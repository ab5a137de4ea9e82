#include "control/syslog_message.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "control/audit_json.h"

namespace sluice {
namespace {

AuditEvent block_verdict() {
  AuditEvent e;
  e.kind = AuditKind::kVerdict;
  e.flow_id = 77;
  e.event_ns = 1'795'790'955'378'073'123ull;  // 2026-11-27T14:49:15.378073Z
  e.first_flight = FirstFlightKind::kTls;
  e.verdict = Verdict::kBlock;
  std::memcpy(e.rule.data(), "blocklist", 9);
  const char sni[] = "www.example.com";
  std::memcpy(e.hello.sni.data(), sni, sizeof(sni) - 1);
  e.hello.sni_length = sizeof(sni) - 1;
  return e;
}

SyslogHeader header() {
  SyslogHeader h;
  h.facility = 16;
  h.hostname = "gw1.school.example";
  h.procid = 4242;
  return h;
}

TEST(SyslogMessageTest, FramesOneRfc5424MessageWithTheJsonRecordAsMsg) {
  const AuditEvent e = block_verdict();
  std::string json;
  append_event_record(json, e);
  std::string out = "previous";
  std::string scratch;
  append_syslog_frame(out, scratch, header(), 9, e, json);

  const std::string message =
      "<132>1 2026-11-27T14:49:15.378073Z gw1.school.example sluice 4242 verdict "
      "[meta sequenceId=\"9\"][sluice@32473 flow_id=\"77\" verdict=\"block\" rule=\"blocklist\" "
      "sni=\"www.example.com\"] " +
      json;
  EXPECT_EQ(out, "previous" + std::to_string(message.size()) + " " + message);
}

TEST(SyslogMessageTest, CloseIsInfoWithoutRuleOrName) {
  AuditEvent e = block_verdict();
  e.kind = AuditKind::kClose;
  std::string out;
  std::string scratch;
  append_syslog_frame(out, scratch, header(), 10, e, "{}");
  const std::string message =
      "<134>1 2026-11-27T14:49:15.378073Z gw1.school.example sluice 4242 close "
      "[meta sequenceId=\"10\"][sluice@32473 flow_id=\"77\" verdict=\"block\"] {}";
  EXPECT_EQ(out, std::to_string(message.size()) + " " + message);
}

TEST(SyslogMessageTest, NilValuesWhenUnknown) {
  AuditEvent e = block_verdict();
  e.event_ns = 0;
  SyslogHeader h;  // no hostname, no procid
  h.facility = 1;
  std::string out;
  std::string scratch;
  append_syslog_frame(out, scratch, h, 1, e, "{}");
  EXPECT_NE(out.find(" <12>1 - - sluice - verdict [meta sequenceId=\"1\"]"), std::string::npos)
      << out;
}

TEST(SyslogMessageTest, SeverityFollowsTheVerdict) {
  AuditEvent e;
  e.kind = AuditKind::kVerdict;
  e.verdict = Verdict::kBlock;
  EXPECT_EQ(syslog_severity(e), 4);
  e.verdict = Verdict::kIntercept;
  EXPECT_EQ(syslog_severity(e), 5);
  e.verdict = Verdict::kPass;
  EXPECT_EQ(syslog_severity(e), 6);
  e.kind = AuditKind::kClose;
  e.verdict = Verdict::kBlock;
  EXPECT_EQ(syslog_severity(e), 6);
}

TEST(SyslogMessageTest, EscapesSdParamValues) {
  std::string out;
  append_sd_param_value(out, "a\"b\\c]d[e=f");
  EXPECT_EQ(out, "a\\\"b\\\\c\\]d[e=f");
}

TEST(SyslogMessageTest, SdParamValuesStayOneLineOfUtf8) {
  std::string out;
  append_sd_param_value(out, "x\ny\x01z\x7f" "caf\xc3\xa9" "\xff\xc3");
  EXPECT_EQ(out, "x\xef\xbf\xbdy\xef\xbf\xbdz\xef\xbf\xbd" "caf\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(SyslogMessageTest, HostileServerNameCannotBreakTheStructuredData) {
  AuditEvent e = block_verdict();
  const char sni[] = "evil\"] [meta sequenceId=\"1\"]";
  std::memcpy(e.hello.sni.data(), sni, sizeof(sni) - 1);
  e.hello.sni_length = sizeof(sni) - 1;
  std::string out;
  std::string scratch;
  append_syslog_frame(out, scratch, header(), 5, e, "{}");
  EXPECT_NE(out.find("sni=\"evil\\\"\\] [meta sequenceId=\\\"1\\\"\\]\"] {}"), std::string::npos)
      << out;
}

TEST(SyslogMessageTest, FacilityNamesAndHostnames) {
  EXPECT_EQ(syslog_facility_from_name("kern"), 0);
  EXPECT_EQ(syslog_facility_from_name("authpriv"), 10);
  EXPECT_EQ(syslog_facility_from_name("local0"), 16);
  EXPECT_EQ(syslog_facility_from_name("local7"), 23);
  EXPECT_FALSE(syslog_facility_from_name("local8").has_value());
  EXPECT_FALSE(syslog_facility_from_name("LOCAL0").has_value());
  EXPECT_TRUE(valid_syslog_hostname("gw1.school.example"));
  EXPECT_TRUE(valid_syslog_hostname("2001:db8::1"));
  EXPECT_FALSE(valid_syslog_hostname(""));
  EXPECT_FALSE(valid_syslog_hostname("two words"));
  EXPECT_FALSE(valid_syslog_hostname(std::string(256, 'a')));
  EXPECT_FALSE(valid_syslog_hostname("caf\xc3\xa9"));
}

}  // namespace
}  // namespace sluice
