// Learns which client apps cannot stand interception. sluice-intercept reports every client that
// rejects a forged certificate (a TLS alert such as unknown_ca, or a close right after our
// certificate), keyed by (server name, client JA4). When `failures` reports of one key arrive
// within `window`, from at least `distinct_clients` client addresses, the key has been learned:
// the caller adds the BypassRequest it is given (an entry for that exact name and that JA4 only,
// with a TTL and the evidence), so that app's next connection is passed by the dataplane while
// browsers (other JA4) to the same name are not. `distinct_clients` above 1 is what keeps one
// device from teaching the appliance a bypass for everyone: a pupil who makes a client with a
// browser's JA4 refuse the certificate again and again would otherwise exempt that browser.
//
// Bounded: at most `max_keys` keys are counted at once; when full, the key heard from least
// recently is forgotten and counted. Thread-safe (one mutex; control path only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/bypass_store.h"

namespace sluice {

struct LearningOptions {
  uint32_t failures = 3;
  uint32_t distinct_clients = 1;  // of those reports' client addresses; at most `failures`
  absl::Duration window = absl::Minutes(10);
  absl::Duration ttl = absl::Hours(24);
  size_t max_keys = 10000;
};

// One report from the interceptor.
struct CertificateFailure {
  std::string sni;     // the server name the client asked for
  std::string ja4;     // the client's JA4 fingerprint
  std::string client;  // the client's address (evidence only)
  std::string reason;  // e.g. "alert unknown_ca", "closed after certificate"
};

struct LearnResult {
  uint32_t failures = 0;                  // reports of this key within the window, this one too
  uint32_t clients = 0;                   // distinct client addresses among them
  std::optional<BypassRequest> learned;   // set when this report reached the threshold
};

class BypassLearner {
 public:
  static constexpr size_t kMaxReasonBytes = 128;

  explicit BypassLearner(LearningOptions options) : options_(options) {}

  // InvalidArgument (saying what to fix) for a report without a plain server name, a JA4 or a
  // client address. The key is forgotten once it is learned: the caller adds the entry.
  absl::StatusOr<LearnResult> report(const CertificateFailure& failure, absl::Time now);

  struct Counters {
    uint64_t reports = 0;       // accepted reports
    uint64_t learned = 0;       // keys that reached the threshold
    uint64_t keys_evicted = 0;  // keys forgotten because the table was full
    size_t keys = 0;            // keys being counted now
  };
  Counters counters() const;
  const LearningOptions& options() const { return options_; }

 private:
  struct Report {
    absl::Time time;
    std::string client;
  };
  struct Key {
    // Reports within the window, oldest first, at most failures + distinct_clients: when over,
    // the oldest report of a client heard from again goes first, so distinct clients are kept.
    std::vector<Report> reports;
    BypassEvidence evidence;
  };
  static uint32_t distinct_clients(const std::vector<Report>& reports);
  void evict_one(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LearningOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Key> keys_ ABSL_GUARDED_BY(mu_);  // "name JA4"
  Counters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sluice
