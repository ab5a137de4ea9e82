// PolicyPublisher with the real rte_rcu_qsbr and real compiled policies: grace periods, a
// stalled worker, drain at shutdown, and two worker threads deciding flows while the management
// thread publishes a hundred policies (run under ASan in CI: a bundle freed too early is a
// use-after-free there, and a counted violation everywhere).
#include "dataplane/dpdk/policy_publisher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"
#include "dataplane/policy/snapshot_judge.h"
#include "tests/dataplane/dpdk_rcu/test_policy.h"

namespace sluice {
namespace {

using test::compile_generation;
using test::tls_flow;

// The generations freed so far, in order (the publisher frees on the calling thread).
struct FreedLog {
  std::set<uint64_t> freed;
  test::FreedHook hook() {
    return [this](uint64_t g) { freed.insert(g); };
  }
  bool has(uint64_t g) const { return freed.count(g) != 0; }
};

std::unique_ptr<PolicyPublisher> make_publisher(uint16_t workers) {
  auto p = PolicyPublisher::create(workers);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

Decision decide(FlowJudge* judge, std::string_view name) {
  FlowDecision out;
  judge->decide(tls_flow(name), out);
  return out.decision;
}

TEST(PolicyPublisherTest, NothingPublishedMeansNoJudge) {
  auto pub = make_publisher(2);
  ASSERT_NE(pub, nullptr);
  EXPECT_EQ(pub->judge_for(0), nullptr);
  EXPECT_EQ(pub->judge_for(1), nullptr);
  EXPECT_EQ(pub->generation(), 0u);
  EXPECT_EQ(pub->current().generation, 0u);
  EXPECT_EQ(pub->reclaim(), 0u);
  EXPECT_TRUE(pub->drain(absl::ZeroDuration()).ok());
}

TEST(PolicyPublisherTest, RefusesZeroWorkersAndNoSnapshot) {
  EXPECT_EQ(PolicyPublisher::create(0).status().code(), absl::StatusCode::kInvalidArgument);
  auto pub = make_publisher(1);
  ASSERT_NE(pub, nullptr);
  absl::Status s = pub->publish(nullptr, Verdict::kPass, "nothing");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(pub->generation(), 0u);
}

TEST(PolicyPublisherTest, EachWorkerGetsItsOwnJudgeOfTheNewPolicy) {
  test::TempDir dir;
  auto pub = make_publisher(2);
  ASSERT_NE(pub, nullptr);
  const absl::Time before = absl::Now();
  ASSERT_TRUE(pub->publish(compile_generation(dir.path(), 7), Verdict::kPass, "first").ok());

  FlowJudge* j0 = pub->judge_for(0);
  FlowJudge* j1 = pub->judge_for(1);
  ASSERT_NE(j0, nullptr);
  ASSERT_NE(j1, nullptr);
  EXPECT_NE(j0, j1) << "workers must not share a judge: each owns its scratch";
  EXPECT_EQ(decide(j0, "www.gen7.example").rule, "gen_7");
  EXPECT_EQ(decide(j1, "www.gen7.example").action.verdict, Verdict::kBlock);
  EXPECT_EQ(decide(j0, "www.gen8.example").rule, "default");

  PublishedPolicy p = pub->current();
  EXPECT_EQ(p.generation, 1u);
  EXPECT_EQ(p.policy_generation, 7u);
  EXPECT_EQ(p.description, "first");
  EXPECT_NE(p.summary.find("policy generation 7"), std::string::npos) << p.summary;
  EXPECT_GE(p.published_at, before);
  EXPECT_LE(p.published_at, absl::Now());

  ASSERT_TRUE(pub->publish(compile_generation(dir.path(), 8), Verdict::kPass, "second").ok());
  EXPECT_EQ(pub->generation(), 2u);
  EXPECT_EQ(pub->current().description, "second");
  EXPECT_EQ(decide(pub->judge_for(0), "www.gen8.example").rule, "gen_8");
  EXPECT_EQ(decide(pub->judge_for(1), "www.gen7.example").rule, "default");
}

// A bypass set is published beside the running policy: same snapshot, new judges, and the
// set survives the next policy publication. Set before any policy, it waits for the first.
TEST(PolicyPublisherTest, BypassSetsRideAlongWithThePolicy) {
  test::TempDir dir;
  auto pub = make_publisher(2);
  ASSERT_NE(pub, nullptr);
  BypassEntry e;
  e.id = 3;
  e.name = *parse_name_entry(".gen7.example");
  ASSERT_TRUE(pub->publish_bypass(BypassSet::build({e})).ok());
  EXPECT_EQ(pub->generation(), 0u) << "nothing to publish beside yet";

  ASSERT_TRUE(pub->publish(compile_generation(dir.path(), 7), Verdict::kPass, "first").ok());
  EXPECT_EQ(decide(pub->judge_for(0), "www.gen7.example").rule, "bypass");
  EXPECT_EQ(decide(pub->judge_for(1), "www.gen7.example").list, "bypass:3");
  EXPECT_EQ(decide(pub->judge_for(0), "x.every.example").rule, "gen_7");
  EXPECT_EQ(pub->current().bypass_entries, 1u);

  ASSERT_TRUE(pub->publish_bypass(nullptr).ok());
  EXPECT_EQ(pub->generation(), 2u);
  EXPECT_EQ(pub->current().description, "first") << "the policy stays";
  EXPECT_EQ(pub->current().policy_generation, 7u);
  EXPECT_EQ(pub->current().bypass_entries, 0u);
  EXPECT_EQ(decide(pub->judge_for(0), "www.gen7.example").rule, "gen_7");

  e.name = *parse_name_entry("www.gen8.example");
  ASSERT_TRUE(pub->publish_bypass(BypassSet::build({e})).ok());
  ASSERT_TRUE(pub->publish(compile_generation(dir.path(), 8), Verdict::kPass, "second").ok());
  EXPECT_EQ(decide(pub->judge_for(1), "www.gen8.example").rule, "bypass")
      << "a new policy keeps the bypass set";
  EXPECT_EQ(decide(pub->judge_for(1), "a.gen8.example").rule, "gen_8");
}

// Two workers online, played by this thread: worker ids are RCU thread ids, not OS threads.
class TwoOnlineWorkersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pub_ = make_publisher(2);
    ASSERT_NE(pub_, nullptr);
    pub_->online(0);
    pub_->online(1);
  }
  // Publishes generation `g`, logging when it is freed.
  void publish(uint64_t g) {
    absl::Status s = pub_->publish(compile_generation(dir_.path(), g, log_.hook()), Verdict::kPass,
                                   absl::StrCat("g", g));
    ASSERT_TRUE(s.ok()) << s;
  }

  test::TempDir dir_;
  FreedLog log_;
  std::unique_ptr<PolicyPublisher> pub_;
};

// The heart of RCU: a retired bundle lives until every online worker has reported since the
// swap.
TEST_F(TwoOnlineWorkersTest, AStalledWorkerKeepsTheOldPolicyAliveUntilItReports) {
  publish(1);
  FlowJudge* stalled = pub_->judge_for(1);  // worker 1 takes the judge, then stops reporting
  pub_->quiescent(0);

  publish(2);
  EXPECT_EQ(pub_->pending_reclaim(), 1u);
  // Worker 0 moves on and reports, many times; worker 1 does not.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(decide(pub_->judge_for(0), "x.gen2.example").rule, "gen_2");
    pub_->quiescent(0);
    EXPECT_EQ(pub_->reclaim(), 0u);
  }
  EXPECT_FALSE(log_.has(1));
  EXPECT_EQ(pub_->pending_reclaim(), 1u);
  // The stalled worker can still use what it loaded: the bundle is alive.
  EXPECT_EQ(decide(stalled, "x.gen1.example").rule, "gen_1");

  pub_->quiescent(1);
  EXPECT_EQ(pub_->reclaim(), 1u);
  EXPECT_TRUE(log_.has(1));
  EXPECT_FALSE(log_.has(2));
  EXPECT_EQ(pub_->pending_reclaim(), 0u);
  EXPECT_EQ(pub_->stats().reclaimed, 1u);
}

TEST_F(TwoOnlineWorkersTest, GracePeriodsEndInOrderAndSkipOfflineWorkers) {
  publish(1);
  publish(2);
  pub_->quiescent(0);
  pub_->quiescent(1);  // after generation 1 was retired: its grace period is over
  publish(3);
  // publish() reclaims what it can: 1 went, 2 waits for reports made after its retirement.
  EXPECT_TRUE(log_.has(1));
  EXPECT_FALSE(log_.has(2));
  EXPECT_EQ(pub_->pending_reclaim(), 1u);

  // A worker that goes offline no longer holds grace periods back.
  pub_->quiescent(0);
  pub_->offline(1);
  EXPECT_EQ(pub_->reclaim(), 1u);
  EXPECT_TRUE(log_.has(2));
  // Back online, it counts again.
  pub_->online(1);
  publish(4);
  pub_->quiescent(0);
  EXPECT_EQ(pub_->reclaim(), 0u);
  EXPECT_FALSE(log_.has(3));
  pub_->quiescent(1);
  EXPECT_EQ(pub_->reclaim(), 1u);
  EXPECT_TRUE(log_.has(3));
}

TEST_F(TwoOnlineWorkersTest, DrainWaitsForOnlineWorkersAndNotForOfflineOnes) {
  publish(1);
  publish(2);
  absl::Status stuck = pub_->drain(absl::Milliseconds(20));
  EXPECT_EQ(stuck.code(), absl::StatusCode::kDeadlineExceeded) << stuck;
  EXPECT_NE(stuck.message().find("generation 1"), std::string::npos) << stuck;
  EXPECT_FALSE(log_.has(1));

  // Shutdown: workers go offline, then drain returns at once.
  pub_->offline(0);
  pub_->offline(1);
  EXPECT_TRUE(pub_->drain().ok());
  EXPECT_TRUE(log_.has(1));
  EXPECT_EQ(pub_->pending_reclaim(), 0u);
  // The running policy stays until the publisher goes.
  EXPECT_FALSE(log_.has(2));
  pub_.reset();
  EXPECT_TRUE(log_.has(2));
}

// What the two worker threads and the management thread share.
struct Hammer {
  static constexpr uint16_t kWorkers = 2;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> in_use[kWorkers] = {};  // generation a worker is deciding with; 0 between
  std::atomic<uint64_t> seen[kWorkers] = {};    // newest generation a worker has decided with
  std::atomic<int64_t> longest_switch_ns[kWorkers] = {};
  std::atomic<uint64_t> decisions{0};
  std::atomic<uint64_t> violations{0};  // freed while in use, a wrong decision, time going back
  std::mutex error_mu;
  std::string first_error;

  void violation(std::string what) {
    violations.fetch_add(1);
    std::lock_guard<std::mutex> lock(error_mu);
    if (first_error.empty()) first_error = std::move(what);
  }
};

// The worker loop's contract from policy_publisher.h, with a check of every decision.
void worker_loop(PolicyPublisher& pub, uint16_t w, Hammer& h) {
  pub.online(w);
  FlowJudge* judge = nullptr;  // what inspector.set_judge() would hold
  uint64_t last = 0;
  while (!h.stop.load(std::memory_order_relaxed)) {
    const auto start = std::chrono::steady_clock::now();
    FlowJudge* j = pub.judge_for(w);
    if (j != judge) {
      judge = j;
      const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
      if (ns > h.longest_switch_ns[w].load()) h.longest_switch_ns[w].store(ns);
    }
    if (judge != nullptr) {
      const uint64_t g = static_cast<SnapshotJudge*>(judge)->snapshot().generation();
      h.in_use[w].store(g);
      if (g < last) h.violation(absl::StrCat("worker ", w, " went back from ", last, " to ", g));
      last = g;
      const std::string rule = absl::StrCat("gen_", g);
      for (const std::string& name :
           {absl::StrCat("www.gen", g, ".example"), std::string("cdn.every.example")}) {
        Decision d = decide(judge, name);
        if (d.rule != rule || d.action.verdict != Verdict::kBlock ||
            d.list != absl::StrCat("gen", g)) {
          h.violation(absl::StrCat("worker ", w, ": ", name, " under generation ", g, " gave rule ",
                                   av(d.rule), " list ", av(d.list)));
        }
      }
      if (decide(judge, absl::StrCat("www.gen", g + 1, ".example")).rule != "default") {
        h.violation(absl::StrCat("worker ", w, ": generation ", g, " blocked the next one's name"));
      }
      h.decisions.fetch_add(3, std::memory_order_relaxed);
      h.in_use[w].store(0);
      h.seen[w].store(g);
    }
    pub.quiescent(w);  // nothing of the bundle is used past this line
  }
  pub.offline(w);
}

TEST(PolicyPublisherTest, TwoWorkersDecideWhileAHundredPoliciesArePublished) {
  constexpr uint64_t kPolicies = 100;
  test::TempDir dir;
  Hammer h;
  std::set<uint64_t> freed;
  // Runs on this thread (publish/reclaim/drain free bundles on the caller's thread).
  auto on_freed = [&](uint64_t g) {
    freed.insert(g);
    for (uint16_t w = 0; w < Hammer::kWorkers; ++w) {
      if (h.in_use[w].load() == g)
        h.violation(absl::StrCat("generation ", g, " freed while worker ", w, " used it"));
    }
  };
  auto pub = make_publisher(Hammer::kWorkers);
  ASSERT_NE(pub, nullptr);
  std::vector<std::thread> workers;
  // Stops and joins the workers on every way out of the test, a failed ASSERT included.
  auto stop_workers = [&] {
    h.stop.store(true);
    for (auto& t : workers) {
      if (t.joinable()) t.join();
    }
  };
  struct Joiner {
    std::function<void()> fn;
    ~Joiner() { fn(); }
  } joiner{stop_workers};
  for (uint16_t w = 0; w < Hammer::kWorkers; ++w) {
    workers.emplace_back(worker_loop, std::ref(*pub), w, std::ref(h));
  }

  size_t freed_while_running = 0;
  for (uint64_t g = 1; g <= kPolicies; ++g) {
    auto snapshot = compile_generation(dir.path(), g, on_freed);
    ASSERT_NE(snapshot, nullptr);
    absl::Status s = pub->publish(std::move(snapshot), Verdict::kPass, absl::StrCat("policy ", g));
    ASSERT_TRUE(s.ok()) << s;
    ASSERT_EQ(pub->generation(), g);
    pub->reclaim();
    freed_while_running = freed.size();
  }
  // Every worker switches to the last policy.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while ((h.seen[0].load() != kPolicies || h.seen[1].load() != kPolicies) &&
         std::chrono::steady_clock::now() < deadline) {
    pub->reclaim();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(h.seen[0].load(), kPolicies);
  EXPECT_EQ(h.seen[1].load(), kPolicies);

  stop_workers();
  ASSERT_TRUE(pub->drain(absl::Seconds(10)).ok());
  EXPECT_EQ(h.violations.load(), 0u) << h.first_error;
  EXPECT_GT(h.decisions.load(), 0u);
  // Every replaced policy was freed, exactly once, and the running one was not.
  EXPECT_EQ(freed.size(), kPolicies - 1);
  EXPECT_EQ(freed.count(kPolicies), 0u);
  const PublisherStats st = pub->stats();
  EXPECT_EQ(st.published, kPolicies);
  EXPECT_EQ(st.reclaimed, kPolicies - 1);
  EXPECT_EQ(st.pending, 0u);
  // Figures, not assertions (the machine is shared): what a swap costs on each side.
  std::cout << "[ figures  ] publish last " << absl::FormatDuration(st.last_publish) << ", longest "
            << absl::FormatDuration(st.longest_publish) << "; longest grace period "
            << absl::FormatDuration(st.longest_grace) << "; worker-side switch longest "
            << h.longest_switch_ns[0].load() << " ns / " << h.longest_switch_ns[1].load() << " ns; "
            << freed_while_running << " freed while running; " << h.decisions.load()
            << " decisions\n";
  pub.reset();
  EXPECT_EQ(freed.size(), kPolicies);
}

}  // namespace
}  // namespace sluice
