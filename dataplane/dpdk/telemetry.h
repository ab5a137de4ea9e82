// Sluice's counters on DPDK's telemetry socket (/var/run/dpdk/<file-prefix>/dpdk_telemetry.v2),
// read while the dataplane runs with `dpdk-telemetry.py -f <file-prefix>` (DPDK's usertools, in
// Debian 12's dpdk-dev package; tests/deploy/telemetry_script_test.py runs it against sluice) or
// any SOCK_SEQPACKET client: read the greeting, send a command, read one JSON reply
// (tests/live/livelab.py does exactly that):
//
//   /sluice/stats      every worker summed: each WorkerStats counter under its X-macro name,
//                      `malformed_by_reason` (a dict by reason), the loop gauges, `workers`
//   /sluice/workers    one dict per worker id: counters, gauges, `updates` (mailbox publications;
//                      a number that stops growing is a stalled worker) and the non-zero
//                      malformed reasons as `malformed/<reason>`. `/sluice/workers,N`: worker N
//   /sluice/policy     the running policy: generation, policy_generation, description, summary,
//                      published_at (RFC 3339), pending_reclaim, publish and grace-period figures
//   /sluice/ports      whatever the ports hook returns (port name -> counter dict); the caller
//                      fills it from rte_eth_stats
//
// DPDK 22.11's telemetry callbacks get no user-data pointer, so the sources live in one
// process-wide registry: install() sets it (once at start), the returned handle's destructor
// clears it. Callbacks run on DPDK's telemetry threads and read the registry under a mutex that
// the destructor also takes, so a callback never reads a mailbox or publisher being destroyed.
// Workers never see the mutex: they only write their mailboxes. The commands stay registered
// with DPDK for the life of the process and answer with an `error` string while nothing is
// installed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/dpdk/policy_publisher.h"
#include "dataplane/dpdk/stats_mailbox.h"

namespace sluice {

// One port's counters for /sluice/ports. Names may hold any characters: those telemetry refuses
// in a key (anything but letters, digits, '_' and '/') become '_'.
struct TelemetryPort {
  std::string name;
  std::vector<std::pair<std::string, uint64_t>> counters;
};
// Called on a telemetry thread for each /sluice/ports request.
using TelemetryPortsHook = std::function<std::vector<TelemetryPort>()>;

struct TelemetrySources {
  std::span<const StatsMailbox> workers;    // index: worker id
  const PolicyPublisher* policy = nullptr;  // optional: /sluice/policy reports "no policy"
  TelemetryPortsHook ports;                 // optional: /sluice/ports answers an empty dict
};

class TelemetryRegistration {
 public:
  // Registers the /sluice/* commands (the first time in the process) and installs `sources`.
  // The mailboxes and the publisher must outlive the returned handle. FailedPrecondition if
  // another registration is alive.
  static absl::StatusOr<std::unique_ptr<TelemetryRegistration>> install(TelemetrySources sources);

  // Set or replace the ports hook once ports are open (they usually are opened after the
  // workers' mailboxes exist).
  void set_ports_hook(TelemetryPortsHook hook);

  ~TelemetryRegistration();
  TelemetryRegistration(const TelemetryRegistration&) = delete;
  TelemetryRegistration& operator=(const TelemetryRegistration&) = delete;

 private:
  TelemetryRegistration() = default;
};

// Names as telemetry accepts them in dict keys: letters, digits, '_' and '/'; others become '_'.
std::string telemetry_key(std::string_view name);

}  // namespace sluice
