// One EAL for the whole dpdk_rcu_tests binary, initialised before the first test (DPDK cannot be
// initialised twice in a process). Unlike the other EAL tests this one keeps telemetry on: the
// telemetry tests talk to the real socket under the EAL's runtime directory.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/dpdk/eal.h"

namespace sluice {
namespace {

class RcuEalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = no_hardware_eal_args("dpdk_rcu_tests", 256);
    args.erase(std::remove(args.begin(), args.end(), "--no-telemetry"), args.end());
    // Our own prefix, so a leftover runtime directory says which binary left it.
    auto prefix = std::find(args.begin(), args.end(), "--file-prefix");
    ASSERT_NE(prefix, args.end());
    *(prefix + 1) = absl::StrCat("sluice-rcu-", getpid());
    absl::Status s = init_eal(args);
    ASSERT_TRUE(s.ok()) << s;
    runtime_dir_ = rte_eal_get_runtime_dir();
  }

  void TearDown() override {
    rte_eal_cleanup();
    // The runtime directory (telemetry socket, config) is per process: leave nothing behind.
    std::error_code ignored;
    if (!runtime_dir_.empty()) std::filesystem::remove_all(runtime_dir_, ignored);
  }

 private:
  std::string runtime_dir_;
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new RcuEalEnvironment);

}  // namespace
}  // namespace sluice
