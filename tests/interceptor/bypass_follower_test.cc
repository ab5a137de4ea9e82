#include "interceptor/bypass_follower.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "control/api/http_server.h"
#include "interceptor/flow_policy.h"

namespace sluice::intercept {
namespace {

constexpr char kPinnedJa4[] = "t13d1516h2_8daaf6152771_e5627efa2ab1";
constexpr char kBrowserJa4[] = "t13d1517h2_8daaf6152771_b0da82dd1658";

FlowFacts tls_to(std::string_view name, std::string_view ja4) {
  FlowFacts f;
  f.first_flight = FirstFlightKind::kTls;
  f.server_name = name;
  f.server_port = 443;
  f.ja4 = ja4;
  return f;
}

std::string entries(const std::string& items) { return "{\"entries\":[" + items + "]}"; }

std::string learned(uint64_t id, const std::string& name, const std::string& expires = "null") {
  return "{\"id\":" + std::to_string(id) + ",\"name\":\"" + name + "\",\"clients\":[],\"ja4\":\"" +
         kPinnedJa4 + "\",\"reason\":\"learned\",\"source\":\"learned\",\"created\":" +
         "\"2026-11-29T00:00:00Z\",\"expires\":" + expires + ",\"evidence\":null}";
}

TEST(BypassSetFromApiTest, LearnedEntryPassesOnlyItsClientApp) {
  absl::StatusOr<std::unique_ptr<const BypassSet>> set =
      bypass_set_from_api(entries(learned(7, "pinned.example")), absl::Now());
  ASSERT_TRUE(set.ok()) << set.status();
  absl::StatusOr<std::unique_ptr<FlowPolicy>> policy = FlowPolicy::load("");
  ASSERT_TRUE(policy.ok()) << policy.status();
  absl::StatusOr<FlowPolicy::Scratch> scratch = (*policy)->make_scratch();
  ASSERT_TRUE(scratch.ok());

  FlowVerdict v = (*policy)->decide(tls_to("pinned.example", kPinnedJa4), *scratch, set->get());
  EXPECT_EQ(v.verdict, Verdict::kPass);
  EXPECT_TRUE(v.bypassed);
  EXPECT_EQ(v.rule, "bypass");
  EXPECT_EQ(v.list, "bypass:7");
  // A browser to the same name keeps the policy's verdict.
  v = (*policy)->decide(tls_to("pinned.example", kBrowserJa4), *scratch, set->get());
  EXPECT_EQ(v.verdict, Verdict::kIntercept);
  EXPECT_FALSE(v.bypassed);
  // A flow whose name did not come from its own hello is never bypassed by name.
  FlowFacts not_tls = tls_to("pinned.example", kPinnedJa4);
  not_tls.first_flight = FirstFlightKind::kNonTls;
  EXPECT_FALSE((*policy)->decide(not_tls, *scratch, set->get()).bypassed);
  // Without the set, the policy alone.
  EXPECT_EQ((*policy)->decide(tls_to("pinned.example", kPinnedJa4), *scratch).verdict,
            Verdict::kIntercept);
}

TEST(BypassSetFromApiTest, ExpiredEntriesAreLeftOut) {
  absl::StatusOr<std::unique_ptr<const BypassSet>> set = bypass_set_from_api(
      entries(learned(1, "old.example", "\"2026-01-01T00:00:00Z\"") + "," +
              learned(2, "new.example", "\"2099-01-01T00:00:00Z\"")),
      absl::FromUnixSeconds(1'800'000'000));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->size(), 1u);
  EXPECT_EQ(*(*set)->match(tls_to("new.example", kPinnedJa4)), "bypass:2");
  EXPECT_EQ((*set)->match(tls_to("old.example", kPinnedJa4)), nullptr);
}

TEST(BypassSetFromApiTest, ABadBodyIsRefusedNamingTheEntry) {
  absl::StatusOr<std::unique_ptr<const BypassSet>> set = bypass_set_from_api("[]", absl::Now());
  ASSERT_FALSE(set.ok());
  EXPECT_NE(std::string(set.status().message()).find("not an {\"entries\""), std::string::npos);
  set = bypass_set_from_api(entries(learned(1, "ok.example") + ",{\"id\":2,\"name\":\"bad name!\"}"),
                            absl::Now());
  ASSERT_FALSE(set.ok());
  EXPECT_NE(std::string(set.status().message()).find("entry 2: name:"), std::string::npos)
      << set.status();
}

// The follower against the real API server, over a unix socket: it picks up an entry added
// after it started, keeps the last table while the API answers errors, and counts both.
TEST(BypassFollowerTest, FollowsTheApiAndKeepsTheLastTableWhenItFails) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("bypass-follower-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::mutex mu;
  std::string body = entries("");
  int status = 200;
  auto router = std::make_shared<ApiRouter>();
  router->add("GET", "/v1/bypass", 0, [&](const ApiRequest&) {
    std::lock_guard<std::mutex> lock(mu);
    return status == 200 ? json_response(200, body) : error_response(status, "store unavailable");
  });
  ApiServerOptions options;
  options.unix_path = (dir / "api.sock").string();
  absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::start(options, router);
  ASSERT_TRUE(server.ok()) << server.status();

  InterceptConfig config;
  config.learning_api = "unix:" + options.unix_path;
  config.learning_bypass_refresh_ns = 100'000'000;
  InterceptStats stats;
  absl::StatusOr<std::unique_ptr<BypassFollower>> follower = BypassFollower::start(config, stats);
  ASSERT_TRUE(follower.ok()) << follower.status();
  ASSERT_NE(*follower, nullptr);

  const auto wait_for = [](const auto& done) {
    for (int i = 0; i < 100 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return done();
  };
  EXPECT_TRUE(wait_for([&] { return stats.bypass_refreshes.load() >= 1; }));
  EXPECT_TRUE((*follower)->current()->empty());
  {
    std::lock_guard<std::mutex> lock(mu);
    body = entries(learned(3, "pinned.example"));
  }
  EXPECT_TRUE(wait_for([&] { return (*follower)->current()->size() == 1; }));
  {
    std::lock_guard<std::mutex> lock(mu);
    status = 503;
  }
  EXPECT_TRUE(wait_for([&] { return stats.bypass_refresh_failures.load() >= 2; }));
  const std::string* label = (*follower)->current()->match(tls_to("pinned.example", kPinnedJa4));
  ASSERT_NE(label, nullptr);
  EXPECT_EQ(*label, "bypass:3");
  follower->reset();
  server->reset();
  std::filesystem::remove_all(dir);
}

TEST(BypassFollowerTest, OffWithoutAnApiOrWithRefreshZero) {
  InterceptConfig config;
  InterceptStats stats;
  absl::StatusOr<std::unique_ptr<BypassFollower>> f = BypassFollower::start(config, stats);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, nullptr);
  config.learning_api = "unix:/nonexistent.sock";
  config.learning_bypass_refresh_ns = 0;
  f = BypassFollower::start(config, stats);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, nullptr);
}

}  // namespace
}  // namespace sluice::intercept
