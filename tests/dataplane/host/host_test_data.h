// Paths of the fake hosts and the run configuration the host tests read (tests/data/host/).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "dataplane/config/run_config.h"

namespace sluice::testing {

inline std::string host_data(const std::string& name) {
  return std::string(SLUICE_SOURCE_DIR) + "/tests/data/host/" + name;
}

// tests/data/host/appliance.yaml, parsed as `sluice check-host` does.
RunConfig appliance_config();
// The same with `from` replaced by `to` in its text first (and `from2` by `to2`).
RunConfig appliance_config_with(const std::string& from, const std::string& to,
                                const std::string& from2 = "", const std::string& to2 = "");

}  // namespace sluice::testing
