// What the API reports, as the management loop last sampled it. The loop samples once a second
// (worker mailboxes, port counters and link) and hands the sample over under a mutex that only
// the loop and API threads take, never a worker: API threads never touch the ports or any
// DPDK object, so a request cannot race the shutdown of the ports. Keeping the previous sample
// gives rates without any client-side state.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/syslog_export.h"
#include "dataplane/core/stats.h"

namespace sluice {

struct PortView {
  std::string name;
  std::string device;
  bool readable = false;  // false: `error` says why the counters below are missing
  std::string error;
  bool link_up = false;
  uint32_t link_speed_mbps = 0;
  bool full_duplex = false;
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_missed = 0;
  uint64_t rx_errors = 0;
  uint64_t tx_errors = 0;
  uint64_t rx_no_mbuf = 0;
};

struct WorkerView {
  uint32_t id = 0;
  uint32_t lcore = 0;
  uint64_t updates = 0;  // mailbox publications; 0: the worker has not reported yet
  WorkerStats stats;
  uint64_t held_frames = 0;
  uint64_t active_flows = 0;
  uint64_t idle_sleeps = 0;
};

// One syslog audit receiver (control/syslog_export.h), as last sampled.
struct SyslogReceiverView {
  std::string address;
  SyslogExportStats stats;
};

struct ControlSample {
  absl::Time at = absl::InfinitePast();
  std::vector<PortView> ports;
  std::vector<WorkerView> workers;
  WorkerStats total;  // sum over workers
  uint64_t audit_records = 0;
  uint64_t audit_write_errors = 0;
  std::vector<SyslogReceiverView> syslog;
};

class ControlState {
 public:
  // Management loop.
  void publish(ControlSample sample) {
    absl::MutexLock lock(&mu_);
    previous_ = std::move(latest_);
    latest_ = std::move(sample);
  }
  // Any thread: the latest sample and the one before (its `at` is InfinitePast before the
  // second sample).
  std::pair<ControlSample, ControlSample> read() const {
    absl::MutexLock lock(&mu_);
    return {latest_, previous_};
  }

 private:
  mutable absl::Mutex mu_;
  ControlSample latest_ ABSL_GUARDED_BY(mu_);
  ControlSample previous_ ABSL_GUARDED_BY(mu_);
};

// The running policy, as PolicyPublisher::current() says.
struct PolicyView {
  uint64_t generation = 0;  // publications so far (1: the policy loaded at start)
  std::string source;              // the configuration file
  std::string description;
  std::string summary;
  absl::Time published_at = absl::InfinitePast();
};

// One reload's outcome.
struct ReloadResult {
  uint64_t number = 0;  // reloads requested since start, 1-based
  std::string origin;   // "SIGHUP", "api"
  bool ok = false;
  std::string message;  // the policy error (FILE:LINE: reason) when !ok
  uint64_t generation = 0;  // publisher generation after it (unchanged on failure)
  absl::Time started = absl::InfinitePast();
  absl::Time finished = absl::InfinitePast();
};

struct ReloadState {
  bool building = false;
  uint64_t building_number = 0;
  std::string building_origin;
  absl::Time building_since = absl::InfinitePast();
  ReloadResult last;  // number 0: none finished yet
  uint64_t succeeded = 0;
  uint64_t failed = 0;
};

// Everything the endpoints read or do, provided by `sluice run`. Every function is called on
// API threads and must be thread-safe.
struct ApiSources {
  std::string version;
  std::string config_path;
  std::string mode;  // "inline" / "monitor"
  absl::Time started_at = absl::Now();
  const ControlState* state = nullptr;
  std::function<PolicyView()> policy;
  std::function<ReloadState()> reload_state;
  // Starts a reload and waits for it. Unavailable (not started) while another reload builds.
  std::function<absl::StatusOr<ReloadResult>(std::string origin)> reload;
};

}  // namespace sluice
