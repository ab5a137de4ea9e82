// The policy section of a `sluice run` configuration as the policy library's PolicySource: one
// list per rule file, one rule per configured rule, the defaults mapped onto the library's.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "dataplane/config/run_config.h"
#include "dataplane/policy/policy_snapshot.h"
#include "dataplane/policy/policy_source.h"

namespace sluice {

// Lists are named after their file's basename (what audit records show in `list`); a file used
// by several rules of the same kind is one list. Two different files with one basename, or one
// file used as two kinds, get `#2`, `#3`, ... appended so every name is unique. Paths are used
// as given (load_run_config has resolved them). Anomaly defaults become one-anomaly sets named
// `default_anomaly_<anomaly>`, in file order.
absl::StatusOr<PolicySource> policy_source_from_config(const PolicyConfig& config,
                                                       std::string description);

// Reads the configuration at `path` and compiles its policy: what `sluice replay --config` and
// `sluice run` (at start and on every reload) both do. Errors name the file and line.
struct ConfiguredPolicy {
  std::unique_ptr<const PolicySnapshot> snapshot;
  Verdict intercept_fallback = Verdict::kPass;
};
// `load` numbers the loads of one process (1 at start, then each reload): it becomes the
// snapshot's generation, which status output and the audit of a swap name.
absl::StatusOr<ConfiguredPolicy> load_configured_policy(const std::string& path, uint64_t load = 1);

}  // namespace sluice
