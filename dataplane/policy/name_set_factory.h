// Which NameSet a compiled policy uses for a list of a given size.
//
// Measured by perf/policy_bench.cc (both matchers, same synthetic data, same run; 2-core shared
// VM, table in perf/policy_bench.cc's header: at 1k, hash walk 49/68 ns hit/miss and 35 B/name
// against Hyperscan literal 134/107 ns and 258 B/name; at 10k the literal build takes 56 s, at
// 100k more than 4 minutes and 10 GB): the hash walk builds thousands of times
// faster, takes a fraction of the memory and answers faster at every size measured, so it is used
// at every size. Hyperscan literal mode stays as the measured alternative and as the reference
// in the differential test; Hyperscan proper serves the pattern lists.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/policy/name_entry.h"
#include "dataplane/policy/name_set.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<NameSet>> make_name_set(const std::vector<NameEntry>& entries);

}  // namespace sluice
