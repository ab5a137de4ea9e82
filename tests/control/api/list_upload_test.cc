// PUT /v1/policy/lists/NAME with the real config loader and policy compiler on real files.
#include "control/api/list_upload.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ListUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-upload-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "lists");
    std::ofstream(dir_ / "lists/blocklist.txt") << "blocked.test\n";
    chmod((dir_ / "lists/blocklist.txt").c_str(), 0640);
    std::ofstream(dir_ / "lists/ips.txt") << "10.0.0.2\n";
    config_ = (dir_ / "sluice.yaml").string();
    std::ofstream(config_) << R"(ports:
  - {name: in, device: "net_null0"}
  - {name: out, device: "net_null1"}
pairs: [{inside: in, outside: out}]
lcores: {workers: [1]}
policy:
  rules:
    - {name: blocks, kind: domains, files: [lists/blocklist.txt], action: block}
    - {name: ips, kind: cidrs, files: [lists/ips.txt], action: block}
)";
    sources_.config_path = config_;
    sources_.reload = [this](std::string origin) -> absl::StatusOr<ReloadResult> {
      ReloadResult r;
      r.number = 1;
      r.origin = std::move(origin);
      r.ok = reload_ok_;
      r.message = reload_ok_ ? "" : "something else is wrong";
      r.generation = 2;
      return r;
    };
    add_list_upload_endpoint(router_, sources_, 1 << 20);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ApiResponse put(const std::string& path, std::string body) {
    ApiResponse error;
    const ApiRouter::Route* route = router_.find("PUT", path, error);
    if (route == nullptr) return error;
    ApiRequest r;
    r.method = "PUT";
    r.path = path;
    r.path_tail = path.substr(std::string("/v1/policy/lists/").size());
    const size_t q = r.path_tail.find('?');
    if (q != std::string::npos) {
      r.query["reload"] = r.path_tail.substr(q + std::string("?reload=").size());
      r.path_tail.resize(q);
    }
    r.body = std::move(body);
    return route->handler(r);
  }

  std::filesystem::path dir_;
  std::string config_;
  ApiSources sources_;
  ApiRouter router_;
  bool reload_ok_ = true;
};

TEST_F(ListUploadTest, AValidListReplacesTheFileKeepingItsMode) {
  const ApiResponse r = put("/v1/policy/lists/blocklist.txt", "# new\nblocked.test\n.more.test\n");
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["list"]["format"], "domains");
  EXPECT_EQ(j["list"]["entries"], 2);
  EXPECT_EQ(read(dir_ / "lists/blocklist.txt"), "# new\nblocked.test\n.more.test\n");
  struct stat st;
  ASSERT_EQ(stat((dir_ / "lists/blocklist.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  for (const auto& e : std::filesystem::directory_iterator(dir_ / "lists"))
    EXPECT_EQ(e.path().filename().string().find(".upload-"), std::string::npos) << e.path();
}

TEST_F(ListUploadTest, ABadListIsRefusedWithItsLineAndTheFileStays) {
  ApiResponse r = put("/v1/policy/lists/blocklist.txt", "ok.test\nnot a name\n");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("blocklist.txt:2"), std::string::npos) << r.body;
  r = put("/v1/policy/lists/ips.txt", "10.0.0.0/8\n10.1.2.3/8\n");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("ips.txt:2"), std::string::npos) << r.body;
  EXPECT_EQ(read(dir_ / "lists/blocklist.txt"), "blocked.test\n");
  EXPECT_EQ(read(dir_ / "lists/ips.txt"), "10.0.0.2\n");
}

TEST_F(ListUploadTest, UnknownListsAndPathsAre404) {
  ApiResponse r = put("/v1/policy/lists/other.txt", "a.test\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("lists: blocklist.txt, ips.txt"), std::string::npos) << r.body;
  EXPECT_EQ(put("/v1/policy/lists/a/b", "").status, 404);
  ApiResponse error;
  EXPECT_EQ(router_.find("PUT", "/v1/policy/lists/", error), nullptr);
  EXPECT_EQ(error.status, 404);
}

TEST_F(ListUploadTest, ReloadAfterTheUpload) {
  ApiResponse r = put("/v1/policy/lists/blocklist.txt?reload=1", "x.test\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["reload"]["generation"], 2);
  reload_ok_ = false;
  r = put("/v1/policy/lists/blocklist.txt?reload=1", "y.test\n");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("the list was written"), std::string::npos);
  EXPECT_EQ(read(dir_ / "lists/blocklist.txt"), "y.test\n");
  EXPECT_EQ(put("/v1/policy/lists/blocklist.txt?reload=yes", "z.test\n").status, 400);
}

TEST_F(ListUploadTest, ConfiguredListsNameWhatCanBeUploaded) {
  absl::StatusOr<std::vector<ConfiguredList>> l = configured_lists(config_);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "blocklist.txt");
  EXPECT_EQ((*l)[1].format, "addresses");
}

}  // namespace
}  // namespace sluice
