// The bypass table as the management side keeps it: entries added and removed while Sluice
// runs (through the API, and by the interceptor's learning), each with a reason, an optional
// expiry, where it came from and, for a learned entry, the evidence it was learned from, kept in a state file so that they survive a restart.
// Every change is written to the file (atomically) before it is reported done; a change that
// cannot be written is refused and the table stays as it was. The workers never see this
// object: the caller builds a BypassSet from entries() and publishes it.
//
// Thread-safe (one mutex, control path only).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dataplane/policy/bypass_set.h"

namespace sluice {

// Why a learned entry exists: the certificate rejections the interceptor reported for its
// (name, JA4) key, so that a manager reading `sluicectl bypass list` can judge it.
struct BypassEvidence {
  uint32_t failures = 0;             // rejections counted within the learning window
  absl::Time first_seen;
  absl::Time last_seen;
  std::vector<std::string> reasons;  // distinct, e.g. "alert unknown_ca" (at most kMaxEvidence)
  std::vector<std::string> clients;  // distinct client addresses (at most kMaxEvidence)
};

struct BypassRequest {
  std::string name;                  // list syntax: `name`, `.name`, `*.name`
  std::vector<std::string> clients;  // CIDRs or addresses; empty: every client
  std::string ja4;                   // a client fingerprint; empty: every client app
  std::string reason;
  std::optional<absl::Duration> ttl;  // none: until removed
  std::string source = "api";
  std::optional<BypassEvidence> evidence;
};

struct BypassRecord {
  uint64_t id = 0;
  std::string name;                  // as normalised: `.example.com`
  std::vector<std::string> clients;  // as normalised: `10.0.2.0/24`
  std::string ja4;                   // empty: every client app
  std::string reason;
  std::string source;
  absl::Time created;
  std::optional<absl::Time> expires;
  std::optional<BypassEvidence> evidence;
};

// {"id", "name", "clients", "ja4", "reason", "source", "created", "expires", "evidence"} (times
// in RFC 3339 UTC; ja4, expires and evidence null for none): the state file's entries, and what
// the API shows.
nlohmann::json bypass_record_json(const BypassRecord& record);

// One entry as bypass_record_json() writes it, checked and normalised as add() would; `created`
// defaults to `now`. InvalidArgument saying what is wrong. Expired entries are returned as they
// are: the caller decides.
absl::StatusOr<BypassRecord> bypass_record_from_json(const nlohmann::json& entry, absl::Time now);

// What a BypassSet is built from, for a record that came from add() or bypass_record_from_json().
BypassEntry bypass_entry(const BypassRecord& record);

// A JA4 fingerprint as the dataplane writes it, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
bool is_ja4_fingerprint(std::string_view text);

class BypassStore {
 public:
  static constexpr size_t kMaxReasonBytes = 512;
  static constexpr size_t kMaxClients = 64;
  static constexpr size_t kMaxEvidence = 8;

  // Reads the state file (a missing file is an empty table; entries already expired at `now`
  // are dropped). A file that cannot be read or parsed is an error naming it and what to do:
  // the appliance must not start and silently forget what a manager told it to pass.
  static absl::StatusOr<std::unique_ptr<BypassStore>> open(std::string path, size_t max_entries,
                                                           absl::Time now);

  // InvalidArgument for a bad name, client, JA4, reason or TTL; AlreadyExists when an entry
  // with the same name, clients and JA4 exists (the message gives its id); ResourceExhausted when the table
  // is full; an error from the disk if the state file cannot be written.
  absl::StatusOr<BypassRecord> add(const BypassRequest& request, absl::Time now);
  // NotFound for an unknown id.
  absl::Status remove(uint64_t id);
  // Drops every entry whose expiry has come; returns how many were dropped.
  absl::StatusOr<size_t> expire(absl::Time now);

  std::vector<BypassRecord> list() const;
  // What a BypassSet is built from, in id order.
  std::vector<BypassEntry> entries() const;
  size_t max_entries() const { return max_entries_; }
  const std::string& path() const { return path_; }

 private:
  BypassStore(std::string path, size_t max_entries)
      : path_(std::move(path)), max_entries_(max_entries) {}
  absl::Status load(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status save() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  std::vector<BypassRecord> records_ ABSL_GUARDED_BY(mu_);  // id order
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace sluice
