// TopNames: flows counted at verdict time and bytes at close, windows of whole buckets, old
// buckets forgotten, the per-bucket name bound folded into "other", both orders.
#include "control/top_names.h"

#include <gtest/gtest.h>

#include <cstring>

namespace sluice {
namespace {

AuditEvent event(AuditKind kind, const char* sni, Verdict verdict = Verdict::kPass,
                 uint64_t bytes = 0) {
  AuditEvent e;
  e.kind = kind;
  e.first_flight = FirstFlightKind::kTls;
  e.verdict = verdict;
  e.hello.sni_length = static_cast<uint16_t>(std::strlen(sni));
  std::memcpy(e.hello.sni.data(), sni, e.hello.sni_length);
  e.bytes_to_server = bytes / 4;
  e.bytes_to_client = bytes - bytes / 4;
  return e;
}

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);  // a whole minute

TEST(TopNamesTest, FlowsAtVerdictBytesAtCloseBothOrders) {
  TopNames top;
  for (int i = 0; i < 3; ++i) top.add_verdict(event(AuditKind::kVerdict, "a.example"), kStart);
  top.add_verdict(event(AuditKind::kVerdict, "b.example", Verdict::kBlock), kStart);
  top.add_close("b.example", 9000, kStart);
  top.add_close("a.example", 100, kStart);
  AuditEvent nameless = event(AuditKind::kVerdict, "");
  top.add_verdict(nameless, kStart);

  TopNamesResult r = top.top(absl::Minutes(5), 10, TopNamesOrder::kFlows, kStart);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].name, "a.example");
  EXPECT_EQ(r.rows[0].flows, 3u);
  EXPECT_EQ(r.rows[0].bytes, 100u);
  EXPECT_EQ(r.rows[1].name, "b.example");
  EXPECT_EQ(r.rows[1].blocked, 1u);
  EXPECT_EQ(r.flows_without_name, 1u);
  EXPECT_EQ(r.names, 2u);
  EXPECT_EQ(r.window, absl::Minutes(5));

  r = top.top(absl::Minutes(5), 1, TopNamesOrder::kBytes, kStart);
  ASSERT_EQ(r.rows.size(), 1u) << "limit";
  EXPECT_EQ(r.rows[0].name, "b.example");
  EXPECT_EQ(r.rows[0].bytes, 9000u);
}

TEST(TopNamesTest, WindowsCoverWholeBucketsAndForgetOldOnes) {
  TopNames top;
  top.add_verdict(event(AuditKind::kVerdict, "old.example"), kStart);
  top.add_verdict(event(AuditKind::kVerdict, "new.example"), kStart + absl::Minutes(10));
  const absl::Time now = kStart + absl::Minutes(10) + absl::Seconds(30);
  TopNamesResult r = top.top(absl::Seconds(30), 10, TopNamesOrder::kFlows, now);
  EXPECT_EQ(r.window, absl::Minutes(1)) << "rounded up to a bucket";
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].name, "new.example");
  EXPECT_EQ(top.top(absl::Minutes(11), 10, TopNamesOrder::kFlows, now).rows.size(), 2u);
  r = top.top(absl::Hours(5), 10, TopNamesOrder::kFlows, now);
  EXPECT_EQ(r.window, absl::Hours(1)) << "capped at the longest window";

  // An hour later the old bucket's slot is reused and its counts are gone.
  const absl::Time later = kStart + absl::Minutes(60);
  top.add_verdict(event(AuditKind::kVerdict, "later.example"), later);
  r = top.top(absl::Hours(1), 10, TopNamesOrder::kFlows, later);
  for (const TopNameRow& row : r.rows) EXPECT_NE(row.name, "old.example");
}

TEST(TopNamesTest, NamesPastTheBoundCountAsOther) {
  TopNames top(TopNamesOptions{absl::Minutes(1), 5, 2});
  for (const char* n : {"a.example", "b.example", "c.example", "d.example", "a.example"})
    top.add_verdict(event(AuditKind::kVerdict, n), kStart);
  top.add_close("d.example", 40, kStart);
  const TopNamesResult r = top.top(absl::Minutes(1), 10, TopNamesOrder::kFlows, kStart);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].flows, 2u);
  EXPECT_EQ(r.other.flows, 2u);
  EXPECT_EQ(r.other.bytes, 40u);
}

}  // namespace
}  // namespace sluice
