// The reloader with the real config loader, policy compiler and publisher (the publisher's RCU
// state needs no EAL): builds off the caller's thread, one at a time, and a refused policy
// leaves the running one in place.
#include "dataplane/app/policy_reloader.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace sluice {
namespace {

class PolicyReloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-reloader-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    write_list({"blocked.test"});
    std::ofstream(dir_ / "sluice.yaml") << R"(ports:
  - {name: in, device: "net_null0"}
  - {name: out, device: "net_null1"}
pairs: [{inside: in, outside: out}]
lcores: {workers: [1]}
policy:
  rules:
    - {name: blocks, kind: domains, files: [blocklist.txt], action: block}
)";
    absl::StatusOr<std::unique_ptr<PolicyPublisher>> p = PolicyPublisher::create(1);
    ASSERT_TRUE(p.ok()) << p.status();
    publisher_ = std::move(*p);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_list(const std::vector<std::string>& names) {
    std::ofstream out(dir_ / "blocklist.txt.new");
    for (const std::string& n : names) out << n << "\n";
    out.close();
    std::filesystem::rename(dir_ / "blocklist.txt.new", dir_ / "blocklist.txt");
  }
  std::unique_ptr<PolicyReloader> make() {
    return std::make_unique<PolicyReloader>((dir_ / "sluice.yaml").string(), *publisher_, 1,
                                            [this](const std::string& line) {
                                              absl::MutexLock lock(&log_mu_);
                                              log_.push_back(line);
                                            });
  }
  std::vector<std::string> log() {
    absl::MutexLock lock(&log_mu_);
    return log_;
  }

  std::filesystem::path dir_;
  std::unique_ptr<PolicyPublisher> publisher_;
  absl::Mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(PolicyReloaderTest, ReloadPublishesAndCountsTheLoad) {
  auto reloader = make();
  absl::StatusOr<ReloadResult> r = reloader->reload("api");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok) << r->message;
  EXPECT_EQ(r->number, 1u);
  EXPECT_EQ(r->origin, "api");
  EXPECT_EQ(r->generation, 1u);  // this publisher had nothing before
  EXPECT_LE(r->started, r->finished);
  EXPECT_NE(publisher_->current().description.find("(load 2)"), std::string::npos)
      << publisher_->current().description;
  EXPECT_EQ(publisher_->current().policy_generation, 2u) << "the load number is the snapshot's";
  EXPECT_NE(publisher_->current().summary.find("policy generation 2"), std::string::npos)
      << publisher_->current().summary;
  const ReloadState s = reloader->state();
  EXPECT_FALSE(s.building);
  EXPECT_EQ(s.succeeded, 1u);
  EXPECT_EQ(s.last.number, 1u);
  ASSERT_EQ(log().size(), 1u);
  EXPECT_NE(log()[0].find("policy reloaded (generation 1, api"), std::string::npos) << log()[0];
}

TEST_F(PolicyReloaderTest, ARefusedPolicyLeavesTheRunningOne) {
  auto reloader = make();
  ASSERT_TRUE(reloader->reload("SIGHUP")->ok);
  write_list({"blocked.test", "not a name"});
  absl::StatusOr<ReloadResult> r = reloader->reload("api");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->message.find("blocklist.txt:2"), std::string::npos) << r->message;
  EXPECT_EQ(r->generation, 1u);
  EXPECT_EQ(publisher_->generation(), 1u);
  EXPECT_EQ(reloader->state().failed, 1u);
  EXPECT_NE(log().back().find("policy reload refused, the running policy stays"), std::string::npos);
}

TEST_F(PolicyReloaderTest, OneBuildsAtATimeTheOthersAreRefused) {
  std::vector<std::string> many = {"blocked.test"};
  for (int i = 0; i < 200000; ++i) many.push_back("n" + std::to_string(i) + ".filler.invalid");
  write_list(many);
  auto reloader = make();
  absl::StatusOr<uint64_t> first = reloader->start("api");
  ASSERT_TRUE(first.ok());
  absl::StatusOr<uint64_t> second = reloader->start("SIGHUP");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("reload 1 (api"), std::string::npos) << second.status();
  EXPECT_TRUE(reloader->state().building);
  const ReloadResult r = reloader->wait(*first);
  EXPECT_TRUE(r.ok) << r.message;
  // Free again once it has finished.
  absl::StatusOr<uint64_t> third = reloader->start("SIGHUP");
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(*third, 2u);
  EXPECT_EQ(reloader->wait(*third).generation, 2u);
}

TEST_F(PolicyReloaderTest, StoppingWaitsForABuildInProgress) {
  auto reloader = make();
  ASSERT_TRUE(reloader->start("api").ok());
  reloader.reset();
  EXPECT_EQ(publisher_->generation(), 1u) << "the started build completed before the stop";
}

}  // namespace
}  // namespace sluice
