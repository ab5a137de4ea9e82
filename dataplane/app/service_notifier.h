// systemd's service notification protocol (sd_notify, libsystemd) for `sluice run` under
// deploy/systemd/sluice.service (Type=notify): READY=1 once the ports are up and the first policy
// is published, STATUS= lines for `systemctl status`, RELOADING=1 while a reload builds (SIGHUP or
// the API) and READY=1 again when it has finished (or was refused), STOPPING=1 on SIGTERM, and
// WATCHDOG=1 from the management loop when the unit sets WatchdogSec= (a stuck management loop
// gets restarted).
// Without $NOTIFY_SOCKET (not started by systemd) every call does nothing.
// Management lcore only: not thread-safe, never called from a worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "control/api/control_state.h"

namespace sluice {

class ServiceNotifier {
 public:
  ServiceNotifier();

  // STATUS=text (start-up steps).
  void status(std::string_view text);
  // READY=1 with `running` (e.g. "running: 4 workers, 4 ports, inline mode") and the policy
  // generation as STATUS (publications so far, the number the API and sluicectl show); `running`
  // is kept for the STATUS lines after reloads.
  void ready(std::string running, uint64_t policy_generation);
  // RELOADING=1 for reload `number` (PolicyReloader::start); reload_finished() ends it.
  void reloading(uint64_t number, std::string_view origin);
  // Call with the reloader's state now and then: when the reload reloading() named has finished,
  // READY=1 and a STATUS line with its outcome. Cheap when no reload is pending.
  bool reload_pending() const { return pending_reload_ != 0; }
  void reload_finished(const ReloadState& state, uint64_t policy_generation);
  void stopping();
  // WATCHDOG=1 when the unit asked for a watchdog and half its period has passed.
  void watchdog(uint64_t monotonic_ns);

 private:
  void send(const std::string& message);

  bool enabled_ = false;
  std::string running_;
  uint64_t pending_reload_ = 0;
  uint64_t watchdog_period_ns_ = 0;  // half of WatchdogSec; 0: no watchdog
  uint64_t next_watchdog_ns_ = 0;
};

}  // namespace sluice
