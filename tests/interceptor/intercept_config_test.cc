#include "interceptor/intercept_config.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "dataplane/config/run_config.h"

namespace sluice::intercept {
namespace {

TEST(InterceptConfigTest, FullConfigParsesWithPathsResolvedAgainstTheFile) {
  absl::StatusOr<InterceptConfig> c = parse_intercept_config(R"(
threads: 4
listen:
  explicit: 127.0.0.1:3128
  transparent: "[::]:15001"
ca_dir: ca
policy_config: /etc/sluice/sluice.yaml
upstream:
  extra_ca_files: [extra.pem]
  connect_timeout: 3s
  mark: 0x2a
  session_cache_entries: 0
limits:
  max_connections: 500
  handshake_timeout: 5s
  idle_timeout: 2m
  max_head_bytes: 16KiB
  buffer_bytes: 32KiB
  cert_cache_entries: 100
url_rules:
  - name: games
    patterns: ['^games\.example/']
audit:
  file: audit.jsonl
learning:
  api: unix:api.sock
  queue_size: 10
  bypass_refresh: 2s
stats:
  file: stats.json
  interval: 5s
)", "/etc/sluice/intercept.yaml", "/etc/sluice");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->threads, 4u);
  EXPECT_EQ(c->transparent_listen, "[::]:15001");
  EXPECT_EQ(c->ca_dir, "/etc/sluice/ca");
  EXPECT_EQ(c->extra_ca_files, std::vector<std::string>{"/etc/sluice/extra.pem"});
  EXPECT_EQ(c->connect_timeout_ns, 3'000'000'000ULL);
  EXPECT_EQ(c->upstream_mark, 42u);
  EXPECT_EQ(c->session_cache_entries, 0u);  // resumption off
  EXPECT_EQ(c->idle_timeout_ns, 120'000'000'000ULL);
  EXPECT_EQ(c->max_head_bytes, 16384u);
  EXPECT_EQ(c->learning_api, "unix:/etc/sluice/api.sock");
  EXPECT_EQ(c->learning_bypass_refresh_ns, 2'000'000'000ULL);
  ASSERT_EQ(c->url_rules.size(), 1u);
  EXPECT_EQ(c->url_rules[0].defined_at, "/etc/sluice/intercept.yaml:21:5");
}

TEST(InterceptConfigTest, MistakesAreAllReportedWithFileLineAndReason) {
  absl::StatusOr<InterceptConfig> c = parse_intercept_config(R"(threads: 0
listen:
  explicit: 3128
ca_dir: ca
limits:
  handshake_timout: 5s
  buffer_bytes: 1KiB
learning:
  api: ftp://x
  bypass_refresh: 10ms
)", "i.yaml");
  ASSERT_FALSE(c.ok());
  const std::string m(c.status().message());
  EXPECT_NE(m.find("i.yaml:1:10: threads: must be between 1 and 64"), std::string::npos) << m;
  EXPECT_NE(m.find("i.yaml:3:13: listen.explicit: must be ADDRESS:PORT"), std::string::npos) << m;
  EXPECT_NE(m.find("i.yaml:6:3: limits.handshake_timout: unknown key; did you mean `handshake_timeout`?"),
            std::string::npos) << m;
  EXPECT_NE(m.find("i.yaml:7:17: limits.buffer_bytes: must be between 4096"), std::string::npos) << m;
  EXPECT_NE(m.find("i.yaml:9:8: learning.api: must be unix:"), std::string::npos) << m;
  EXPECT_NE(m.find("i.yaml:10:19: learning.bypass_refresh: must be 0 (off) or at least 100ms"),
            std::string::npos) << m;
}

TEST(InterceptConfigTest, NeedsACaAndAListener) {
  absl::StatusOr<InterceptConfig> c = parse_intercept_config("threads: 1\n", "i.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("ca_dir: required"), std::string::npos);
  c = parse_intercept_config("ca_dir: /x\n", "i.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("listen: name at least one"), std::string::npos);
  c = parse_intercept_config("ca_dir: [", "i.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("not valid YAML"), std::string::npos);
}

TEST(InterceptConfigTest, ShippedExampleParses) {
  absl::StatusOr<InterceptConfig> c =
      load_intercept_config(std::string(SLUICE_SOURCE_DIR) + "/deploy/config/sluice-intercept.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->url_rules.size(), 1u);
  EXPECT_EQ(c->learning_api, "unix:/run/sluice/api.sock");
}

std::string read_deploy_file(const std::string& relative) {
  std::ifstream in(std::string(SLUICE_SOURCE_DIR) + "/deploy/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A manager who uncomments the TAP and `intercept:` in the shipped sluice.yaml gets a namespace
// (appliance-netns.env) and an interceptor (intercept.yaml) that agree with it: same address,
// handoff port and source, and the TPROXY port of the transparent listener.
TEST(InterceptConfigTest, ShippedInterceptionExamplesAgree) {
  std::string box = read_deploy_file("config/sluice-2x10g.yaml");
  for (const char* block : {R"re(\n  # - name: tap\n  #   device: ([^\n]+)\n)re",
                            R"re(\n# intercept:\n#   port: tap\n#   address: (\S+)\n)re"}) {
    const std::regex commented(block);
    ASSERT_TRUE(std::regex_search(box, commented)) << block;
  }
  box = std::regex_replace(box, std::regex(R"re(\n  # - name: tap\n  #   device: ([^\n]+)\n)re"),
                           "\n  - name: tap\n    device: $1\n");
  // "Uncomment the section": its own lines; the IPv6 address is a comment within it, an opt-in
  // of its own.
  box = std::regex_replace(box, std::regex(R"re(\n# intercept:\n#   port: tap\n#   address: (\S+)\n)re"),
                           "\nintercept:\n  port: tap\n  address: $1\n");
  absl::StatusOr<RunConfig> run = parse_run_config(box, "sluice-2x10g.yaml (interception on)");
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(run->intercept.enabled);
  char address[INET_ADDRSTRLEN] = {}, source[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, run->intercept.address.data(), address, sizeof address);
  inet_ntop(AF_INET, run->intercept.handoff_source.data(), source, sizeof source);

  absl::StatusOr<InterceptConfig> x =
      load_intercept_config(std::string(SLUICE_SOURCE_DIR) + "/deploy/config/sluice-intercept.yaml");
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->handoff_listen, absl::StrCat(address, ":", run->intercept.handoff_port));
  EXPECT_EQ(x->handoff_dataplane, source);
  EXPECT_EQ(x->explicit_listen.substr(0, x->explicit_listen.rfind(':')), address)
      << "the explicit proxy listens on the namespace's address";
  const std::string tproxy_port = x->transparent_listen.substr(x->transparent_listen.rfind(':') + 1);

  const std::string env = read_deploy_file("appliance-netns.env");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(env, m, std::regex(R"re(\nSLUICE_APPLIANCE_NETNS_ARGS="([^"]*)")re")));
  const std::string args = m[1];
  EXPECT_NE(args.find(absl::StrCat("--address ", address, "/")), std::string::npos) << args;
  EXPECT_NE(args.find("--tproxy " + tproxy_port), std::string::npos) << args;
  EXPECT_NE(args.find("--tproxy-from "), std::string::npos) << args;
  EXPECT_NE(args.find("--gateway "), std::string::npos) << args;
  EXPECT_NE(args.find("--client-route "), std::string::npos) << args;
  EXPECT_EQ(run->intercept.has_address6, args.find("--address6") != std::string::npos)
      << "IPv6 handoff needs the namespace's IPv6: both or neither";
  EXPECT_EQ(args.find("--handoff-source"), std::string::npos)
      << "the default source, as sluice.yaml's default";
}

}  // namespace
}  // namespace sluice::intercept
