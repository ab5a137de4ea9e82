#include "control/bypass_learner.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dataplane/policy/cidr_set.h"
#include "dataplane/policy/list_parser.h"
#include "dataplane/policy/name_entry.h"

namespace sluice {
namespace {

void add_distinct(std::vector<std::string>& values, const std::string& value) {
  if (value.empty() || values.size() >= BypassStore::kMaxEvidence) return;
  if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
}

}  // namespace

absl::StatusOr<LearnResult> BypassLearner::report(const CertificateFailure& failure,
                                                  absl::Time now) {
  absl::StatusOr<NameEntry> name = parse_name_entry(failure.sni);
  if (!name.ok() || name->scope != kScopeExact)
    return absl::InvalidArgumentError(absl::StrCat(
        "sni: '", failure.sni, "' is not a server name such as www.example.com"));
  if (!is_ja4_fingerprint(failure.ja4))
    return absl::InvalidArgumentError(absl::StrCat(
        "ja4: '", failure.ja4,
        "' is not a JA4 fingerprint (36 characters, e.g. t13d1516h2_8daaf6152771_e5627efa2ab1)"));
  if (!parse_cidr(failure.client).ok() || failure.client.find('/') != std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("client: '", failure.client, "' is not an address such as 10.0.2.15"));
  if (failure.reason.size() > kMaxReasonBytes)
    return absl::InvalidArgumentError(absl::StrCat("reason: at most ", kMaxReasonBytes, " bytes"));

  const std::string key_text = absl::StrCat(name->name, " ", failure.ja4);
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(key_text);
  if (it == keys_.end()) {
    if (keys_.size() >= options_.max_keys) evict_one(now);
    it = keys_.emplace(key_text, Key{}).first;
    it->second.evidence.first_seen = now;
  }
  Key& key = it->second;
  // Only reports within the window count; the oldest are let go.
  std::erase_if(key.reports, [&](const Report& r) { return r.time <= now - options_.window; });
  key.reports.push_back({now, failure.client});
  if (key.reports.size() > size_t{options_.failures} + options_.distinct_clients) {
    auto repeated = std::find_if(key.reports.begin(), key.reports.end(), [&](const Report& r) {
      return std::count_if(key.reports.begin(), key.reports.end(),
                           [&](const Report& o) { return o.client == r.client; }) > 1;
    });
    key.reports.erase(repeated != key.reports.end() ? repeated : key.reports.begin());
  }
  if (key.reports.size() == 1) key.evidence = BypassEvidence{.first_seen = now};
  key.evidence.failures = static_cast<uint32_t>(key.reports.size());
  key.evidence.last_seen = now;
  add_distinct(key.evidence.reasons, failure.reason.empty() ? "unspecified" : failure.reason);
  add_distinct(key.evidence.clients, failure.client);
  ++counters_.reports;

  LearnResult result;
  result.failures = key.evidence.failures;
  result.clients = distinct_clients(key.reports);
  if (result.failures >= options_.failures && result.clients >= options_.distinct_clients) {
    BypassRequest r;
    r.name = name->name;
    r.ja4 = failure.ja4;
    r.reason = absl::StrCat("learned: ", result.failures, " certificate rejections",
                            options_.distinct_clients > 1
                                ? absl::StrCat(" from ", result.clients, " clients")
                                : std::string(),
                            " within ", absl::FormatDuration(options_.window), " (",
                            absl::StrJoin(key.evidence.reasons, ", "), ")");
    r.ttl = options_.ttl;
    r.source = "learned";
    r.evidence = key.evidence;
    result.learned = std::move(r);
    ++counters_.learned;
    keys_.erase(it);
  }
  return result;
}

uint32_t BypassLearner::distinct_clients(const std::vector<Report>& reports) {
  uint32_t n = 0;
  for (size_t i = 0; i < reports.size(); ++i) {
    bool first = true;
    for (size_t j = 0; j < i && first; ++j) first = reports[j].client != reports[i].client;
    n += first;
  }
  return n;
}

void BypassLearner::evict_one(absl::Time now) {
  // Keys whose reports are all out of the window go first; otherwise the least recent one.
  auto oldest = keys_.end();
  for (auto it = keys_.begin(); it != keys_.end(); ++it) {
    if (it->second.evidence.last_seen <= now - options_.window) {
      oldest = it;
      break;
    }
    if (oldest == keys_.end() || it->second.evidence.last_seen < oldest->second.evidence.last_seen)
      oldest = it;
  }
  if (oldest == keys_.end()) return;
  keys_.erase(oldest);
  ++counters_.keys_evicted;
}

BypassLearner::Counters BypassLearner::counters() const {
  absl::MutexLock lock(&mu_);
  Counters c = counters_;
  c.keys = keys_.size();
  return c;
}

}  // namespace sluice
