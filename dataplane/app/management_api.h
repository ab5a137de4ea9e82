// The REST-lite API as `sluice run` wires it: the server from the config's `api` section, the
// endpoints, and the once-a-second sample of workers and ports the endpoints read. Kept out of
// run_command.cc so the management loop only calls start(), sample() and the destructor.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/api/control_state.h"
#include "control/api/http_server.h"
#include "dataplane/app/policy_reloader.h"
#include "dataplane/config/run_config.h"
#include "dataplane/dpdk/ethdev_ports.h"
#include "dataplane/dpdk/policy_publisher.h"
#include "dataplane/dpdk/stats_mailbox.h"

namespace sluice {

class ManagementApi {
 public:
  struct Sources {
    const RunConfig* config = nullptr;
    std::string config_path;
    const EthdevPorts* ports = nullptr;
    std::span<const StatsMailbox> mailboxes;
    const PolicyPublisher* publisher = nullptr;
    PolicyReloader* reloader = nullptr;
    // Each syslog receiver's counters, read on the management loop when it samples.
    std::function<std::vector<SyslogReceiverView>()> syslog;
    // Endpoints of other features (flows sample, bypass, top SNI, ...), added after the core
    // ones: each gets the router and the JSON body cap. What they capture must outlive the API.
    std::vector<std::function<void(ApiRouter&, uint64_t max_json_body)>> more_endpoints;
  };

  // nullptr (and OK) when the config has no `api` section. Reads the token file, binds the
  // listeners, takes the first sample. Everything in `sources` must outlive the ManagementApi.
  static absl::StatusOr<std::unique_ptr<ManagementApi>> start(const Sources& sources);

  // Stops the listeners first (waits for running handlers), so no API thread reads anything
  // after this returns.
  ~ManagementApi();

  // Management loop only (it reads the ports): a new sample when the last is a second old.
  void maybe_sample(absl::Time now, uint64_t audit_records, uint64_t audit_write_errors);

 private:
  explicit ManagementApi(const Sources& sources) : sources_(sources) {}
  void sample(absl::Time now, uint64_t audit_records, uint64_t audit_write_errors);

  Sources sources_;
  ControlState state_;
  absl::Time last_sample_ = absl::InfinitePast();
  std::unique_ptr<ApiServer> server_;
};

}  // namespace sluice
