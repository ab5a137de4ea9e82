// The flows open right now, as the management side can know them without asking a worker: a
// flow is added when its verdict event arrives and removed by its close event (both come
// through the audit rings for every flow, exported or not). Flows still in their first flight
// have no verdict yet and are not listed. Bounded: past `capacity` the oldest entries are
// forgotten (counted), so a flood costs the management side a fixed amount of memory.
// Thread-safe: the management loop adds, API threads query.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/core/audit_event.h"
#include "dataplane/policy/list_parser.h"
#include "dataplane/policy/name_entry.h"

namespace sluice {

struct LiveFlow {
  uint64_t flow_id = 0;
  uint16_t worker = 0;
  Endpoint client;
  Endpoint server;
  uint8_t transport = 0;
  uint16_t vlan = 0;
  std::string server_name;
  FirstFlightKind first_flight = FirstFlightKind::kNone;
  Verdict verdict = Verdict::kPass;
  std::string rule;
  uint64_t start_ns = 0;    // first packet
  uint64_t verdict_ns = 0;  // when it was judged
};

struct LiveFlowQuery {
  size_t limit = 100;
  std::optional<Cidr> client;      // the client address is inside
  std::optional<NameEntry> name;   // list syntax: exact, `.name` (and subdomains), `*.name`
  std::optional<Verdict> verdict;
};

struct LiveFlowSample {
  std::vector<LiveFlow> flows;  // at most limit, newest verdicts first
  uint64_t matched = 0;         // how many tracked flows match the query
  uint64_t tracked = 0;         // open flows known here
  uint64_t forgotten = 0;       // open flows dropped from tracking at capacity (approximate)
};

class LiveFlows {
 public:
  explicit LiveFlows(size_t capacity = 200000) : capacity_(capacity) {}

  void add_verdict(const AuditEvent& verdict);
  // Returns the closed flow's server name as its verdict event gave it (close events carry
  // none); empty when it had none or was forgotten at capacity.
  std::string add_close(const AuditEvent& close);

  LiveFlowSample sample(const LiveFlowQuery& query) const;

 private:
  bool matches(const LiveFlow& f, const LiveFlowQuery& q) const;

  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, LiveFlow> flows_ ABSL_GUARDED_BY(mu_);
  // Flow ids in verdict order; ids of flows closed since are skipped when met (and compacted
  // away when they outnumber the open ones).
  std::deque<uint64_t> order_ ABSL_GUARDED_BY(mu_);
  uint64_t forgotten_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sluice
