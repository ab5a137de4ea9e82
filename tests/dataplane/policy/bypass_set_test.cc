// BypassSet matching, and where a bypass sits in a real compiled policy's decision (after the
// anomaly and incomplete defaults, before every rule), through SnapshotJudge.
#include "dataplane/policy/bypass_set.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>

#include "dataplane/policy/compile_policy.h"
#include "dataplane/policy/snapshot_judge.h"

namespace sluice {
namespace {

IpAddress ip(const char* text) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text, buf) == 1) return IpAddress::from_v4(buf);
  EXPECT_EQ(inet_pton(AF_INET6, text, buf), 1) << text;
  return IpAddress::from_v6(buf);
}

BypassEntry entry(uint64_t id, const char* name, std::vector<const char*> clients = {}) {
  BypassEntry e;
  e.id = id;
  e.name = *parse_name_entry(name);
  for (const char* c : clients) e.clients.push_back(*parse_cidr(c));
  return e;
}

FlowFacts tls(std::string_view name, const char* client = "10.0.1.10") {
  FlowFacts f;
  f.client_ip = ip(client);
  f.server_ip = ip("192.0.2.1");
  f.server_port = 443;
  f.first_flight = FirstFlightKind::kTls;
  f.server_name = name;
  return f;
}

std::string matched(const BypassSet& set, const FlowFacts& facts) {
  const std::string* label = set.match(facts);
  return label == nullptr ? "none" : *label;
}

TEST(BypassSetTest, MatchesOnLabelBoundariesWithTheEntrysScope) {
  auto set = BypassSet::build({entry(1, "exact.example"), entry(2, ".tree.example"),
                               entry(3, "*.below.example")});
  EXPECT_EQ(matched(*set, tls("exact.example")), "bypass:1");
  EXPECT_EQ(matched(*set, tls("a.exact.example")), "none");
  EXPECT_EQ(matched(*set, tls("tree.example")), "bypass:2");
  EXPECT_EQ(matched(*set, tls("a.b.tree.example")), "bypass:2");
  EXPECT_EQ(matched(*set, tls("subtree.example")), "none") << "not a label boundary";
  EXPECT_EQ(matched(*set, tls("below.example")), "none");
  EXPECT_EQ(matched(*set, tls("x.below.example")), "bypass:3");
  EXPECT_EQ(set->size(), 3u);
}

TEST(BypassSetTest, ClientPrefixesLimitAnEntry) {
  auto set = BypassSet::build({entry(4, ".app.example", {"10.0.2.0/24", "2001:db8::/32"})});
  EXPECT_EQ(matched(*set, tls("app.example", "10.0.2.99")), "bypass:4");
  EXPECT_EQ(matched(*set, tls("app.example", "2001:db8::7")), "bypass:4");
  EXPECT_EQ(matched(*set, tls("app.example", "10.0.1.10")), "none");
}

TEST(BypassSetTest, AFingerprintLimitsAnEntryToOneClientApp) {
  BypassEntry pinned = entry(8, "pinned.example");
  pinned.ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
  auto set = BypassSet::build({pinned});
  FlowFacts app = tls("pinned.example");
  app.ja4 = "t13d1516h2_8daaf6152771_e5627efa2ab1";
  FlowFacts browser = tls("pinned.example");
  browser.ja4 = "t13d1517h2_8daaf6152771_b0da82dd1658";
  EXPECT_EQ(matched(*set, app), "bypass:8");
  EXPECT_EQ(matched(*set, browser), "none") << "another client app to the same name";
  EXPECT_EQ(matched(*set, tls("pinned.example")), "none") << "no fingerprint: never this entry";
}

TEST(BypassSetTest, TheEntryGivenFirstNamesTheDecision) {
  auto set = BypassSet::build({entry(5, ".example"), entry(6, "www.shop.example")});
  EXPECT_EQ(matched(*set, tls("www.shop.example")), "bypass:5");
}

TEST(BypassSetTest, OnlyFlowsThatNameTheirServer) {
  auto set = BypassSet::build({entry(7, ".example")});
  FlowFacts f = tls("a.example");
  f.first_flight = FirstFlightKind::kNonTls;
  EXPECT_EQ(matched(*set, f), "none");
  f.first_flight = FirstFlightKind::kHttp;
  EXPECT_EQ(matched(*set, f), "bypass:7");
  EXPECT_EQ(matched(*set, tls("")), "none");
}

class BypassInPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PolicySource s;
    s.generation = 1;
    s.description = "bypass test";
    s.lists = {ListSource{"blocked", ListFormat::kDomains, "blocked.list", ".games.example\n"}};
    s.rules = {RuleSource{"block_games", "t:1", {"blocked"}, {}, {Verdict::kBlock, true}}};
    s.defaults.anomalies = {{AnomalySet{}, {"evasion", {Verdict::kBlock, true}}}};
    s.defaults.anomalies[0].anomalies.add(Anomaly::kOverlapConflict);
    s.defaults.incomplete = {"incomplete", {Verdict::kBlock, true}};
    s.defaults.final_default = {"default", {Verdict::kIntercept, true}};
    auto compiled = compile_policy(s);
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    snapshot_ = *std::move(compiled);
    bypass_ = BypassSet::build({entry(9, ".games.example"), entry(10, "intercepted.example")});
    auto judge = SnapshotJudge::create(*snapshot_, Verdict::kPass, bypass_.get());
    ASSERT_TRUE(judge.ok());
    judge_ = *std::move(judge);
  }
  FlowDecision decide(const FlowFacts& f) {
    FlowDecision d;
    judge_->decide(f, d);
    return d;
  }
  std::unique_ptr<const PolicySnapshot> snapshot_;
  std::unique_ptr<const BypassSet> bypass_;
  std::unique_ptr<SnapshotJudge> judge_;
};

TEST_F(BypassInPolicyTest, ABypassPassesAheadOfEveryRule) {
  const FlowDecision d = decide(tls("www.games.example"));
  EXPECT_EQ(d.decision.action.verdict, Verdict::kPass);
  EXPECT_EQ(d.decision.rule, "bypass");
  EXPECT_EQ(d.decision.list, "bypass:9");
  EXPECT_FALSE(d.intercept_fallback);
  const FlowDecision i = decide(tls("intercepted.example"));
  EXPECT_EQ(i.decision.rule, "bypass") << "an intercept default is bypassed too";
  EXPECT_FALSE(i.intercept_fallback);
}

TEST_F(BypassInPolicyTest, AnomalyAndIncompleteDefaultsStillComeFirst) {
  FlowFacts f = tls("www.games.example");
  f.anomalies.add(Anomaly::kOverlapConflict);
  EXPECT_EQ(decide(f).decision.rule, "evasion") << "a name that may be fake bypasses nothing";
  f = tls("www.games.example");
  f.first_flight = FirstFlightKind::kIncomplete;
  EXPECT_EQ(decide(f).decision.rule, "incomplete");
}

TEST_F(BypassInPolicyTest, OtherNamesFollowThePolicy) {
  EXPECT_EQ(decide(tls("games.example.org")).decision.rule, "default");
  auto plain = SnapshotJudge::create(*snapshot_, Verdict::kPass);
  ASSERT_TRUE(plain.ok());
  FlowDecision d;
  (*plain)->decide(tls("www.games.example"), d);
  EXPECT_EQ(d.decision.rule, "block_games") << "without a bypass set";
}

}  // namespace
}  // namespace sluice
