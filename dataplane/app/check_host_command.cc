#include "dataplane/app/check_host_command.h"

#include <hs/hs.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataplane/config/run_config.h"
#include "dataplane/host/host_checks.h"
#include "dataplane/host/host_facts.h"
#include "dataplane/host/host_plan.h"
#include "dataplane/host/host_report.h"
#include "dataplane/host/sizing.h"

namespace sluice {
namespace {

// Everything both commands work from.
struct HostView {
  RunConfig config;
  HostFacts facts;
  Sizing sizing;
  SizingInputs inputs;
  absl::Status lists;  // the policy lists could not all be counted (a gap for check-host)
};

// The config as `sluice run` reads it, except that policy lists that are missing are reported
// by check-host as a gap instead of refusing the file (they may be installed later).
absl::StatusOr<RunConfig> read_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the configuration file"));
  std::ostringstream text;
  text << in.rdbuf();
  ConfigParseOptions options;
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  options.base_dir = (dir.empty() ? std::filesystem::path(".") : dir).string();
  return parse_run_config(text.str(), path, options);
}

absl::StatusOr<HostView> read_view(const HostCommandOptions& options) {
  absl::StatusOr<RunConfig> config = read_config(options.config);
  if (!config.ok()) return config.status();
  std::vector<std::string> pci;
  for (const PortConfig& p : config->ports)
    if (p.kind == PortKind::kPci) pci.push_back(p.device);
  absl::StatusOr<HostFacts> facts = read_host_facts(options.root, pci);
  if (!facts.ok()) return facts.status();
  if (std::filesystem::equivalent(options.root, "/"))
    facts->hyperscan_platform_ok = hs_valid_platform() == HS_SUCCESS;

  // Packet pools: one per NUMA node with ports. Ports whose node is unknown (vdevs, single-node
  // machines, devices not found) count as node 0, as if they shared a pool with the others.
  SizingInputs inputs;
  std::map<int, uint32_t> ports_per_node;
  for (const PortConfig& p : config->ports) {
    auto it = facts->pci.find(p.device);
    ports_per_node[it == facts->pci.end() ? 0 : std::max(0, it->second.numa_node)]++;
  }
  inputs.pools = static_cast<uint32_t>(std::max<size_t>(1, ports_per_node.size()));
  for (const auto& [node, n] : ports_per_node) inputs.ports_per_pool = std::max(inputs.ports_per_pool, n);
  HostView view;
  view.lists = count_policy_inputs(*config, inputs);
  view.sizing = compute_sizing(*config, inputs);
  view.inputs = inputs;
  view.config = *std::move(config);
  view.facts = *std::move(facts);
  return view;
}

int refuse(const absl::Status& s) {
  std::fprintf(stderr, "sluice: %s\n", std::string(s.message()).c_str());
  return 2;
}

}  // namespace

int run_check_host(const HostCommandOptions& options) {
  absl::StatusOr<HostView> view = read_view(options);
  if (!view.ok()) return refuse(view.status());
  const HostPlan plan = plan_host(view->config, view->facts, view->sizing);
  std::vector<HostFinding> findings = check_host(view->config, view->facts, view->sizing, plan);
  findings.push_back(check_policy_lists(view->config, view->inputs, view->lists));
  std::printf("sluice check-host: %s against %s\n", options.config.c_str(),
              view->facts.root.c_str());
  std::printf("%s\n%s", render_findings(findings).c_str(), render_sizing(view->sizing).c_str());
  return has_gap(findings) ? 1 : 0;
}

int run_plan_host(const HostCommandOptions& options) {
  absl::StatusOr<HostView> view = read_view(options);
  if (!view.ok()) return refuse(view.status());
  const HostPlan plan = plan_host(view->config, view->facts, view->sizing);
  if (!plan.problems.empty())
    return refuse(absl::FailedPreconditionError(absl::StrJoin(plan.problems, "\n")));
  std::printf("sluice plan-host: %s for %s\n%s\n%s", options.config.c_str(),
              view->facts.root.c_str(), render_plan(plan).c_str(),
              render_sizing(view->sizing).c_str());
  return 0;
}

}  // namespace sluice
