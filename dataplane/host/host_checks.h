// `sluice check-host`: the host, as read into HostFacts, against a `sluice run` configuration.
// Pure functions of their inputs (facts, config, sizing, plan): tests give them fake trees.
#pragma once

#include <string>
#include <vector>

#include "dataplane/config/run_config.h"
#include "dataplane/host/host_facts.h"
#include "dataplane/host/host_plan.h"
#include "dataplane/host/sizing.h"

namespace sluice {

enum class FindingLevel : uint8_t {
  kOk,    // checked and fine
  kNote,  // nothing to fix, but worth knowing (a test layout, an unknown the host cannot tell)
  kGap,   // wrong for this config: `fix` says what to do; check-host exits 1
};

struct HostFinding {
  std::string check;  // "hugepages", "isolation", "cmdline", "irqs", "nic", "numa", "cpu", ...
  FindingLevel level = FindingLevel::kOk;
  std::string detail;  // what was found, with the numbers
  std::string fix;     // for a gap: the command or setting that closes it
};

std::vector<HostFinding> check_host(const RunConfig& config, const HostFacts& facts,
                                    const Sizing& sizing, const HostPlan& plan);

// The `policy` finding: every list the rules name was read (the counts sizing used), or a gap
// naming those that cannot be (`lists`, from count_policy_inputs).
HostFinding check_policy_lists(const RunConfig& config, const SizingInputs& inputs,
                               const absl::Status& lists);

bool has_gap(const std::vector<HostFinding>& findings);

}  // namespace sluice
