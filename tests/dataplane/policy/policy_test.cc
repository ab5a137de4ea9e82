// compile_policy() and PolicySnapshot::decide(): rules, lists of every format, client scopes,
// every default and the precedence between them.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <string>

#include "dataplane/policy/compile_policy.h"

namespace sluice {
namespace {

IpAddress ip(const char* text) {
  uint8_t buf[16];
  if (inet_pton(AF_INET, text, buf) == 1) return IpAddress::from_v4(buf);
  EXPECT_EQ(inet_pton(AF_INET6, text, buf), 1) << text;
  return IpAddress::from_v6(buf);
}

ListSource list(std::string name, ListFormat format, std::string text) {
  return ListSource{name, format, "policy/" + name + ".list", std::move(text)};
}

RuleSource rule(std::string name, std::vector<std::string> lists, Verdict verdict,
                std::vector<std::string> subnets = {}, bool audit = true) {
  return RuleSource{name, "sluice.yaml:1", std::move(lists), std::move(subnets), {verdict, audit}};
}

// A school-like policy: staff pass social media that pupils are blocked from, banks are never
// intercepted, a pattern catches proxy sites, an address rule handles a no-SNI app.
PolicySource school() {
  PolicySource s;
  s.generation = 7;
  s.description = "test policy";
  s.lists = {
      list("never_intercept", ListFormat::kDomains, ".bank.example\nupdate.vendor.example\n"),
      list("social", ListFormat::kDomains, ".social.example\n"),
      list("ads", ListFormat::kHosts, "0.0.0.0 ads.example\n127.0.0.1 localhost\n"),
      list("proxies", ListFormat::kPatterns, "# anonymisers\n^proxy[0-9]+\\.\nunblock\n"),
      list("app_servers", ListFormat::kAddresses, "198.51.100.0/24\n2001:db8:1::/48\n"),
  };
  s.rules = {
      rule("no_interception", {"never_intercept"}, Verdict::kPass),
      rule("staff_social", {"social"}, Verdict::kIntercept, {"10.20.0.0/16", "2001:db8:20::/48"}),
      rule("block_social", {"social"}, Verdict::kBlock),
      rule("block_ads", {"ads", "proxies"}, Verdict::kBlock, {}, false),
      rule("legacy_app", {"app_servers"}, Verdict::kPass),
  };
  s.defaults.anomalies = {{AnomalySet{}, {"evasion_overlap", {Verdict::kBlock, true}}}};
  s.defaults.anomalies[0].anomalies.add(Anomaly::kOverlapConflict);
  s.defaults.anomalies[0].anomalies.add(Anomaly::kUnseenAcked);
  s.defaults.incomplete = {"incomplete", {Verdict::kBlock, true}};
  s.defaults.ech = {"ech", {Verdict::kBlock, true}};
  s.defaults.non_tls = {"non_tls", {Verdict::kBlock, true}};
  s.defaults.no_sni = {"no_sni", {Verdict::kPass, true}};
  s.defaults.final_default = {"inspect_everything_else", {Verdict::kIntercept, true}};
  return s;
}

FlowFacts tls(std::string_view name, const char* client = "10.10.1.5",
              const char* server = "203.0.113.9") {
  FlowFacts f;
  f.client_ip = ip(client);
  f.server_ip = ip(server);
  f.server_port = 443;
  f.first_flight = FirstFlightKind::kTls;
  f.server_name = name;
  return f;
}

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto compiled = compile_policy(school());
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    policy_ = *std::move(compiled);
    auto scratch = policy_->allocate_scratch();
    ASSERT_TRUE(scratch.ok()) << scratch.status();
    scratch_ = *std::move(scratch);
  }
  Decision decide(const FlowFacts& f) { return policy_->decide(f, *scratch_); }

  std::unique_ptr<const PolicySnapshot> policy_;
  std::unique_ptr<PolicyScratch> scratch_;
};

TEST_F(PolicyTest, NameRulesNameRuleAndList) {
  Decision d = decide(tls("www.bank.example"));
  EXPECT_EQ(d.action.verdict, Verdict::kPass);
  EXPECT_EQ(d.rule, "no_interception");
  EXPECT_EQ(d.list, "never_intercept");
  EXPECT_EQ(decide(tls("update.vendor.example")).rule, "no_interception");
  EXPECT_EQ(decide(tls("x.update.vendor.example")).rule, "inspect_everything_else");
  EXPECT_EQ(decide(tls("badbank.example")).rule, "inspect_everything_else");
}

TEST_F(PolicyTest, HostsAndPatternListsWithAuditFlag) {
  Decision ads = decide(tls("ads.example"));
  EXPECT_EQ(ads.action.verdict, Verdict::kBlock);
  EXPECT_FALSE(ads.action.audit);
  EXPECT_EQ(ads.list, "ads");
  EXPECT_EQ(decide(tls("localhost")).rule, "inspect_everything_else");  // skipped hosts entry
  Decision proxy = decide(tls("proxy42.example.net"));
  EXPECT_EQ(proxy.rule, "block_ads");
  EXPECT_EQ(proxy.list, "proxies");
  EXPECT_EQ(decide(tls("free-unblock.example")).list, "proxies");
  EXPECT_EQ(decide(tls("myproxy42.example.net")).rule, "inspect_everything_else");
}

TEST_F(PolicyTest, ClientSubnetScopesRules) {
  Decision staff = decide(tls("video.social.example", "10.20.3.4"));
  EXPECT_EQ(staff.rule, "staff_social");
  EXPECT_EQ(staff.action.verdict, Verdict::kIntercept);
  Decision staff6 = decide(tls("social.example", "2001:db8:20::99"));
  EXPECT_EQ(staff6.rule, "staff_social");
  Decision guest = decide(tls("video.social.example", "10.30.3.4"));
  EXPECT_EQ(guest.rule, "block_social");
  EXPECT_EQ(guest.action.verdict, Verdict::kBlock);
}

TEST_F(PolicyTest, RulePrecedenceIsFirstMatch) {
  // A bank name under a blocked tree: the earlier rule wins.
  PolicySource s = school();
  s.lists.push_back(list("bank_social", ListFormat::kDomains, "chat.bank.example\n"));
  s.rules.insert(s.rules.begin() + 1, rule("later", {"bank_social"}, Verdict::kBlock));
  auto compiled = compile_policy(s);
  ASSERT_TRUE(compiled.ok());
  auto scratch = (*compiled)->allocate_scratch();
  ASSERT_TRUE(scratch.ok());
  EXPECT_EQ((*compiled)->decide(tls("chat.bank.example"), **scratch).rule, "no_interception");
  s.rules.erase(s.rules.begin());
  compiled = compile_policy(s);
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ((*compiled)->decide(tls("chat.bank.example"), **scratch).rule, "later");
}

TEST_F(PolicyTest, AddressRulesV4AndV6WithAndWithoutSni) {
  Decision v4 = decide(tls("", "10.10.1.5", "198.51.100.77"));
  EXPECT_EQ(v4.rule, "legacy_app");
  EXPECT_EQ(v4.list, "app_servers");
  EXPECT_EQ(decide(tls("", "2001:db8:9::1", "2001:db8:1:ff::1")).rule, "legacy_app");
  EXPECT_EQ(decide(tls("", "10.10.1.5", "198.51.101.1")).rule, "no_sni");
  EXPECT_EQ(decide(tls("", "2001:db8:9::1", "2001:db8:2::1")).rule, "no_sni");
  // Name rules come first when there is a name; the address rule still catches the rest.
  EXPECT_EQ(decide(tls("ads.example", "10.10.1.5", "198.51.100.77")).rule, "block_ads");
  EXPECT_EQ(decide(tls("other.example", "10.10.1.5", "198.51.100.77")).rule, "legacy_app");
}

TEST_F(PolicyTest, AddressMattersOnlyWhereAnAddressListIsConsultedBeforeTheDecision) {
  const auto may_matter = [&](std::string_view name, const char* client = "10.10.1.5") {
    FlowFacts f = tls(name, client);
    f.server_ip = IpAddress{};  // not looked up yet
    return policy_->address_may_matter(f, *scratch_);
  };
  // Decided by a name rule before legacy_app's address list: no address changes that.
  EXPECT_FALSE(may_matter("ads.example"));
  EXPECT_FALSE(may_matter("www.bank.example"));
  EXPECT_FALSE(may_matter("video.social.example", "10.30.3.4"));
  // No name rule takes it: legacy_app's address list is consulted before the final default.
  EXPECT_TRUE(may_matter("other.example"));
  // An anomaly default decides before every rule.
  FlowFacts evasive = tls("other.example");
  evasive.anomalies.add(Anomaly::kOverlapConflict);
  EXPECT_FALSE(policy_->address_may_matter(evasive, *scratch_));
  // An address rule placed first is consulted for every name (for clients it applies to).
  PolicySource s = school();
  s.rules.insert(s.rules.begin(), rule("allow_app_first", {"app_servers"}, Verdict::kPass, {"10.40.0.0/16"}));
  auto compiled = compile_policy(s);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  auto scratch = (*compiled)->allocate_scratch();
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  FlowFacts f = tls("ads.example", "10.40.1.1");
  f.server_ip = IpAddress{};
  EXPECT_TRUE((*compiled)->address_may_matter(f, **scratch));
  f.client_ip = ip("10.10.1.5");
  EXPECT_FALSE((*compiled)->address_may_matter(f, **scratch));
  // Within one rule too, an address list listed before the name list is consulted first.
  s = school();
  s.rules[3].lists.insert(s.rules[3].lists.begin(), "app_servers");  // block_ads
  compiled = compile_policy(s);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  scratch = (*compiled)->allocate_scratch();
  ASSERT_TRUE(scratch.ok()) << scratch.status();
  EXPECT_TRUE((*compiled)->address_may_matter(f, **scratch));
}

TEST_F(PolicyTest, NoSniDefault) {
  Decision d = decide(tls(""));
  EXPECT_EQ(d.rule, "no_sni");
  EXPECT_EQ(d.list, "");
  FlowFacts server_first = tls("");
  server_first.first_flight = FirstFlightKind::kServerFirst;
  EXPECT_EQ(decide(server_first).rule, "no_sni");
  FlowFacts none = tls("");
  none.first_flight = FirstFlightKind::kNone;
  EXPECT_EQ(decide(none).rule, "no_sni");
}

TEST_F(PolicyTest, NonTlsDefaultIgnoresNamesButNotAddressRules) {
  FlowFacts f = tls("www.bank.example");  // a Host header on a non-TLS flight on 443
  f.first_flight = FirstFlightKind::kNonTls;
  EXPECT_EQ(decide(f).rule, "non_tls");
  f.server_ip = ip("198.51.100.5");
  EXPECT_EQ(decide(f).rule, "legacy_app");
  FlowFacts http = tls("ads.example");  // plain HTTP: the Host header is the name
  http.first_flight = FirstFlightKind::kHttp;
  http.server_port = 80;
  EXPECT_EQ(decide(http).rule, "block_ads");
}

TEST_F(PolicyTest, RulesPrecedeTheEchDefault) {
  // Chromium sends (GREASE) ECH in every hello with the real name in the SNI: rules must see it.
  FlowFacts f = tls("www.bank.example");
  f.ech = true;
  EXPECT_EQ(decide(f).rule, "no_interception");
  // An ECH hello that no rule takes falls to the ech default, not the final one.
  f.server_name = "unlisted.example";
  EXPECT_EQ(decide(f).rule, "ech");
}

TEST_F(PolicyTest, IncompleteDefaultPrecedesEverythingButAnomalies) {
  FlowFacts f = tls("");
  f.first_flight = FirstFlightKind::kIncomplete;
  f.server_ip = ip("198.51.100.5");
  f.ech = true;
  EXPECT_EQ(decide(f).rule, "incomplete");
  f.anomalies.add(Anomaly::kOverlapConflict);
  EXPECT_EQ(decide(f).rule, "evasion_overlap");
}

TEST_F(PolicyTest, AnomalyDefaultsComeFirst) {
  FlowFacts f = tls("www.bank.example");
  f.anomalies.add(Anomaly::kOutOfOrder);  // not listed: rules decide
  EXPECT_EQ(decide(f).rule, "no_interception");
  f.anomalies.add(Anomaly::kUnseenAcked);
  Decision d = decide(f);
  EXPECT_EQ(d.rule, "evasion_overlap");
  EXPECT_EQ(d.action.verdict, Verdict::kBlock);
}

TEST_F(PolicyTest, FinalDefault) {
  Decision d = decide(tls("news.example"));
  EXPECT_EQ(d.rule, "inspect_everything_else");
  EXPECT_EQ(d.action.verdict, Verdict::kIntercept);
}

TEST_F(PolicyTest, GenerationDescriptionSummary) {
  EXPECT_EQ(policy_->generation(), 7u);
  EXPECT_EQ(policy_->description(), "test policy");
  EXPECT_NE(policy_->summary().find("5 rules, 5 lists, 4 names, 2 patterns, 2 address prefixes"),
            std::string::npos)
      << policy_->summary();
}

// --- QUIC ----------------------------------------------------------------------------------

FlowFacts quic(std::string_view name, const char* client = "10.10.1.5") {
  FlowFacts f = tls(name, client);
  f.first_flight = FirstFlightKind::kQuic;
  f.quic = true;
  return f;
}

std::unique_ptr<const PolicySnapshot> compile_ok(const PolicySource& s) {
  auto compiled = compile_policy(s);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : nullptr;
}

Decision decide_with(const PolicySnapshot& p, const FlowFacts& f) {
  auto scratch = p.allocate_scratch();
  return p.decide(f, **scratch);
}

TEST_F(PolicyTest, QuicIsJudgedByNameLikeTls) {
  EXPECT_EQ(decide(quic("www.bank.example")).rule, "no_interception");
  EXPECT_EQ(decide(quic("ads.example")).action.verdict, Verdict::kBlock);
  EXPECT_TRUE(policy_->rules_apply(quic("ads.example")));
  // Without fallback_for_intercept an intercept verdict stands; the worker's intercept_fallback
  // carries it out (QUIC cannot be intercepted).
  Decision d = decide(quic("video.social.example", "10.20.3.4"));
  EXPECT_EQ(d.rule, "staff_social");
  EXPECT_EQ(d.action.verdict, Verdict::kIntercept);
}

TEST(QuicPolicy, FallbackForInterceptBlocksSoTheBrowserUsesTcp) {
  PolicySource s = school();
  s.quic.fallback_for_intercept = true;
  auto p = compile_ok(s);
  ASSERT_NE(p, nullptr);
  Decision d = decide_with(*p, quic("video.social.example", "10.20.3.4"));
  EXPECT_EQ(d.action.verdict, Verdict::kBlock);
  EXPECT_EQ(d.rule, "quic_fallback_for_intercept");
  EXPECT_EQ(d.list, "social") << "the audit keeps what would have been intercepted";
  // A default that intercepts is named the same way.
  Decision other = decide_with(*p, quic("news.example"));
  EXPECT_EQ(other.rule, "quic_fallback_for_intercept");
  EXPECT_EQ(other.list, "inspect_everything_else");
  // TCP is untouched: the same name over TLS is intercepted.
  EXPECT_EQ(decide_with(*p, tls("video.social.example", "10.20.3.4")).action.verdict,
            Verdict::kIntercept);
  // Pass and block decisions of QUIC flows are unchanged.
  EXPECT_EQ(decide_with(*p, quic("www.bank.example")).action.verdict, Verdict::kPass);
}

TEST(QuicPolicy, PerSubnetDefaultsBlockQuicBeforeAnyRule) {
  PolicySource s = school();
  s.quic.default_rule.action.verdict = Verdict::kPass;
  s.quic.clients = {{{"10.40.0.0/16", "2001:db8:40::/48"}, {"default_quic_clients_1", {Verdict::kBlock, true}}},
                    {{"10.0.0.0/8"}, {"default_quic_clients_2", {Verdict::kPass, true}}}};
  auto p = compile_ok(s);
  ASSERT_NE(p, nullptr);
  Decision guest = decide_with(*p, quic("www.bank.example", "10.40.1.1"));
  EXPECT_EQ(guest.action.verdict, Verdict::kBlock);
  EXPECT_EQ(guest.rule, "default_quic_clients_1");
  EXPECT_FALSE(p->rules_apply(quic("www.bank.example", "10.40.1.1"))) << "no bypass either";
  EXPECT_EQ(decide_with(*p, quic("x", "2001:db8:40::5")).rule, "default_quic_clients_1");
  // An unnamed QUIC flow (incomplete) of that subnet is blocked too.
  FlowFacts incomplete = quic("", "10.40.1.1");
  incomplete.first_flight = FirstFlightKind::kIncomplete;
  EXPECT_EQ(decide_with(*p, incomplete).rule, "default_quic_clients_1");
  // Another subnet: judged by name; TCP from the blocked subnet: judged by name.
  EXPECT_EQ(decide_with(*p, quic("www.bank.example", "10.20.1.1")).rule, "no_interception");
  EXPECT_EQ(decide_with(*p, tls("www.bank.example", "10.40.1.1")).rule, "no_interception");

  s.quic.default_rule.action.verdict = Verdict::kBlock;
  s.quic.clients.clear();
  auto all = compile_ok(s);
  ASSERT_NE(all, nullptr);
  EXPECT_EQ(decide_with(*all, quic("www.bank.example")).rule, "default_quic");
}

TEST(QuicPolicy, InterceptIsRefusedAsAQuicDefault) {
  PolicySource s = school();
  s.quic.clients = {{{"10.0.0.0/8"}, {"q", {Verdict::kIntercept, true}}}};
  EXPECT_FALSE(compile_policy(s).ok());
  s.quic.clients = {{{"10.0.0.0/33"}, {"q", {Verdict::kBlock, true}}}};
  EXPECT_FALSE(compile_policy(s).ok());
}

std::string compile_error(const PolicySource& s) {
  auto compiled = compile_policy(s);
  EXPECT_FALSE(compiled.ok());
  return std::string(compiled.status().message());
}

TEST(CompilePolicy, BadListLineRefusesWholePolicy) {
  PolicySource s = school();
  s.lists[1].text = "# social\n.social.example\nexa mple.com\n";
  EXPECT_EQ(compile_error(s), "policy/social.list:3: 'exa mple.com' is not a host name");
}

TEST(CompilePolicy, HyperscanErrorNamesFileLine) {
  PolicySource s = school();
  s.lists[3].text = "# anonymisers\n^proxy[0-9]+\\.\n\nunbl(ock\n";
  std::string error = compile_error(s);
  EXPECT_TRUE(error.starts_with("policy/proxies.list:4: 'unbl(ock': ")) << error;
  EXPECT_NE(error.find("parenthes"), std::string::npos) << error;  // Hyperscan's own reason
}

TEST(CompilePolicy, BadAddressLineAndClientSubnet) {
  PolicySource s = school();
  s.lists[4].text = "198.51.100.0/24\n198.51.100.1/24\n";
  EXPECT_EQ(compile_error(s),
            "policy/app_servers.list:2: '198.51.100.1/24' has host bits set; did you mean "
            "198.51.100.0/24?");
  s = school();
  s.rules[1].client_subnets = {"10.20.0.0/33"};
  EXPECT_EQ(compile_error(s),
            "sluice.yaml:1: rule 'staff_social': client subnet '10.20.0.0/33': prefix length is "
            "at most 32");
}

TEST(CompilePolicy, UnknownAndDuplicateListsAndMissingFiles) {
  PolicySource s = school();
  s.rules[0].lists = {"nope"};
  EXPECT_EQ(compile_error(s),
            "sluice.yaml:1: rule 'no_interception' uses list 'nope', which is not defined");
  s = school();
  s.lists.push_back(s.lists[0]);
  EXPECT_EQ(compile_error(s),
            "policy/never_intercept.list: a list named 'never_intercept' already exists");
  s = school();
  s.lists[0].text.reset();
  s.lists[0].path = "/nonexistent/blocked.list";
  EXPECT_EQ(compile_error(s),
            "list 'never_intercept': cannot read /nonexistent/blocked.list: No such file or "
            "directory");
  s = school();
  s.rules[0].lists.clear();
  EXPECT_EQ(compile_error(s), "sluice.yaml:1: rule 'no_interception' names no list, so it could "
                              "never match");
}

TEST(CompilePolicy, ListsReadFromFiles) {
  std::string path = ::testing::TempDir() + "/policy_test_blocked.list";
  {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("# from a file\n*.games.example\n", f);
    std::fclose(f);
  }
  PolicySource s;
  s.lists = {ListSource{"games", ListFormat::kDomains, path, std::nullopt}};
  s.rules = {rule("block_games", {"games"}, Verdict::kBlock)};
  auto compiled = compile_policy(s);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  auto scratch = (*compiled)->allocate_scratch();
  ASSERT_TRUE(scratch.ok());
  EXPECT_EQ((*compiled)->decide(tls("a.games.example"), **scratch).rule, "block_games");
  EXPECT_EQ((*compiled)->decide(tls("games.example"), **scratch).rule, "default");
  std::remove(path.c_str());
}

}  // namespace
}  // namespace sluice
