#include "interceptor/intercept_config.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace sluice::intercept
