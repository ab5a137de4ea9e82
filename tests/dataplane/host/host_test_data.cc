#include "tests/dataplane/host/host_test_data.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace sluice::testing {

RunConfig appliance_config_with(const std::string& from, const std::string& to,
                                const std::string& from2, const std::string& to2) {
  std::ifstream in(host_data("appliance.yaml"));
  std::ostringstream text;
  text << in.rdbuf();
  std::string yaml = text.str();
  for (const auto& [a, b] : {std::pair{from, to}, std::pair{from2, to2}}) {
    if (a.empty()) continue;
    const size_t at = yaml.find(a);
    EXPECT_NE(at, std::string::npos) << a;
    if (at != std::string::npos) yaml.replace(at, a.size(), b);
  }
  ConfigParseOptions options;
  options.base_dir = host_data("");
  absl::StatusOr<RunConfig> config = parse_run_config(yaml, "appliance.yaml", options);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : RunConfig{};
}

RunConfig appliance_config() { return appliance_config_with("", ""); }

}  // namespace sluice::testing
