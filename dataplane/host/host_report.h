// Text for people: `sluice check-host` and `sluice plan-host` print these.
#pragma once

#include <string>
#include <vector>

#include "dataplane/host/host_checks.h"
#include "dataplane/host/host_plan.h"
#include "dataplane/host/sizing.h"

namespace sluice {

// One block per finding: "ok    check: detail", "note  ...", "GAP   check: detail" and
// "      fix: ..." under a gap; then a line counting the gaps.
std::string render_findings(const std::vector<HostFinding>& findings);

// The sizing figures with every term of each sum.
std::string render_sizing(const Sizing& sizing);

// The kernel command line, /etc/dpdk/dpdk.conf and /etc/dpdk/interfaces lines, and notes.
std::string render_plan(const HostPlan& plan);

}  // namespace sluice
