#include "dataplane/app/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {

ServiceNotifier::ServiceNotifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  enabled_ = socket != nullptr && socket[0] != '\0';
  uint64_t usec = 0;
  // unset_environment 0: the API and reload threads are ours, nothing we exec inherits it.
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_period_ns_ = usec * 1000 / 2;
}

void ServiceNotifier::send(const std::string& message) {
  if (enabled_) sd_notify(0, message.c_str());
}

void ServiceNotifier::status(std::string_view text) {
  send(absl::StrCat("STATUS=", av(text)));
}

void ServiceNotifier::ready(std::string running, uint64_t policy_generation) {
  running_ = std::move(running);
  send(absl::StrCat("READY=1\nSTATUS=", running_, "; policy generation ", policy_generation));
}

void ServiceNotifier::reloading(uint64_t number, std::string_view origin) {
  pending_reload_ = number;
  // MONOTONIC_USEC: when the reload began, which systemd (253 and later) wants beside RELOADING=1
  // to tell this reload from an earlier one; older versions ignore it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t usec = static_cast<uint64_t>(now.tv_sec) * 1'000'000ULL + now.tv_nsec / 1000;
  send(absl::StrCat("RELOADING=1\nMONOTONIC_USEC=", usec, "\nSTATUS=reloading the policy (",
                    av(origin), ")"));
}

void ServiceNotifier::reload_finished(const ReloadState& state, uint64_t policy_generation) {
  if (pending_reload_ == 0 || state.last.number < pending_reload_) return;
  pending_reload_ = 0;
  if (state.last.ok) {
    send(absl::StrCat("READY=1\nSTATUS=", running_, "; policy generation ", policy_generation));
  } else {
    // One line: a newline would end the STATUS field and start a bogus one.
    std::string why = state.last.message;
    std::replace(why.begin(), why.end(), '\n', ' ');
    send(absl::StrCat("READY=1\nSTATUS=", running_, "; policy reload refused (", why,
                      "), generation ", policy_generation, " still running"));
  }
}

void ServiceNotifier::stopping() {
  send("STOPPING=1\nSTATUS=stopping: closing flows and flushing the audit");
}

void ServiceNotifier::watchdog(uint64_t monotonic_ns) {
  if (watchdog_period_ns_ == 0 || monotonic_ns < next_watchdog_ns_) return;
  next_watchdog_ns_ = monotonic_ns + watchdog_period_ns_;
  send("WATCHDOG=1");
}

}  // namespace sluice
