// policy_source_from_config() and SnapshotJudge: a `sluice run` policy section, compiled, judging
// flows as the worker would ask.
#include "dataplane/config/policy_source.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "dataplane/config/run_config.h"
#include "dataplane/policy/compile_policy.h"
#include "dataplane/policy/snapshot_judge.h"
#include "tests/dataplane/config/minimal_config.h"

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

IpAddress ip(const char* text) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text, buf) == 1) return IpAddress::from_v4(buf);
  EXPECT_EQ(inet_pton(AF_INET6, text, buf), 1) << text;
  return IpAddress::from_v6(buf);
}

constexpr const char* kPolicy = R"(policy:
  rules:
    - name: staff_video
      kind: domains
      files: [lists/video.domains]
      action: intercept
      clients: [10.20.0.0/16]
    - name: block_video
      kind: domains
      files: [lists/video.domains, other/video.domains]
      action: block
    - name: block_ads
      kind: hosts
      files: [lists/ads.hosts]
      action: block
      audit: false
    - name: proxies
      kind: patterns
      files: [lists/proxy.patterns]
      action: block
    - name: mail
      kind: cidrs
      files: [lists/mail.cidrs]
      action: pass
  defaults:
    no_sni: block
    non_tls_443: block
    ech: pass
    incomplete: block
    anomalies:
      overlap_conflict: block
      ttl_decoy: intercept
    final: pass
  intercept_fallback: block
)";

class PolicySourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice_policy_source_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "lists");
    std::filesystem::create_directories(dir_ / "other");
    write("lists/video.domains", ".video.example\n");
    write("other/video.domains", "clips.example\n");
    write("lists/ads.hosts", "0.0.0.0 ads.example\n");
    write("lists/proxy.patterns", "^proxy[0-9]+\\.\n");
    write("lists/mail.cidrs", "192.0.2.0/24\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  RunConfig config(const std::string& policy = kPolicy) {
    ConfigParseOptions options;
    options.base_dir = dir_.string();
    options.check_files = true;
    absl::StatusOr<RunConfig> c = parse_run_config(std::string(test::kMinimalConfig) + policy, "test.yaml", options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : RunConfig{};
  }

  std::filesystem::path dir_;
};

TEST_F(PolicySourceTest, MapsListsRulesAndDefaults) {
  absl::StatusOr<PolicySource> s = policy_source_from_config(config().policy, "test policy");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->description, "test policy");
  ASSERT_EQ(s->lists.size(), 5u);
  EXPECT_EQ(s->lists[0].name, "video.domains");
  EXPECT_EQ(s->lists[0].format, ListFormat::kDomains);
  EXPECT_EQ(s->lists[0].path, (dir_ / "lists/video.domains").string());
  EXPECT_FALSE(s->lists[0].text.has_value());
  EXPECT_EQ(s->lists[1].name, "video.domains#2");  // another file with the same basename
  EXPECT_EQ(s->lists[2].name, "ads.hosts");
  EXPECT_EQ(s->lists[2].format, ListFormat::kHosts);
  EXPECT_EQ(s->lists[3].format, ListFormat::kPatterns);
  EXPECT_EQ(s->lists[4].format, ListFormat::kAddresses);

  ASSERT_EQ(s->rules.size(), 5u);
  EXPECT_EQ(s->rules[0].name, "staff_video");
  EXPECT_THAT(s->rules[0].lists, ElementsAre("video.domains"));
  EXPECT_THAT(s->rules[0].client_subnets, ElementsAre("10.20.0.0/16"));
  EXPECT_EQ(s->rules[0].action.verdict, Verdict::kIntercept);
  EXPECT_THAT(s->rules[0].origin, HasSubstr("test.yaml:"));
  EXPECT_THAT(s->rules[1].lists, ElementsAre("video.domains", "video.domains#2"));
  EXPECT_TRUE(s->rules[1].client_subnets.empty());
  EXPECT_FALSE(s->rules[2].action.audit);

  const PolicyDefaults& d = s->defaults;
  ASSERT_EQ(d.anomalies.size(), 2u);
  EXPECT_EQ(d.anomalies[0].rule.name, "default_anomaly_overlap_conflict");
  EXPECT_TRUE(d.anomalies[0].anomalies.has(Anomaly::kOverlapConflict));
  EXPECT_EQ(d.anomalies[0].rule.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.anomalies[1].rule.name, "default_anomaly_ttl_decoy");
  EXPECT_EQ(d.anomalies[1].rule.action.verdict, Verdict::kIntercept);
  EXPECT_EQ(d.no_sni.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.non_tls.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.ech.action.verdict, Verdict::kPass);
  EXPECT_EQ(d.incomplete.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.final_default.name, "default");
  EXPECT_EQ(d.final_default.action.verdict, Verdict::kPass);
}

class SnapshotJudgeTest : public PolicySourceTest {
 protected:
  void SetUp() override {
    PolicySourceTest::SetUp();
    const RunConfig c = config();
    absl::StatusOr<PolicySource> s = policy_source_from_config(c.policy, "test policy");
    ASSERT_TRUE(s.ok()) << s.status();
    absl::StatusOr<std::unique_ptr<const PolicySnapshot>> snapshot = compile_policy(*s);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    snapshot_ = std::move(*snapshot);
    absl::StatusOr<std::unique_ptr<SnapshotJudge>> judge =
        SnapshotJudge::create(*snapshot_, c.policy.intercept_fallback);
    ASSERT_TRUE(judge.ok()) << judge.status();
    judge_ = std::move(*judge);
  }

  FlowDecision decide(std::string_view name, const char* client = "10.1.0.5",
                      const char* server = "203.0.113.9",
                      FirstFlightKind kind = FirstFlightKind::kTls) {
    FlowFacts f;
    f.client_ip = ip(client);
    f.server_ip = ip(server);
    f.server_port = 443;
    f.first_flight = kind;
    f.server_name = name;
    FlowDecision d;
    judge_->decide(f, d);
    return d;
  }

  std::unique_ptr<const PolicySnapshot> snapshot_;
  std::unique_ptr<SnapshotJudge> judge_;
};

TEST_F(SnapshotJudgeTest, RulesNameTheirRuleAndList) {
  FlowDecision d = decide("www.video.example");
  EXPECT_EQ(d.decision.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.decision.rule, "block_video");
  EXPECT_EQ(d.decision.list, "video.domains");
  EXPECT_FALSE(d.intercept_fallback);

  d = decide("clips.example");
  EXPECT_EQ(d.decision.rule, "block_video");
  EXPECT_EQ(d.decision.list, "video.domains#2");

  d = decide("ads.example");
  EXPECT_EQ(d.decision.rule, "block_ads");
  EXPECT_EQ(d.decision.list, "ads.hosts");
  EXPECT_FALSE(d.decision.action.audit);

  d = decide("proxy7.example");
  EXPECT_EQ(d.decision.rule, "proxies");
  EXPECT_EQ(d.decision.list, "proxy.patterns");

  d = decide("", "10.1.0.5", "192.0.2.44", FirstFlightKind::kNone);
  EXPECT_EQ(d.decision.action.verdict, Verdict::kPass);
  EXPECT_EQ(d.decision.rule, "mail");
  EXPECT_EQ(d.decision.list, "mail.cidrs");
}

TEST_F(SnapshotJudgeTest, InterceptIsCarriedOutAsTheFallbackAndFlagged) {
  FlowDecision d = decide("www.video.example", "10.20.3.4");
  EXPECT_EQ(d.decision.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.decision.rule, "staff_video");
  EXPECT_EQ(d.decision.list, "video.domains");
  EXPECT_TRUE(d.intercept_fallback);
}

TEST_F(SnapshotJudgeTest, DefaultsNameNoList) {
  FlowDecision d = decide("www.example.org");
  EXPECT_EQ(d.decision.action.verdict, Verdict::kPass);
  EXPECT_EQ(d.decision.rule, "default");
  EXPECT_EQ(d.decision.list, "");

  d = decide("");
  EXPECT_EQ(d.decision.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.decision.rule, "default_no_sni");

  FlowFacts f;
  f.client_ip = ip("10.1.0.5");
  f.server_ip = ip("203.0.113.9");
  f.server_port = 443;
  f.first_flight = FirstFlightKind::kTls;
  f.server_name = "www.example.org";
  f.anomalies.add(Anomaly::kTtlDecoy);
  judge_->decide(f, d);
  EXPECT_EQ(d.decision.rule, "default_anomaly_ttl_decoy");
  EXPECT_EQ(d.decision.list, "");
  EXPECT_EQ(d.decision.action.verdict, Verdict::kBlock);
  EXPECT_TRUE(d.intercept_fallback);
}

// The QUIC section end to end through the judge: a guest subnet without QUIC, and intercept
// turned into a block for QUIC only.
TEST_F(PolicySourceTest, QuicSectionThroughTheJudge) {
  const RunConfig c = config(std::string(kPolicy) +
                             "  quic:\n"
                             "    clients:\n"
                             "      - {subnets: [10.40.0.0/16], default: block}\n"
                             "    fallback_for_intercept: true\n");
  absl::StatusOr<PolicySource> s = policy_source_from_config(c.policy, "test policy");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->quic.clients.size(), 1u);
  EXPECT_EQ(s->quic.clients[0].rule.name, "default_quic_clients_1");
  EXPECT_THAT(s->quic.clients[0].client_subnets, ElementsAre("10.40.0.0/16"));
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> snapshot = compile_policy(*s);
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  auto judge = SnapshotJudge::create(**snapshot, c.policy.intercept_fallback);
  ASSERT_TRUE(judge.ok()) << judge.status();

  FlowFacts f;
  f.client_ip = ip("10.20.3.4");
  f.server_ip = ip("203.0.113.9");
  f.server_port = 443;
  f.first_flight = FirstFlightKind::kQuic;
  f.quic = true;
  f.server_name = "www.video.example";
  FlowDecision d;
  (*judge)->decide(f, d);
  EXPECT_EQ(d.decision.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.decision.rule, "quic_fallback_for_intercept");
  EXPECT_EQ(d.decision.list, "video.domains");
  EXPECT_FALSE(d.intercept_fallback) << "not an intercept carried out as its fallback";

  f.client_ip = ip("10.40.0.9");
  f.server_name = "www.example.org";
  (*judge)->decide(f, d);
  EXPECT_EQ(d.decision.rule, "default_quic_clients_1");
  EXPECT_EQ(d.decision.action.verdict, Verdict::kBlock);
}

TEST_F(PolicySourceTest, CompileErrorsNameTheFileAndLine) {
  write("lists/proxy.patterns", "ok\\.example\n(unclosed\n");
  absl::StatusOr<PolicySource> s = policy_source_from_config(config().policy, "test policy");
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> snapshot = compile_policy(*s);
  ASSERT_FALSE(snapshot.ok());
  EXPECT_THAT(std::string(snapshot.status().message()), HasSubstr("proxy.patterns:2"));
}

}  // namespace
}  // namespace sluice
