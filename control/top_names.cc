#include "control/top_names.h"

#include <algorithm>

#include "dataplane/policy/absl_text.h"

namespace sluice {

TopNames::TopNames(TopNamesOptions options) : options_(options) {
  absl::MutexLock lock(&mu_);
  buckets_.resize(std::max<size_t>(1, options_.buckets));
}

int64_t TopNames::epoch_of(absl::Time t) const {
  absl::Duration rest;
  return absl::IDivDuration(t - absl::UnixEpoch(), options_.bucket, &rest);
}

TopNames::Bucket& TopNames::bucket_for(absl::Time now) {
  const int64_t epoch = epoch_of(now);
  Bucket& b = buckets_[static_cast<size_t>(epoch) % buckets_.size()];
  if (b.epoch != epoch) {  // a period that has left the longest window: start afresh
    b.names.clear();
    b.other = {};
    b.flows_without_name = 0;
    b.epoch = epoch;
  }
  return b;
}

TopNames::Counts* TopNames::counts_for(Bucket& b, std::string_view name) {
  if (auto it = b.names.find(av(name)); it != b.names.end()) return &it->second;
  if (b.names.size() >= options_.max_names) return &b.other;
  return &b.names[av(name)];
}

void TopNames::add_verdict(const AuditEvent& verdict, absl::Time now) {
  absl::MutexLock lock(&mu_);
  Bucket& b = bucket_for(now);
  const std::string_view name = verdict.server_name();
  if (name.empty()) {
    ++b.flows_without_name;
    return;
  }
  Counts* c = counts_for(b, name);
  ++c->flows;
  if (verdict.verdict == Verdict::kBlock) ++c->blocked;
}

void TopNames::add_close(std::string_view name, uint64_t bytes, absl::Time now) {
  if (name.empty()) return;
  absl::MutexLock lock(&mu_);
  counts_for(bucket_for(now), name)->bytes += bytes;
}

TopNamesResult TopNames::top(absl::Duration window, size_t limit, TopNamesOrder order,
                             absl::Time now) const {
  absl::Duration rest;
  const int64_t span = std::clamp<int64_t>(
      absl::IDivDuration(window + options_.bucket - absl::Nanoseconds(1), options_.bucket, &rest),
      1, static_cast<int64_t>(buckets_.size()));
  const int64_t newest = epoch_of(now);
  TopNamesResult out;
  out.window = options_.bucket * span;
  absl::flat_hash_map<std::string, Counts> merged;
  {
    absl::MutexLock lock(&mu_);
    for (const Bucket& b : buckets_) {
      if (b.epoch < 0 || b.epoch > newest || b.epoch <= newest - span) continue;
      for (const auto& [name, c] : b.names) {
        Counts& m = merged[name];
        m.flows += c.flows;
        m.blocked += c.blocked;
        m.bytes += c.bytes;
      }
      out.other.flows += b.other.flows;
      out.other.blocked += b.other.blocked;
      out.other.bytes += b.other.bytes;
      out.flows_without_name += b.flows_without_name;
    }
  }
  out.other.name = "other";
  out.names = merged.size();
  out.rows.reserve(merged.size());
  for (auto& [name, c] : merged) out.rows.push_back({name, c.flows, c.blocked, c.bytes});
  const auto key = [order](const TopNameRow& r) {
    return order == TopNamesOrder::kFlows ? std::pair(r.flows, r.bytes) : std::pair(r.bytes, r.flows);
  };
  const size_t keep = std::min(limit, out.rows.size());
  std::partial_sort(out.rows.begin(), out.rows.begin() + static_cast<ptrdiff_t>(keep),
                    out.rows.end(), [&](const TopNameRow& a, const TopNameRow& b) {
                      if (key(a) != key(b)) return key(a) > key(b);
                      return a.name < b.name;
                    });
  out.rows.resize(keep);
  return out;
}

}  // namespace sluice
