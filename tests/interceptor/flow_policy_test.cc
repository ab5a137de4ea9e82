#include "interceptor/flow_policy.h"

#include <gtest/gtest.h>

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

TEST(FlowPolicyTest, ABadPolicyConfigIsRefusedWithItsError) {
  absl::StatusOr<std::unique_ptr<FlowPolicy>> p = FlowPolicy::load("/nonexistent/sluice.yaml");
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("/nonexistent/sluice.yaml"), std::string::npos);
}

}  // namespace
}  // namespace sluice::intercept
