#include "interceptor/flow_policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sluice::intercept {
namespace {

FlowFacts tls_to(std::string_view name) {
  FlowFacts f;
  f.first_flight = FirstFlightKind::kTls;
  f.server_name = name;
  f.server_port = 443;
  return f;
}

TEST(FlowPolicyTest, BuiltInNeverInterceptListTurnsInterceptIntoPass) {
  absl::StatusOr<std::unique_ptr<FlowPolicy>> p = FlowPolicy::load("");
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<FlowPolicy::Scratch> s = (*p)->make_scratch();
  ASSERT_TRUE(s.ok());
  FlowVerdict v = (*p)->decide(tls_to("adminwebservice.microsoftonline.com"), *s);
  EXPECT_EQ(v.verdict, Verdict::kPass);
  EXPECT_TRUE(v.never_intercept);
  EXPECT_EQ(v.rule, "builtin_never_intercept");
  v = (*p)->decide(tls_to("www.example.org"), *s);
  EXPECT_EQ(v.verdict, Verdict::kIntercept);
  EXPECT_FALSE(v.never_intercept);
}

TEST(FlowPolicyTest, AConnectIsJudgedByItsHostAndItsSniTheStricterWinning) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice-flow-policy-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "blocked.domains") << "blocked.example\n";
  std::ofstream(dir / "sluice.yaml")
      << "ports:\n  - name: in\n    device: \"0000:3b:00.0\"\n  - name: out\n    device: \"0000:3b:00.1\"\n"
         "pairs:\n  - inside: in\n    outside: out\nlcores:\n  workers: [1]\n"
         "policy:\n  rules:\n    - name: block_blocked\n      kind: domains\n"
         "      files: [blocked.domains]\n      action: block\n  defaults:\n    final: intercept\n";
  absl::StatusOr<std::unique_ptr<FlowPolicy>> p = FlowPolicy::load((dir / "sluice.yaml").string());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<FlowPolicy::Scratch> s = (*p)->make_scratch();
  ASSERT_TRUE(s.ok());
  // An allowed SNI, or a never-intercept one, does not open a blocked host...
  for (const char* sni : {"allowed.example", "adminwebservice.microsoftonline.com"}) {
    const FlowVerdict v = (*p)->decide_stricter(tls_to(sni), "blocked.example", *s);
    EXPECT_EQ(v.verdict, Verdict::kBlock) << sni;
    EXPECT_EQ(v.rule, "block_blocked");
  }
  // ...nor a blocked SNI pass as another host, and a never-intercept SNI does not keep an
  // intercepted host from being bumped.
  EXPECT_EQ((*p)->decide_stricter(tls_to("blocked.example"), "allowed.example", *s).verdict, Verdict::kBlock);
  const FlowVerdict v = (*p)->decide_stricter(tls_to("adminwebservice.microsoftonline.com"), "www.example.org", *s);
  EXPECT_EQ(v.verdict, Verdict::kIntercept);
  EXPECT_FALSE(v.never_intercept);
  // A tunnel whose bytes name nothing (SSH, a server that speaks first) is still judged by the
  // host its CONNECT names, on any port.
  FlowFacts ssh;
  ssh.first_flight = FirstFlightKind::kNonTls;
  ssh.server_name = "blocked.example";
  ssh.server_port = 22;
  EXPECT_EQ((*p)->decide(ssh, *s).rule, "default_non_tls") << "the payload alone names nothing";
  EXPECT_EQ((*p)->decide_stricter(ssh, "blocked.example", *s).verdict, Verdict::kBlock);
  ssh.first_flight = FirstFlightKind::kServerFirst;
  EXPECT_EQ((*p)->decide_stricter(ssh, "blocked.example", *s).verdict, Verdict::kBlock);
  // The same name twice is one judgement.
  EXPECT_TRUE((*p)->decide_stricter(tls_to("adminwebservice.microsoftonline.com"),
                                    "adminwebservice.microsoftonline.com", *s).never_intercept);
}

// A policy file with one block rule for blocked.example, behind an address rule for the
// 10.40.0.0/16 clients when `address_rule_first`.
absl::StatusOr<std::unique_ptr<FlowPolicy>> block_policy(bool address_rule_first) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("sluice-flow-policy-addr-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "blocked.domains") << "blocked.example\n";
  std::ofstream(dir / "app.addresses") << "198.51.100.0/24\n";
  std::string rules = "policy:\n  rules:\n";
  if (address_rule_first) {
    rules += "    - name: app\n      kind: cidrs\n      files: [app.addresses]\n"
             "      clients: [10.40.0.0/16]\n      action: pass\n";
  }
  rules += "    - name: block_blocked\n      kind: domains\n      files: [blocked.domains]\n"
           "      action: block\n  defaults:\n    final: intercept\n";
  std::ofstream(dir / "sluice.yaml")
      << "ports:\n  - name: in\n    device: \"0000:3b:00.0\"\n  - name: out\n    device: \"0000:3b:00.1\"\n"
         "pairs:\n  - inside: in\n    outside: out\nlcores:\n  workers: [1]\n"
      << rules;
  absl::StatusOr<std::unique_ptr<FlowPolicy>> p = FlowPolicy::load((dir / "sluice.yaml").string());
  std::filesystem::remove_all(dir);
  return p;
}

TEST(FlowPolicyTest, ABlockedNameIsRefusedBeforeItsLookupUnlessAnAddressRuleComesFirst) {
  absl::StatusOr<std::unique_ptr<FlowPolicy>> p = block_policy(false);
  ASSERT_TRUE(p.ok()) << p.status();
  absl::StatusOr<FlowPolicy::Scratch> s = (*p)->make_scratch();
  ASSERT_TRUE(s.ok());
  // The rule that blocks, when the name is blocked whatever its address; "" when not.
  const auto settled = [&](const FlowFacts& facts, std::string_view connect_host) {
    FlowVerdict v;
    return (*p)->blocked_whatever_address(facts, connect_host, *s, nullptr, v) ? v.rule : "";
  };
  // Blocked by the CONNECT host or by the SNI: no address could open it.
  EXPECT_EQ(settled(tls_to("allowed.example"), "blocked.example"), "block_blocked");
  EXPECT_EQ(settled(tls_to("blocked.example"), "allowed.example"), "block_blocked");
  // Not blocked: the name is looked up as before.
  EXPECT_EQ(settled(tls_to("allowed.example"), "allowed.example"), "");
  // A plain proxy request, as the proxy judges it: its host is its name.
  FlowFacts plain;
  plain.first_flight = FirstFlightKind::kHttp;
  plain.server_name = "blocked.example";
  plain.server_port = 80;
  EXPECT_EQ(settled(plain, "blocked.example"), "block_blocked");
  plain.server_name = "allowed.example";
  EXPECT_EQ(settled(plain, "allowed.example"), "");

  // An address rule placed first (for some clients) may pass the name's address: those clients'
  // names are looked up and judged with it; other clients' are still refused at once.
  p = block_policy(true);
  ASSERT_TRUE(p.ok()) << p.status();
  s = (*p)->make_scratch();
  ASSERT_TRUE(s.ok());
  uint8_t staff[4] = {10, 40, 1, 1}, pupil[4] = {10, 10, 1, 1};
  FlowFacts facts = tls_to("allowed.example");
  facts.client_ip = IpAddress::from_v4(staff);
  EXPECT_EQ(settled(facts, "blocked.example"), "");
  facts.client_ip = IpAddress::from_v4(pupil);
  EXPECT_EQ(settled(facts, "blocked.example"), "block_blocked");
}

TEST(FlowPolicyTest, ABadPolicyConfigIsRefusedWithItsError) {
  absl::StatusOr<std::unique_ptr<FlowPolicy>> p = FlowPolicy::load("/nonexistent/sluice.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("/nonexistent/sluice.yaml"), std::string::npos);
}

}  // namespace
}  // namespace sluice::intercept
