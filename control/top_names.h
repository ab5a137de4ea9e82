// Top server names over a recent window, by flows and by bytes, from the audit stream the
// management side already drains: a flow counts for its name when it is judged, its bytes when
// it closes. Time is cut into buckets (one minute by default, an hour kept); each bucket holds
// at most `max_names` names, and what does not fit is counted as "other" so totals stay true.
// Thread-safe: the management loop adds, API threads read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dataplane/core/audit_event.h"

namespace sluice {

struct TopNamesOptions {
  absl::Duration bucket = absl::Minutes(1);
  size_t buckets = 60;        // the longest window is bucket * buckets
  size_t max_names = 20000;   // per bucket
};

struct TopNameRow {
  std::string name;
  uint64_t flows = 0;
  uint64_t blocked = 0;  // of those flows
  uint64_t bytes = 0;    // both directions, of flows that closed in the window
};

struct TopNamesResult {
  absl::Duration window;      // as served: rounded up to whole buckets, capped at the longest
  std::vector<TopNameRow> rows;
  TopNameRow other;           // names that did not fit in a bucket ("other")
  uint64_t flows_without_name = 0;
  uint64_t names = 0;         // distinct names in the window
};

enum class TopNamesOrder : uint8_t { kFlows, kBytes };

class TopNames {
 public:
  explicit TopNames(TopNamesOptions options = {});

  void add_verdict(const AuditEvent& verdict, absl::Time now);
  // The bytes of a flow that closed, for the name its verdict gave (close events carry none:
  // LiveFlows::add_close returns it).
  void add_close(std::string_view name, uint64_t bytes, absl::Time now);

  TopNamesResult top(absl::Duration window, size_t limit, TopNamesOrder order,
                     absl::Time now) const;
  absl::Duration longest_window() const { return options_.bucket * options_.buckets; }

 private:
  struct Counts {
    uint64_t flows = 0;
    uint64_t blocked = 0;
    uint64_t bytes = 0;
  };
  struct Bucket {
    int64_t epoch = -1;  // which bucket-length period of time it holds
    absl::flat_hash_map<std::string, Counts> names;
    Counts other;
    uint64_t flows_without_name = 0;
  };
  Bucket& bucket_for(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Counts* counts_for(Bucket& b, std::string_view name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t epoch_of(absl::Time t) const;

  const TopNamesOptions options_;
  mutable absl::Mutex mu_;
  std::vector<Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
