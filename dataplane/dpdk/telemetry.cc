#include "dataplane/dpdk/telemetry.h"

#include <rte_errno.h>
#include <rte_telemetry.h>

#include <cctype>
#include <cerrno>
#include <iterator>
#include <string_view>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dataplane/core/anomaly.h"
#include "dataplane/core/verdict.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

// The process-wide registry (see the header for why there is one). Never destroyed: a telemetry
// thread may still answer a request while the process exits.
ABSL_CONST_INIT absl::Mutex registry_mu(absl::kConstInit);
struct Registry {
  bool installed = false;
  size_t commands_registered = 0;  // a prefix of kCommands: a failed attempt resumes there
  TelemetrySources sources;
};
Registry& registry() ABSL_EXCLUSIVE_LOCKS_REQUIRED(registry_mu) {
  static Registry* r = new Registry;
  return *r;
}

void add_u64(rte_tel_data* d, std::string_view name, uint64_t value) {
  rte_tel_data_add_dict_u64(d, telemetry_key(name).c_str(), value);
}

// Sends a nested dict along with `d`; telemetry frees it once the reply is written.
rte_tel_data* start_child_dict() {
  rte_tel_data* child = rte_tel_data_alloc();
  if (child != nullptr) rte_tel_data_start_dict(child);
  return child;
}

void add_child(rte_tel_data* d, std::string_view name, rte_tel_data* child) {
  if (child == nullptr) return;
  if (rte_tel_data_add_dict_container(d, telemetry_key(name).c_str(), child, /*keep=*/0) != 0) {
    rte_tel_data_free(child);
  }
}

int not_installed(rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "error", "sluice is not running its dataplane yet (or any more)");
  return 0;
}

void add_sample(rte_tel_data* d, const WorkerSample& s) {
  s.stats.for_each_counter(
      [&](const char* name, const char*, uint64_t value) { add_u64(d, name, value); });
  add_u64(d, "held_frames", s.gauges.held_frames);
  add_u64(d, "active_flows", s.gauges.active_flows);
  add_u64(d, "idle_sleeps", s.gauges.idle_sleeps);
}

int stats_command(const char*, const char*, rte_tel_data* d) {
  absl::MutexLock lock(&registry_mu);
  const Registry& r = registry();
  if (!r.installed) return not_installed(d);
  WorkerSample total;
  uint64_t reporting = 0;
  for (const StatsMailbox& box : r.sources.workers) {
    WorkerSample s;
    if (!box.read(s)) continue;
    ++reporting;
    total.stats.add(s.stats);
    total.gauges.held_frames += s.gauges.held_frames;
    total.gauges.active_flows += s.gauges.active_flows;
    total.gauges.idle_sleeps += s.gauges.idle_sleeps;
  }
  rte_tel_data_start_dict(d);
  add_u64(d, "workers", r.sources.workers.size());
  add_u64(d, "workers_reporting", reporting);
  add_sample(d, total);
  rte_tel_data* reasons = start_child_dict();
  if (reasons != nullptr) {
    for (size_t i = 0; i < total.stats.malformed_by_reason.size(); ++i) {
      add_u64(reasons, malformed_name(static_cast<Malformed>(i)),
              total.stats.malformed_by_reason[i]);
    }
  }
  add_child(d, "malformed_by_reason", reasons);
  rte_tel_data* verdicts = start_child_dict();
  if (verdicts != nullptr) {
    for (size_t i = 0; i < total.stats.flows_by_verdict.size(); ++i)
      add_u64(verdicts, verdict_name(static_cast<Verdict>(i)), total.stats.flows_by_verdict[i]);
  }
  add_child(d, "flows_by_verdict", verdicts);
  rte_tel_data* anomalies = start_child_dict();
  if (anomalies != nullptr) {
    for (size_t i = 0; i < static_cast<size_t>(Anomaly::kCount); ++i)
      add_u64(anomalies, anomaly_name(static_cast<Anomaly>(i)), total.stats.flows_by_anomaly[i]);
  }
  add_child(d, "flows_by_anomaly", anomalies);
  return 0;
}

int workers_command(const char*, const char* params, rte_tel_data* d) {
  absl::MutexLock lock(&registry_mu);
  const Registry& r = registry();
  if (!r.installed) return not_installed(d);
  size_t first = 0;
  size_t end = r.sources.workers.size();
  if (params != nullptr && *params != '\0') {
    uint32_t only = 0;
    if (!absl::SimpleAtoi(params, &only) || only >= end) return -EINVAL;
    first = only;
    end = only + 1;
  }
  rte_tel_data_start_dict(d);
  for (size_t w = first; w < end; ++w) {
    const StatsMailbox& box = r.sources.workers[w];
    rte_tel_data* child = start_child_dict();
    if (child == nullptr) continue;
    WorkerSample s;
    add_u64(child, "updates", box.updates());
    if (box.read(s)) {
      add_sample(child, s);
      // Non-zero reasons only: one level of nesting is all telemetry allows, and a flat list of
      // every reason for every worker would not fit in one reply.
      for (size_t i = 0; i < s.stats.malformed_by_reason.size(); ++i) {
        if (s.stats.malformed_by_reason[i] == 0) continue;
        add_u64(child, absl::StrCat("malformed/", av(malformed_name(static_cast<Malformed>(i)))),
                s.stats.malformed_by_reason[i]);
      }
    }
    add_child(d, absl::StrCat(w), child);
  }
  return 0;
}

uint64_t micros(absl::Duration d) { return static_cast<uint64_t>(absl::ToInt64Microseconds(d)); }

int policy_command(const char*, const char*, rte_tel_data* d) {
  absl::MutexLock lock(&registry_mu);
  const Registry& r = registry();
  if (!r.installed) return not_installed(d);
  rte_tel_data_start_dict(d);
  if (r.sources.policy == nullptr) {
    rte_tel_data_add_dict_string(d, "error", "no policy publisher in this process");
    return 0;
  }
  const PublishedPolicy p = r.sources.policy->current();
  const PublisherStats s = r.sources.policy->stats();
  add_u64(d, "generation", p.generation);
  add_u64(d, "policy_generation", p.policy_generation);
  // Telemetry cuts strings at RTE_TEL_MAX_STRING_LEN; the API has the full text.
  rte_tel_data_add_dict_string(d, "description", p.description.c_str());
  rte_tel_data_add_dict_string(d, "summary", p.summary.c_str());
  const std::string at =
      p.generation == 0 ? std::string()
                        : absl::FormatTime(absl::RFC3339_full, p.published_at, absl::UTCTimeZone());
  rte_tel_data_add_dict_string(d, "published_at", at.c_str());
  add_u64(d, "published", s.published);
  add_u64(d, "reclaimed", s.reclaimed);
  add_u64(d, "pending_reclaim", s.pending);
  add_u64(d, "last_publish_us", micros(s.last_publish));
  add_u64(d, "longest_publish_us", micros(s.longest_publish));
  add_u64(d, "longest_grace_us", micros(s.longest_grace));
  return 0;
}

int ports_command(const char*, const char*, rte_tel_data* d) {
  absl::MutexLock lock(&registry_mu);
  const Registry& r = registry();
  if (!r.installed) return not_installed(d);
  rte_tel_data_start_dict(d);
  if (!r.sources.ports) return 0;
  for (const TelemetryPort& port : r.sources.ports()) {
    rte_tel_data* child = start_child_dict();
    if (child == nullptr) continue;
    for (const auto& [name, value] : port.counters) add_u64(child, name, value);
    add_child(d, port.name, child);
  }
  return 0;
}

struct Command {
  const char* name;
  telemetry_cb fn;
  const char* help;  // telemetry refuses help of RTE_TEL_MAX_STRING_LEN or more
};
constexpr Command kCommands[] = {
    {"/sluice/stats", stats_command, "Sluice counters of every worker, summed. No parameters"},
    {"/sluice/workers", workers_command,
     "Sluice counters per worker. Parameters: none (all) or a worker id"},
    {"/sluice/policy", policy_command, "The running Sluice policy and its publication figures"},
    {"/sluice/ports", ports_command, "Sluice port counters. No parameters"},
};

}  // namespace

std::string telemetry_key(std::string_view name) {
  std::string key(name);
  for (char& c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '/') c = '_';
  }
  return key;
}

absl::StatusOr<std::unique_ptr<TelemetryRegistration>> TelemetryRegistration::install(
    TelemetrySources sources) {
  absl::MutexLock lock(&registry_mu);
  Registry& r = registry();
  if (r.installed) {
    return absl::FailedPreconditionError(
        "telemetry sources are already installed in this process; destroy the previous "
        "TelemetryRegistration first");
  }
  for (; r.commands_registered < std::size(kCommands); ++r.commands_registered) {
    const Command& c = kCommands[r.commands_registered];
    const int rc = rte_telemetry_register_cmd(c.name, c.fn, c.help);
    if (rc != 0) {
      return absl::InternalError(
          absl::StrCat("rte_telemetry_register_cmd(", c.name, ") failed: ", rte_strerror(-rc)));
    }
  }
  r.sources = std::move(sources);
  r.installed = true;
  return std::unique_ptr<TelemetryRegistration>(new TelemetryRegistration());
}

void TelemetryRegistration::set_ports_hook(TelemetryPortsHook hook) {
  absl::MutexLock lock(&registry_mu);
  registry().sources.ports = std::move(hook);
}

TelemetryRegistration::~TelemetryRegistration() {
  absl::MutexLock lock(&registry_mu);
  Registry& r = registry();
  r.sources = TelemetrySources{};
  r.installed = false;
}

}  // namespace sluice
