// sluice: the dataplane binary. Subcommands: `run` (the appliance) and `replay` (a capture
// through the worker path).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "dataplane/app/check_host_command.h"
#include "dataplane/app/replay_command.h"
#include "dataplane/app/run_command.h"

namespace {

// Seconds on the command line, nanoseconds inside.
uint64_t seconds_to_ns(double s) { return static_cast<uint64_t>(s * 1e9); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sluice: passive TLS/QUIC first-flight inspection and flow steering"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sluice " SLUICE_VERSION);

  sluice::RunOptions run;
  auto* run_cmd = app.add_subcommand(
      "run", "Run the appliance: bridge (inline) or watch (monitor) the configured ports, judge "
             "every flow by policy, write audit records; SIGHUP reloads the policy and reopens "
             "audit files, SIGTERM/SIGINT stop cleanly");
  run_cmd->add_option("--config", run.config, "the run configuration (YAML)")->required();

  sluice::ReplayOptions replay;
  std::string checksum = "auto";
  double first_flight_timeout_s = 5.0;
  auto* cmd = app.add_subcommand(
      "replay", "Read a pcap/pcapng capture through the DPDK worker path; print one JSON audit "
                "record per flow on stdout and a summary on stderr");
  cmd->add_option("capture", replay.capture, "pcap or pcapng file")->required();
  cmd->add_option("--config", replay.config,
                  "a `sluice run` configuration file whose policy judges every flow (verdict, "
                  "rule and list in each record); without it every flow passes");
  cmd->add_option("--checksum", checksum,
                  "L4 checksum validation: auto (accept the unfinished checksums of a capture "
                  "taken on a host with TX offload), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  cmd->add_option("--flow-capacity", replay.inspector.flow_capacity, "flows held at most")
      ->capture_default_str();
  cmd->add_option("--first-flight-bytes", replay.inspector.first_flight_byte_cap,
                  "bytes of a first flight held before judging it incomplete")
      ->check(CLI::Range(64u, 65536u))
      ->capture_default_str();
  cmd->add_option("--first-flight-timeout", first_flight_timeout_s,
                  "seconds a first flight may take to complete")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bool no_records = false;
  bool no_summary = false;
  cmd->add_flag("--no-records", no_records, "print only the summary");
  cmd->add_flag("--no-summary", no_summary, "print only the records");

  // Host preparation: inspect (check-host) and advise (plan-host); neither changes the host.
  sluice::HostCommandOptions check_host;
  auto* check_host_cmd = app.add_subcommand(
      "check-host", "Inspect this machine against a run configuration: hugepages, isolated "
                    "cores and IRQs, NIC drivers, NUMA placement, CPU features, clock source, "
                    "sizing; print each gap with its fix. Exit 1 when a gap is found");
  check_host_cmd->add_option("--config", check_host.config, "the run configuration (YAML)")
      ->required();
  check_host_cmd->add_option("--root", check_host.root,
                             "read sys/ and proc/ under this directory (a copy or a test tree)")
      ->capture_default_str();
  sluice::HostCommandOptions plan_host;
  auto* plan_host_cmd = app.add_subcommand(
      "plan-host", "Print what to set on this machine for a run configuration: the kernel "
                   "command line derived from the lcore map (isolcpus, nohz_full, rcu_nocbs, "
                   "irqaffinity, hugepages, IOMMU), /etc/dpdk lines, and the sizing figures");
  plan_host_cmd->add_option("--config", plan_host.config, "the run configuration (YAML)")
      ->required();
  plan_host_cmd->add_option("--root", plan_host.root, "read sys/ and proc/ under this directory")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  replay.inspector.checksum_mode = checksum == "on"    ? sluice::ChecksumMode::kOn
                                   : checksum == "off" ? sluice::ChecksumMode::kOff
                                                       : sluice::ChecksumMode::kAuto;
  replay.inspector.first_flight_time_cap_ns = seconds_to_ns(first_flight_timeout_s);
  replay.print_records = !no_records;
  replay.print_summary = !no_summary;
  // A capture has no live-traffic memory pressure; keep buffers for many concurrent hellos.
  replay.inspector.first_flight_buffers = 4096;
  if (*run_cmd) return sluice::run_appliance(run);
  if (*check_host_cmd) return sluice::run_check_host(check_host);
  if (*plan_host_cmd) return sluice::run_plan_host(plan_host);
  if (*cmd) return sluice::run_replay(replay);
  return 1;
}
