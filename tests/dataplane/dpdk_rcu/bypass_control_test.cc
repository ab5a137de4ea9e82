// BypassControl: the bypass table and the workers' judges stay in step — saved entries go out
// with the first policy after a restart, adds and removals are published at once, expiry is
// published by tick(), and a refused change publishes nothing.
#include "dataplane/app/bypass_control.h"

#include <gtest/gtest.h>

#include "tests/dataplane/dpdk_rcu/test_policy.h"

namespace sluice {
namespace {

std::string_view rule_for(PolicyPublisher& pub, std::string_view name) {
  FlowDecision d;
  pub.judge_for(0)->decide(test::tls_flow(name), d);
  return d.decision.rule;
}

class BypassControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.state_file = dir_.path() + "/state/bypass.json";  // the directory is created
    config_.max_entries = 10;
  }
  std::unique_ptr<PolicyPublisher> publisher() {
    auto pub = PolicyPublisher::create(1);
    EXPECT_TRUE(pub.ok());
    return *std::move(pub);
  }
  static BypassRequest request(std::string name) {
    BypassRequest r;
    r.name = std::move(name);
    r.reason = "test";
    return r;
  }

  test::TempDir dir_;
  BypassConfig config_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(BypassControlTest, ChangesReachTheJudgesAndSurviveARestart) {
  {
    auto pub = publisher();
    auto control = BypassControl::open(config_, *pub, now_);
    ASSERT_TRUE(control.ok()) << control.status();
    ASSERT_TRUE(pub->publish(test::compile_generation(dir_.path(), 1), Verdict::kPass, "p").ok());
    EXPECT_EQ(rule_for(*pub, "www.gen1.example"), "gen_1");

    auto added = (*control)->add(request(".gen1.example"), now_);
    ASSERT_TRUE(added.ok()) << added.status();
    EXPECT_EQ(rule_for(*pub, "www.gen1.example"), "bypass");
    EXPECT_EQ(pub->current().bypass_entries, 1u);

    EXPECT_FALSE((*control)->add(request("bad name"), now_).ok());
    EXPECT_EQ(pub->current().bypass_entries, 1u) << "a refused change publishes nothing";
  }
  // A restart: the saved entry is in force with the first policy.
  auto pub = publisher();
  auto control = BypassControl::open(config_, *pub, now_);
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_TRUE(pub->publish(test::compile_generation(dir_.path(), 1), Verdict::kPass, "p").ok());
  EXPECT_EQ(rule_for(*pub, "a.gen1.example"), "bypass");

  ASSERT_TRUE((*control)->remove(1).ok());
  EXPECT_EQ(rule_for(*pub, "a.gen1.example"), "gen_1");
  EXPECT_EQ((*control)->remove(1).code(), absl::StatusCode::kNotFound);
}

TEST_F(BypassControlTest, ExpiryIsPublishedByTick) {
  auto pub = publisher();
  auto control = BypassControl::open(config_, *pub, now_);
  ASSERT_TRUE(control.ok()) << control.status();
  ASSERT_TRUE(pub->publish(test::compile_generation(dir_.path(), 2), Verdict::kPass, "p").ok());
  BypassRequest r = request("www.gen2.example");
  r.ttl = absl::Minutes(10);
  ASSERT_TRUE((*control)->add(r, now_).ok());
  EXPECT_EQ(rule_for(*pub, "www.gen2.example"), "bypass");
  const uint64_t generation = pub->generation();
  EXPECT_TRUE((*control)->tick(now_ + absl::Minutes(9)).ok());
  EXPECT_EQ(pub->generation(), generation) << "nothing expired, nothing published";
  EXPECT_TRUE((*control)->tick(now_ + absl::Minutes(10)).ok());
  EXPECT_EQ(rule_for(*pub, "www.gen2.example"), "gen_2");
  EXPECT_TRUE((*control)->list().empty());
}

TEST_F(BypassControlTest, AnUnreadableStateFileRefusesTheStart) {
  auto pub = publisher();
  config_.state_file = dir_.path() + "/bypass.json";
  std::FILE* f = std::fopen(config_.state_file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("[1, 2", f);
  std::fclose(f);
  auto control = BypassControl::open(config_, *pub, now_);
  ASSERT_FALSE(control.ok());
  EXPECT_NE(control.status().message().find(config_.state_file), std::string::npos);
}

}  // namespace
}  // namespace sluice
