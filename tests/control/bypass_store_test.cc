// BypassStore: validation, the state file (written atomically on every change, read back after
// a restart, expired entries dropped, a damaged file refused), TTLs and limits.
#include "control/bypass_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace sluice {
namespace {

class BypassStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("bypass-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "bypass.json").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<BypassStore> open(size_t max = 100) {
    auto s = BypassStore::open(path_, max, now_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
  static BypassRequest request(std::string name, std::vector<std::string> clients = {}) {
    BypassRequest r;
    r.name = std::move(name);
    r.clients = std::move(clients);
    r.reason = "exam board app pins its certificate";
    return r;
  }
  std::string file_text() const {
    std::ifstream in(path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path dir_;
  std::string path_;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

TEST_F(BypassStoreTest, AMissingFileIsAnEmptyTable) {
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->list().empty());
  EXPECT_FALSE(std::filesystem::exists(path_)) << "nothing written before a change";
}

TEST_F(BypassStoreTest, EntriesSurviveARestartWithTheirDetails) {
  {
    auto store = open();
    auto a = store->add(request("Exams.Example.", {"10.0.2.0/24"}), now_);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->id, 1u);
    EXPECT_EQ(a->name, "exams.example") << "normalised";
    EXPECT_EQ(a->clients, std::vector<std::string>{"10.0.2.0/24"});
    BypassRequest timed = request(".updates.example");
    timed.ttl = absl::Hours(2);
    timed.source = "learned";
    auto b = store->add(timed, now_);
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->id, 2u);
    ASSERT_TRUE(b->expires.has_value());
    EXPECT_EQ(*b->expires, now_ + absl::Hours(2));
  }
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  now_ += absl::Hours(1);
  auto store = open();
  const std::vector<BypassRecord> list = store->list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "exams.example");
  EXPECT_EQ(list[0].reason, "exam board app pins its certificate");
  EXPECT_EQ(list[0].created, absl::FromUnixSeconds(1'800'000'000));
  EXPECT_EQ(list[1].name, ".updates.example");
  EXPECT_EQ(list[1].source, "learned");
  EXPECT_EQ(*list[1].expires, absl::FromUnixSeconds(1'800'000'000) + absl::Hours(2));
  auto c = store->add(request("new.example"), now_);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id, 3u) << "ids are never reused";
}

TEST_F(BypassStoreTest, ExpiredEntriesGoAtTheirTimeAndWhileStopped) {
  auto store = open();
  BypassRequest r = request("short.example");
  r.ttl = absl::Minutes(5);
  ASSERT_TRUE(store->add(r, now_).ok());
  ASSERT_TRUE(store->add(request("forever.example"), now_).ok());
  EXPECT_EQ(*store->expire(now_ + absl::Minutes(4)), 0u);
  EXPECT_EQ(*store->expire(now_ + absl::Minutes(5)), 1u);
  ASSERT_EQ(store->list().size(), 1u);
  EXPECT_EQ(store->list()[0].name, "forever.example");
  EXPECT_EQ(file_text().find("short.example"), std::string::npos) << "the file follows";

  r.name = "while-stopped.example";
  ASSERT_TRUE(store->add(r, now_).ok());
  store.reset();
  now_ += absl::Hours(1);
  store = open();
  ASSERT_EQ(store->list().size(), 1u);
  EXPECT_EQ(store->list()[0].name, "forever.example");
}

TEST_F(BypassStoreTest, RefusesWhatItCannotTrust) {
  auto store = open(2);
  auto bad = store->add(request("exa mple.com"), now_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("name:"), std::string::npos) << bad.status();
  bad = store->add(request("ok.example", {"10.1.2.3/8"}), now_);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("clients:"), std::string::npos) << bad.status();
  BypassRequest r = request("ok.example");
  r.ttl = absl::ZeroDuration();
  EXPECT_EQ(store->add(r, now_).status().code(), absl::StatusCode::kInvalidArgument);
  r = request("ok.example");
  r.reason = std::string(BypassStore::kMaxReasonBytes + 1, 'x');
  EXPECT_EQ(store->add(r, now_).status().code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(store->add(request("one.example"), now_).ok());
  auto twice = store->add(request("ONE.example."), now_);
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(twice.status().message().find("entry 1"), std::string::npos) << twice.status();
  EXPECT_TRUE(store->add(request("one.example", {"10.0.0.0/8"}), now_).ok())
      << "the same name for other clients is another entry";
  auto full = store->add(request("three.example"), now_);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("bypass.max_entries"), std::string::npos);

  EXPECT_EQ(store->remove(99).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store->remove(1).ok());
  EXPECT_EQ(store->list().size(), 1u);
}

TEST_F(BypassStoreTest, AChangeThatCannotBeWrittenIsNotMade) {
  auto store = open();
  ASSERT_TRUE(store->add(request("kept.example"), now_).ok());
  std::filesystem::remove_all(dir_);  // the state directory vanished
  auto r = store->add(request("lost.example"), now_);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path_), std::string::npos) << r.status();
  EXPECT_EQ(store->list().size(), 1u);
  EXPECT_FALSE(store->remove(1).ok());
  EXPECT_EQ(store->list().size(), 1u);
}

TEST_F(BypassStoreTest, ADamagedFileStopsTheStartWithWhatToDo) {
  for (const char* text : {"{not json", R"({"format":"other"})",
                           R"({"format":"sluice-bypass/1","entries":[{"id":1,"name":"a b"}]})",
                           R"({"format":"sluice-bypass/1","entries":[{"id":1,"name":"a.example"},{"id":1,"name":"b.example"}]})"}) {
    std::ofstream(path_) << text;
    auto s = BypassStore::open(path_, 10, now_);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_NE(s.status().message().find(path_), std::string::npos) << s.status();
    EXPECT_NE(s.status().message().find("move it aside"), std::string::npos) << s.status();
  }
}

TEST_F(BypassStoreTest, ALearnedEntryKeepsItsFingerprintAndEvidenceAcrossARestart) {
  constexpr char kApp[] = "t13d1311h1_e8f1e7e78f70_1f22a2ca17c4";
  {
    auto store = open();
    BypassRequest learned = request("exams.example");
    learned.ja4 = kApp;
    learned.source = "learned";
    learned.ttl = absl::Hours(24);
    learned.evidence = BypassEvidence{3, now_ - absl::Minutes(2), now_, {"alert unknown_ca"},
                                      {"10.0.2.15", "10.0.2.16"}};
    ASSERT_TRUE(store->add(learned, now_).ok());
    EXPECT_TRUE(store->add(request("exams.example"), now_).ok())
        << "every app to the same name is another entry";
    auto twice = store->add(learned, now_);
    EXPECT_EQ(twice.status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_NE(twice.status().message().find(std::string("for client app ") + kApp),
              std::string::npos)
        << twice.status();
    BypassRequest bad = request("exams.example");
    bad.ja4 = "t13d1311h1";
    auto refused = store->add(bad, now_);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("ja4:"), std::string::npos) << refused.status();
  }
  auto store = open();
  const std::vector<BypassRecord> list = store->list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].ja4, kApp);
  ASSERT_TRUE(list[0].evidence);
  EXPECT_EQ(list[0].evidence->failures, 3u);
  EXPECT_EQ(list[0].evidence->first_seen, now_ - absl::Minutes(2));
  EXPECT_EQ(list[0].evidence->clients, (std::vector<std::string>{"10.0.2.15", "10.0.2.16"}));
  EXPECT_TRUE(list[1].ja4.empty());
  EXPECT_FALSE(list[1].evidence);
  const nlohmann::json j = bypass_record_json(list[0]);
  EXPECT_EQ(j["ja4"], kApp);
  EXPECT_EQ(j["evidence"]["reasons"][0], "alert unknown_ca");
  EXPECT_TRUE(bypass_record_json(list[1])["ja4"].is_null());
  EXPECT_EQ(store->entries()[0].ja4, kApp) << "the workers' set is limited to the app";
}

TEST_F(BypassStoreTest, EntriesBuildTheSetWorkersUse) {
  auto store = open();
  ASSERT_TRUE(store->add(request(".app.example", {"10.0.2.0/24"}), now_).ok());
  const std::vector<BypassEntry> entries = store->entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].id, 1u);
  EXPECT_EQ(entries[0].name.name, "app.example");
  EXPECT_EQ(entries[0].name.scope, kScopeTree);
  ASSERT_EQ(entries[0].clients.size(), 1u);
  EXPECT_EQ(entries[0].clients[0].prefix_length, 96 + 24);
}

}  // namespace
}  // namespace sluice
