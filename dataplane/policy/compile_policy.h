// Builds a PolicySnapshot from a PolicySource: reads and checks every list, compiles name sets,
// pattern databases and address sets. Control path (management core). Any error refuses the
// whole policy with a message naming the file and line or the rule; the caller keeps running
// the snapshot it has.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "dataplane/policy/policy_snapshot.h"
#include "dataplane/policy/policy_source.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<const PolicySnapshot>> compile_policy(const PolicySource& source);

}  // namespace sluice
