// GET /v1/flows and GET /v1/top/sni through the router: what they answer, and a 400 that says
// what to fix for every parameter that is wrong.
#include "control/api/view_endpoints.h"

#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

namespace sluice {
namespace {

AuditEvent verdict(uint64_t id, const char* sni, Verdict v = Verdict::kPass) {
  AuditEvent e;
  e.kind = AuditKind::kVerdict;
  e.flow_id = id;
  uint8_t client[4] = {10, 0, 2, static_cast<uint8_t>(id)};
  e.client = {IpAddress::from_v4(client), 40000};
  uint8_t server[4] = {192, 0, 2, 1};
  e.server = {IpAddress::from_v4(server), 443};
  e.transport = 6;
  e.first_flight = FirstFlightKind::kTls;
  e.verdict = v;
  e.hello.sni_length = static_cast<uint16_t>(std::strlen(sni));
  std::memcpy(e.hello.sni.data(), sni, e.hello.sni_length);
  std::strcpy(e.rule.data(), "r");
  return e;
}

class ViewEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    flows_.add_verdict(verdict(1, "a.example"));
    flows_.add_verdict(verdict(2, "www.b.example", Verdict::kBlock));
    names_.add_verdict(verdict(1, "a.example"), absl::Now());
    names_.add_verdict(verdict(2, "www.b.example", Verdict::kBlock), absl::Now());
    add_view_endpoints(router_, flows_, names_);
  }
  ApiResponse get(const std::string& path, std::map<std::string, std::string> query = {}) {
    ApiResponse error;
    const ApiRouter::Route* route = router_.find("GET", path, error);
    if (route == nullptr) return error;
    ApiRequest r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    return route->handler(r);
  }
  static std::string message(const ApiResponse& r) {
    return nlohmann::json::parse(r.body)["error"]["message"];
  }

  LiveFlows flows_;
  TopNames names_;
  ApiRouter router_;
};

TEST_F(ViewEndpointsTest, FlowsWithFilters) {
  ApiResponse r = get("/v1/flows");
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["flows"].size(), 2u);
  EXPECT_EQ(j["flows"][0]["sni"], "www.b.example");
  EXPECT_EQ(j["flows"][0]["client_ip"], "10.0.2.2");
  EXPECT_EQ(j["flows"][0]["verdict"], "block");
  EXPECT_EQ(j["tracked"], 2);
  r = get("/v1/flows", {{"sni", ".b.example"}, {"verdict", "block"}, {"client", "10.0.2.0/24"}});
  j = nlohmann::json::parse(r.body);
  ASSERT_EQ(j["flows"].size(), 1u);
  EXPECT_EQ(j["flows"][0]["flow_id"], 2);
  r = get("/v1/flows", {{"limit", "1"}});
  EXPECT_EQ(nlohmann::json::parse(r.body)["flows"].size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(r.body)["matched"], 2);
}

TEST_F(ViewEndpointsTest, FlowsRefuseBadParameters) {
  const std::pair<std::map<std::string, std::string>, std::string> cases[] = {
      {{{"limit", "0"}}, "limit: '0' is not a whole number from 1 to 10000"},
      {{{"limit", "ten"}}, "limit: 'ten' is not a whole number from 1 to 10000"},
      {{{"verdict", "maybe"}}, "verdict: 'maybe' is not one of pass, block, intercept"},
      {{{"client", "10.0.2.1/8"}}, "client: "},
      {{{"sni", "exa mple"}}, "sni: "},
      {{{"colour", "blue"}}, "unknown parameter 'colour' (known: limit, client, sni, verdict)"},
  };
  for (const auto& [query, want] : cases) {
    const ApiResponse r = get("/v1/flows", query);
    EXPECT_EQ(r.status, 400) << want;
    EXPECT_EQ(message(r).rfind(want, 0), 0u) << message(r);
  }
}

TEST_F(ViewEndpointsTest, TopNamesByFlowsOrBytesAndBadParameters) {
  ApiResponse r = get("/v1/top/sni", {{"window", "1m"}, {"by", "flows"}});
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["window_seconds"], 60);
  ASSERT_EQ(j["names"].size(), 2u);
  EXPECT_EQ(j["names"][1]["name"], "www.b.example");
  EXPECT_EQ(j["names"][1]["blocked"], 1);
  EXPECT_EQ(get("/v1/top/sni", {{"window", "2h"}}).status, 400);
  EXPECT_EQ(message(get("/v1/top/sni", {{"window", "soon"}})),
            "window: 'soon' is not a positive duration such as 1m, 15m, 1h");
  EXPECT_EQ(message(get("/v1/top/sni", {{"by", "packets"}})), "by: 'packets' is not flows or bytes");
}

}  // namespace
}  // namespace sluice
