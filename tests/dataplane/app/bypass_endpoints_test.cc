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
            "unknown field 'colour' (known: name, clients, ja4, reason, ttl_seconds)");
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

TEST_F(BypassEndpointsTest, RejectionsReportedByTheInterceptorAreLearned) {
  const std::string report =
      R"({"sni":"exams.example","ja4":"t13d1311h1_e8f1e7e78f70_1f22a2ca17c4",)"
      R"("client":"10.0.2.15","reason":"alert unknown_ca"})";
  ApiResponse r = call("POST", "/v1/bypass/failures", report);
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["failures"], 1);
  EXPECT_EQ(j["threshold"], 3);
  EXPECT_EQ(j["clients"], 1);
  EXPECT_EQ(j["clients_needed"], 1);
  EXPECT_TRUE(j["learned"].is_null());
  ASSERT_EQ(call("POST", "/v1/bypass/failures", report).status, 200);
  r = call("POST", "/v1/bypass/failures", report);
  ASSERT_EQ(r.status, 201) << r.body;
  j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["learned"]["name"], "exams.example");
  EXPECT_EQ(j["learned"]["ja4"], "t13d1311h1_e8f1e7e78f70_1f22a2ca17c4");
  EXPECT_EQ(j["learned"]["source"], "learned");
  EXPECT_EQ(j["learned"]["evidence"]["failures"], 3);
  EXPECT_FALSE(j["learned"]["expires"].is_null()) << "a learned entry has a TTL";

  j = nlohmann::json::parse(call("GET", "/v1/bypass").body);
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["evidence"]["clients"][0], "10.0.2.15");
  EXPECT_EQ(j["learning"]["enabled"], true);
  EXPECT_EQ(j["learning"]["reports"], 3);
  EXPECT_EQ(j["learning"]["learned"], 1);
  EXPECT_EQ(call("DELETE", "/v1/bypass/1").status, 200) << "learned entries are removed the same way";

  EXPECT_EQ(message(call("POST", "/v1/bypass/failures", R"({"sni":"exams.example","ja4":"x"})")),
            "ja4: 'x' is not a JA4 fingerprint (36 characters, e.g. "
            "t13d1516h2_8daaf6152771_e5627efa2ab1)");
  EXPECT_EQ(message(call("POST", "/v1/bypass/failures", R"({"sni":1})")), "sni: expected a string");
  EXPECT_EQ(message(call("POST", "/v1/bypass/failures", R"({"host":"a"})")),
            "unknown field 'host' (known: sni, ja4, client, reason)");
}

TEST_F(BypassEndpointsTest, AManagerCanLimitAnEntryToOneClientApp) {
  ApiResponse r = call("POST", "/v1/bypass",
                       R"({"name":"exams.example","ja4":"t13d1311h1_e8f1e7e78f70_1f22a2ca17c4"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["ja4"], "t13d1311h1_e8f1e7e78f70_1f22a2ca17c4");
  EXPECT_EQ(call("POST", "/v1/bypass", R"({"name":"exams.example","ja4":"t13"})").status, 400);
}

TEST(BypassLearningOffTest, ReportsAreRefusedWithTheKeyToChange) {
  const auto dir = std::filesystem::path(::testing::TempDir()) /
                   ("bypass-off-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto publisher = PolicyPublisher::create(1);
  ASSERT_TRUE(publisher.ok());
  BypassConfig config;
  config.state_file = (dir / "bypass.json").string();
  config.learning.enabled = false;
  auto control = BypassControl::open(config, **publisher, absl::Now());
  ASSERT_TRUE(control.ok()) << control.status();
  ApiRouter router;
  add_bypass_endpoints(router, **control, 4096);
  ApiResponse error;
  const ApiRouter::Route* route = router.find("POST", "/v1/bypass/failures", error);
  ASSERT_NE(route, nullptr);
  ApiRequest request;
  request.method = "POST";
  request.path = "/v1/bypass/failures";
  request.body = R"({"sni":"exams.example","ja4":"t13d1311h1_e8f1e7e78f70_1f22a2ca17c4",)"
                 R"("client":"10.0.2.15"})";
  const ApiResponse r = route->handler(request);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("bypass.learning.enabled"), std::string::npos) << r.body;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sluice
