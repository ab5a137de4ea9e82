#include "control/audit_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

class AuditFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-audit-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.path = (dir_ / "audit.jsonl").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::filesystem::path dir_;
  AuditFileOptions options_;
};

TEST_F(AuditFileTest, WritesLinesAndFlushes) {
  auto file = AuditFile::open(options_, kSecond);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->write_line(R"({"a":1})", kSecond).ok());
  ASSERT_TRUE((*file)->write_line(R"({"a":2})", kSecond).ok());
  EXPECT_EQ(read(options_.path), "") << "buffered until flush";
  ASSERT_TRUE((*file)->flush().ok());
  EXPECT_EQ(read(options_.path), "{\"a\":1}\n{\"a\":2}\n");
}

TEST_F(AuditFileTest, RotatesBySizeKeepingTheNewestFiles) {
  options_.max_bytes = 100;
  options_.keep = 2;
  options_.buffer_bytes = 16;
  auto file = AuditFile::open(options_, kSecond);
  ASSERT_TRUE(file.ok());
  const std::string line(39, 'x');  // 40 bytes with the newline: two per file
  for (int i = 0; i < 7; ++i) ASSERT_TRUE((*file)->write_line(line, kSecond).ok());
  ASSERT_TRUE((*file)->flush().ok());
  EXPECT_EQ((*file)->rotations(), 3u);
  EXPECT_EQ(read(options_.path).size(), 40u);
  EXPECT_EQ(read(options_.path + ".1").size(), 80u);
  EXPECT_EQ(read(options_.path + ".2").size(), 80u);
  EXPECT_FALSE(std::filesystem::exists(options_.path + ".3")) << "only `keep` rotated files";
}

TEST_F(AuditFileTest, RotatesByAge) {
  options_.max_age_ns = 60 * kSecond;
  auto file = AuditFile::open(options_, kSecond);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->write_line("first", kSecond).ok());
  ASSERT_TRUE((*file)->write_line("second", 30 * kSecond).ok());
  ASSERT_TRUE((*file)->write_line("third", 62 * kSecond).ok());
  ASSERT_TRUE((*file)->flush().ok());
  EXPECT_EQ(read(options_.path + ".1"), "first\nsecond\n");
  EXPECT_EQ(read(options_.path), "third\n");
}

TEST_F(AuditFileTest, ReopenFollowsAnExternalRotation) {
  auto file = AuditFile::open(options_, kSecond);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->write_line("before", kSecond).ok());
  ASSERT_TRUE((*file)->flush().ok());
  std::filesystem::rename(options_.path, options_.path + ".moved");  // what logrotate does
  ASSERT_TRUE((*file)->write_line("pending", kSecond).ok());
  ASSERT_TRUE((*file)->reopen(kSecond).ok());  // SIGHUP
  ASSERT_TRUE((*file)->write_line("after", kSecond).ok());
  ASSERT_TRUE((*file)->flush().ok());
  EXPECT_EQ(read(options_.path + ".moved"), "before\npending\n") << "nothing lost at the switch";
  EXPECT_EQ(read(options_.path), "after\n");
}

TEST_F(AuditFileTest, UnwritablePathIsAClearError) {
  options_.path = (dir_ / "no-such-dir" / "audit.jsonl").string();
  auto file = AuditFile::open(options_, kSecond);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("cannot open audit file"), std::string::npos);
  EXPECT_NE(file.status().message().find("no-such-dir"), std::string::npos);
}

TEST_F(AuditFileTest, AppendsToAnExistingFile) {
  { std::ofstream(options_.path) << "old\n"; }
  auto file = AuditFile::open(options_, kSecond);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ((*file)->bytes_in_file(), 4u);
  ASSERT_TRUE((*file)->write_line("new", kSecond).ok());
  ASSERT_TRUE((*file)->flush().ok());
  EXPECT_EQ(read(options_.path), "old\nnew\n");
}

}  // namespace
}  // namespace sluice
