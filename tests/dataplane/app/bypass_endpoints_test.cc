// GET/POST /v1/bypass and DELETE /v1/bypass/ID through the router, with a real BypassControl
// (state file in a temporary directory, a real publisher): answers, and a 4xx that says what to
// fix for malformed JSON, wrong types, unknown fields, bad values, duplicates and unknown ids.
#include "dataplane/app/bypass_endpoints.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

namespace sluice {
namespace {

class BypassEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("bypass-api-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    auto pub = PolicyPublisher::create(1);
    ASSERT_TRUE(pub.ok());
    publisher_ = *std::move(pub);
    BypassConfig config;
    config.state_file = (dir_ / "bypass.json").string();
    config.max_entries = 2;
    auto control = BypassControl::open(config, *publisher_, absl::Now());
    ASSERT_TRUE(control.ok()) << control.status();
    control_ = *std::move(control);
    add_bypass_endpoints(router_, *control_, 4096);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ApiResponse call(const std::string& method, const std::string& path, std::string body = "") {
    ApiResponse error;
    const ApiRouter::Route* route = router_.find(method, path, error);
    if (route == nullptr) return error;
    ApiRequest r;
    r.method = method;
    r.path = path;
    if (route->prefix) r.path_tail = path.substr(route->path.size());
    r.body = std::move(body);
    return route->handler(r);
  }
  static std::string message(const ApiResponse& r) {
    return nlohmann::json::parse(r.body)["error"]["message"];
  }

  std::filesystem::path dir_;
  std::unique_ptr<PolicyPublisher> publisher_;
  std::unique_ptr<BypassControl> control_;
  ApiRouter router_;
};

TEST_F(BypassEndpointsTest, AddListRemove) {
  ApiResponse r = call("POST", "/v1/bypass",
                       R"({"name":"Exams.Example","clients":["10.0.2.0/24"],"reason":"exam app","ttl_seconds":3600})");
  ASSERT_EQ(r.status, 201) << r.body;
  nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["id"], 1);
  EXPECT_EQ(j["name"], "exams.example");
  EXPECT_FALSE(j["expires"].is_null());
  r = call("GET", "/v1/bypass");
  ASSERT_EQ(r.status, 200);
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["reason"], "exam app");
  EXPECT_EQ(j["max_entries"], 2);
  EXPECT_EQ(publisher_->current().bypass_entries, 0u) << "no policy yet: kept for the first";
  EXPECT_EQ(call("DELETE", "/v1/bypass/1").status, 200);
  EXPECT_EQ(nlohmann::json::parse(call("GET", "/v1/bypass").body)["entries"].size(), 0u);
}

TEST_F(BypassEndpointsTest, RefusalsSayWhatToFix) {
  EXPECT_EQ(call("POST", "/v1/bypass", "{\"name\":").status, 400);
  EXPECT_EQ(message(call("POST", "/v1/bypass", R"({"name":42})")), "name: expected a string");
  EXPECT_EQ(message(call("POST", "/v1/bypass", R"({"reason":"x"})")),
            "name: required, e.g. \".exams.example\"");
  EXPECT_EQ(message(call("POST", "/v1/bypass", R"({"name":"a.example","ttl_seconds":"2h"})")),
            "ttl_seconds: expected a positive whole number of seconds (leave it out for no expiry)");
  EXPECT_EQ(message(call("POST", "/v1/bypass", R"({"name":"a.example","clients":"10.0.0.0/8"})")),
            "clients: expected a list of addresses or prefixes");
  EXPECT_EQ(message(call("POST", "/v1/bypass", R"({"name":"a.example","colour":"red"})")),
            "unknown field 'colour' (known: name, clients, reason, ttl_seconds)");
  ApiResponse r = call("POST", "/v1/bypass", R"({"name":"a b"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(message(r).rfind("name: ", 0), 0u) << message(r);

  ASSERT_EQ(call("POST", "/v1/bypass", R"({"name":"a.example"})").status, 201);
  r = call("POST", "/v1/bypass", R"({"name":"A.example."})");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("entry 1"), std::string::npos) << message(r);
  ASSERT_EQ(call("POST", "/v1/bypass", R"({"name":"b.example"})").status, 201);
  r = call("POST", "/v1/bypass", R"({"name":"c.example"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("bypass.max_entries"), std::string::npos) << message(r);

  EXPECT_EQ(call("DELETE", "/v1/bypass/99").status, 404);
  EXPECT_EQ(message(call("DELETE", "/v1/bypass/x")),
            "'x' is not an entry id (GET /v1/bypass lists them)");
}

}  // namespace
}  // namespace sluice
