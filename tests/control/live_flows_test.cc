// LiveFlows: open flows tracked from verdict to close, filtered by client prefix, name (list
// syntax) and verdict, newest first, bounded with the forgotten ones counted.
#include "control/live_flows.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>

namespace sluice {
namespace {

IpAddress v4(const char* text) {
  uint8_t b[4];
  EXPECT_EQ(inet_pton(AF_INET, text, b), 1);
  return IpAddress::from_v4(b);
}

AuditEvent event(AuditKind kind, uint64_t id, const char* client, const char* sni,
                 Verdict verdict = Verdict::kPass) {
  AuditEvent e;
  e.kind = kind;
  e.flow_id = id;
  e.client = {v4(client), 40000};
  e.server = {v4("192.0.2.1"), 443};
  e.first_flight = FirstFlightKind::kTls;
  e.verdict = verdict;
  e.hello.sni_length = static_cast<uint16_t>(std::strlen(sni));
  std::memcpy(e.hello.sni.data(), sni, e.hello.sni_length);
  std::strcpy(e.rule.data(), "some_rule");
  return e;
}

std::vector<uint64_t> ids(const LiveFlowSample& s) {
  std::vector<uint64_t> out;
  for (const LiveFlow& f : s.flows) out.push_back(f.flow_id);
  return out;
}

TEST(LiveFlowsTest, OpenFromVerdictToCloseNewestFirst) {
  LiveFlows flows;
  flows.add_verdict(event(AuditKind::kVerdict, 1, "10.0.1.10", "a.example"));
  flows.add_verdict(event(AuditKind::kVerdict, 2, "10.0.2.10", "www.b.example", Verdict::kBlock));
  flows.add_verdict(event(AuditKind::kVerdict, 3, "10.0.1.11", "b.example"));
  LiveFlowSample s = flows.sample({});
  EXPECT_EQ(ids(s), (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_EQ(s.tracked, 3u);
  EXPECT_EQ(s.flows[1].server_name, "www.b.example");
  EXPECT_EQ(s.flows[1].rule, "some_rule");
  // A close event names nothing (the worker's event is reused); the flow's name comes back from
  // its verdict, for the top names' bytes.
  EXPECT_EQ(flows.add_close(event(AuditKind::kClose, 2, "10.0.2.10", "")), "www.b.example");
  EXPECT_EQ(ids(flows.sample({})), (std::vector<uint64_t>{3, 1}));
  EXPECT_EQ(flows.add_close(event(AuditKind::kClose, 99, "10.0.2.10", "")), "");
}

TEST(LiveFlowsTest, Filters) {
  LiveFlows flows;
  flows.add_verdict(event(AuditKind::kVerdict, 1, "10.0.1.10", "a.example"));
  flows.add_verdict(event(AuditKind::kVerdict, 2, "10.0.2.10", "www.b.example", Verdict::kBlock));
  flows.add_verdict(event(AuditKind::kVerdict, 3, "10.0.1.11", "b.example"));
  flows.add_verdict(event(AuditKind::kVerdict, 4, "10.0.1.12", "notb.example"));
  LiveFlowQuery q;
  q.client = *parse_cidr("10.0.1.0/24");
  EXPECT_EQ(ids(flows.sample(q)), (std::vector<uint64_t>{4, 3, 1}));
  q = {};
  q.name = *parse_name_entry(".b.example");
  EXPECT_EQ(ids(flows.sample(q)), (std::vector<uint64_t>{3, 2})) << "label boundaries";
  q.name = *parse_name_entry("b.example");
  EXPECT_EQ(ids(flows.sample(q)), (std::vector<uint64_t>{3}));
  q = {};
  q.verdict = Verdict::kBlock;
  EXPECT_EQ(ids(flows.sample(q)), (std::vector<uint64_t>{2}));
  q = {};
  q.limit = 2;
  const LiveFlowSample s = flows.sample(q);
  EXPECT_EQ(ids(s), (std::vector<uint64_t>{4, 3}));
  EXPECT_EQ(s.matched, 4u);
}

TEST(LiveFlowsTest, BoundedWithTheForgottenCounted) {
  LiveFlows flows(3);
  for (uint64_t id = 1; id <= 5; ++id)
    flows.add_verdict(event(AuditKind::kVerdict, id, "10.0.1.10", "a.example"));
  LiveFlowSample s = flows.sample({});
  EXPECT_EQ(ids(s), (std::vector<uint64_t>{5, 4, 3}));
  EXPECT_EQ(s.forgotten, 2u);
  flows.add_close(event(AuditKind::kClose, 1, "10.0.1.10", "a.example"));
  EXPECT_EQ(flows.sample({}).forgotten, 1u) << "a forgotten flow closed";
  for (uint64_t id = 6; id <= 5000; ++id) {
    flows.add_verdict(event(AuditKind::kVerdict, id, "10.0.1.10", "a.example"));
    flows.add_close(event(AuditKind::kClose, id, "10.0.1.10", "a.example"));
  }
  EXPECT_EQ(flows.sample({}).tracked, 2u) << "closed flows leave no trace";
}

}  // namespace
}  // namespace sluice
