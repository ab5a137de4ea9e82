// BypassLearner: a (name, JA4) key is learned after `failures` reports within the window, and
// only then; reports outside the window do not count; the request it gives names that key only,
// with its TTL and evidence; bad reports are refused saying what to fix; the table is bounded.
#include "control/bypass_learner.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

constexpr char kPinnedApp[] = "t13d1311h1_e8f1e7e78f70_1f22a2ca17c4";
constexpr char kBrowser[] = "t13d1516h2_8daaf6152771_e5627efa2ab1";

CertificateFailure failure(std::string sni, std::string ja4 = kPinnedApp,
                           std::string client = "10.0.2.15",
                           std::string reason = "alert unknown_ca") {
  return {std::move(sni), std::move(ja4), std::move(client), std::move(reason)};
}

class BypassLearnerTest : public ::testing::Test {
 protected:
  LearnResult report(BypassLearner& learner, const CertificateFailure& f) {
    absl::StatusOr<LearnResult> r = learner.report(f, now_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : LearnResult{};
  }
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(BypassLearnerTest, TheThirdRejectionWithinTheWindowLearnsTheKey) {
  BypassLearner learner({.failures = 3, .window = absl::Minutes(10), .ttl = absl::Hours(2)});
  EXPECT_EQ(report(learner, failure("Exams.Example")).failures, 1u);
  now_ += absl::Minutes(1);
  EXPECT_FALSE(report(learner, failure("exams.example", kPinnedApp, "10.0.2.16",
                                       "closed after certificate")).learned);
  now_ += absl::Minutes(1);
  LearnResult r = report(learner, failure("exams.example"));
  EXPECT_EQ(r.failures, 3u);
  ASSERT_TRUE(r.learned);
  EXPECT_EQ(r.learned->name, "exams.example") << "that exact name, not its subdomains";
  EXPECT_EQ(r.learned->ja4, kPinnedApp) << "that client app only";
  EXPECT_EQ(r.learned->source, "learned");
  EXPECT_EQ(r.learned->ttl, absl::Hours(2));
  ASSERT_TRUE(r.learned->evidence);
  EXPECT_EQ(r.learned->evidence->failures, 3u);
  EXPECT_EQ(r.learned->evidence->first_seen, absl::FromUnixSeconds(1'800'000'000));
  EXPECT_EQ(r.learned->evidence->last_seen, now_);
  EXPECT_EQ(r.learned->evidence->reasons,
            (std::vector<std::string>{"alert unknown_ca", "closed after certificate"}));
  EXPECT_EQ(r.learned->evidence->clients, (std::vector<std::string>{"10.0.2.15", "10.0.2.16"}));
  EXPECT_EQ(r.learned->reason,
            "learned: 3 certificate rejections within 10m (alert unknown_ca, closed after "
            "certificate)");
  EXPECT_EQ(learner.counters().learned, 1u);
  EXPECT_EQ(learner.counters().keys, 0u) << "a learned key is handed over, not counted on";
}

TEST_F(BypassLearnerTest, OtherAppsAndOtherNamesCountApart) {
  BypassLearner learner({.failures = 2});
  report(learner, failure("exams.example"));
  EXPECT_FALSE(report(learner, failure("exams.example", kBrowser)).learned);
  EXPECT_FALSE(report(learner, failure("other.example")).learned);
  EXPECT_EQ(learner.counters().keys, 3u);
  EXPECT_TRUE(report(learner, failure("exams.example")).learned);
}

TEST_F(BypassLearnerTest, RejectionsOutsideTheWindowDoNotCount) {
  BypassLearner learner({.failures = 3, .window = absl::Minutes(10)});
  report(learner, failure("exams.example", kPinnedApp, "10.0.2.15", "alert bad_certificate"));
  now_ += absl::Minutes(6);
  report(learner, failure("exams.example"));
  now_ += absl::Minutes(6);  // the first is now older than the window
  LearnResult r = report(learner, failure("exams.example"));
  EXPECT_EQ(r.failures, 2u);
  EXPECT_FALSE(r.learned);
  now_ += absl::Minutes(11);  // all of them are
  r = report(learner, failure("exams.example"));
  EXPECT_EQ(r.failures, 1u);
  now_ += absl::Minutes(1);
  report(learner, failure("exams.example"));
  r = report(learner, failure("exams.example"));
  ASSERT_TRUE(r.learned);
  EXPECT_EQ(r.learned->evidence->reasons, std::vector<std::string>{"alert unknown_ca"})
      << "evidence starts again with the window";
}

TEST_F(BypassLearnerTest, BadReportsAreRefusedSayingWhatToFix) {
  BypassLearner learner({});
  auto message = [&](const CertificateFailure& f) {
    absl::StatusOr<LearnResult> r = learner.report(f, now_);
    EXPECT_FALSE(r.ok());
    return std::string(r.status().message());
  };
  EXPECT_EQ(message(failure(".exams.example")),
            "sni: '.exams.example' is not a server name such as www.example.com");
  EXPECT_EQ(message(failure("")), "sni: '' is not a server name such as www.example.com");
  EXPECT_EQ(message(failure("exams.example", "t13d")),
            "ja4: 't13d' is not a JA4 fingerprint (36 characters, e.g. "
            "t13d1516h2_8daaf6152771_e5627efa2ab1)");
  EXPECT_EQ(message(failure("exams.example", kPinnedApp, "10.0.0.0/8")),
            "client: '10.0.0.0/8' is not an address such as 10.0.2.15");
  EXPECT_EQ(message(failure("exams.example", kPinnedApp, "10.0.2.15", std::string(200, 'x'))),
            "reason: at most 128 bytes");
  EXPECT_EQ(learner.counters().reports, 0u);
}

// One device failing again and again (a pupil's client dressed in a browser's JA4) teaches
// nothing while distinct_clients asks for more than one; a second device's report then does,
// however many times the first one reported.
TEST_F(BypassLearnerTest, DistinctClientsKeepsOneDeviceFromTeachingABypass) {
  BypassLearner learner({.failures = 3, .distinct_clients = 2, .window = absl::Minutes(10)});
  for (int i = 0; i < 10; ++i) {
    LearnResult r = report(learner, failure("exams.example", kBrowser, "10.0.2.15"));
    EXPECT_FALSE(r.learned) << i;
    EXPECT_EQ(r.clients, 1u);
  }
  now_ += absl::Minutes(1);
  LearnResult r = report(learner, failure("exams.example", kBrowser, "10.0.2.99"));
  ASSERT_TRUE(r.learned);
  EXPECT_EQ(r.clients, 2u);
  EXPECT_EQ(r.learned->evidence->clients, (std::vector<std::string>{"10.0.2.15", "10.0.2.99"}));
  EXPECT_EQ(r.learned->reason,
            "learned: 5 certificate rejections from 2 clients within 10m (alert unknown_ca)");
  // The first device's reports age out of the window like any others.
  report(learner, failure("other.example", kBrowser, "10.0.2.15"));
  now_ += absl::Minutes(11);
  EXPECT_FALSE(report(learner, failure("other.example", kBrowser, "10.0.2.16")).learned);
}

TEST_F(BypassLearnerTest, AFullTableForgetsTheLeastRecentKey) {
  BypassLearner learner({.failures = 2, .window = absl::Hours(1), .max_keys = 2});
  report(learner, failure("a.example"));
  now_ += absl::Seconds(1);
  report(learner, failure("b.example"));
  now_ += absl::Seconds(1);
  report(learner, failure("c.example"));  // a.example goes
  EXPECT_EQ(learner.counters().keys, 2u);
  EXPECT_EQ(learner.counters().keys_evicted, 1u);
  EXPECT_EQ(report(learner, failure("a.example")).failures, 1u) << "a.example started again";
  EXPECT_TRUE(report(learner, failure("c.example")).learned);
}

}  // namespace
}  // namespace sluice
