// The `api` section of a run configuration.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "dataplane/config/run_config.h"
#include "tests/dataplane/config/minimal_config.h"

namespace sluice {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::string& api_section) {
  absl::StatusOr<RunConfig> c =
      parse_run_config(std::string(test::kMinimalConfig) + api_section, "test.yaml");
  EXPECT_FALSE(c.ok()) << "accepted:\n" << api_section;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(RunConfigApi, AbsentMeansNoApi) {
  absl::StatusOr<RunConfig> c = parse_run_config(test::kMinimalConfig, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->api.enabled);
}

TEST(RunConfigApi, DefaultsAndPathsResolvedAgainstTheConfigDirectory) {
  ConfigParseOptions options;
  options.base_dir = "/etc/sluice";
  absl::StatusOr<RunConfig> c = parse_run_config(
      std::string(test::kMinimalConfig) + "api:\n  unix_socket:\n    path: api.sock\n", "t.yaml",
      options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->api.enabled);
  EXPECT_EQ(c->api.unix_path, "/etc/sluice/api.sock");
  EXPECT_EQ(c->api.unix_mode, 0660u);
  EXPECT_EQ(c->api.unix_group, "");
  EXPECT_EQ(c->api.tcp_listen, "");
  EXPECT_EQ(c->api.max_json_body, 64u * 1024);
  EXPECT_EQ(c->api.max_list_body, 256u * 1024 * 1024);
  EXPECT_EQ(c->api.max_connections, 16u);
  EXPECT_EQ(c->api.timeout_ns, 30'000'000'000u);
}

TEST(RunConfigApi, EveryKey) {
  ConfigParseOptions options;
  options.base_dir = "/etc/sluice";
  absl::StatusOr<RunConfig> c = parse_run_config(std::string(test::kMinimalConfig) + R"(api:
  unix_socket: {path: /run/sluice/api.sock, mode: "0600", group: adm}
  tcp: {listen: "[::1]:8787", token_file: api.token}
  max_json_body: 8KiB
  max_list_body: 1GiB
  max_connections: 4
  timeout: 5s
)", "t.yaml", options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->api.unix_path, "/run/sluice/api.sock");
  EXPECT_EQ(c->api.unix_mode, 0600u);
  EXPECT_EQ(c->api.unix_group, "adm");
  EXPECT_EQ(c->api.tcp_listen, "[::1]:8787");
  EXPECT_EQ(c->api.token_file, "/etc/sluice/api.token");
  EXPECT_EQ(c->api.max_json_body, 8u * 1024);
  EXPECT_EQ(c->api.max_list_body, 1u << 30);
  EXPECT_EQ(c->api.max_connections, 4u);
  EXPECT_EQ(c->api.timeout_ns, 5'000'000'000u);
}

TEST(RunConfigApi, MistakesNameTheLineAndTheFix) {
  EXPECT_THAT(error_of("api: {}\n"), HasSubstr("test.yaml:11:6: api: give unix_socket"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {path: /x.sock, mode: \"0666\"}\n"),
              HasSubstr("test.yaml:12:38: api.unix_socket.mode: 0666 lets every local user"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {path: /x.sock, mode: rw}\n"),
              HasSubstr("api.unix_socket.mode: 'rw' is not an octal file mode"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {path: /x.sock, mode: \"0460\"}\n"),
              HasSubstr("leaves the owner without write permission"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {mode: \"0660\"}\n"),
              HasSubstr("api.unix_socket: missing required key 'path'"));
  EXPECT_THAT(error_of("api:\n  tcp: {listen: \"127.0.0.1:8787\"}\n"),
              HasSubstr("test.yaml:12:8: api.tcp: missing required key 'token_file'"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {path: /x.sock}\n  max_conections: 3\n"),
              HasSubstr("test.yaml:13:3: unknown key 'api.max_conections'; did you mean "
                        "'max_connections'?"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {path: /x.sock}\n  max_json_body: 10\n"),
              HasSubstr("api.max_json_body: 10 is out of range"));
  EXPECT_THAT(error_of("api:\n  unix_socket: {path: /x.sock}\n  timeout: 0\n"),
              HasSubstr("api.timeout: 0 is out of range"));
}

}  // namespace
}  // namespace sluice
