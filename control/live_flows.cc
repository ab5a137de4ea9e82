#include "control/live_flows.h"

#include "dataplane/policy/cidr_set.h"

namespace sluice {

void LiveFlows::add_verdict(const AuditEvent& v) {
  LiveFlow f;
  f.flow_id = v.flow_id;
  f.worker = v.worker;
  f.client = v.client;
  f.server = v.server;
  f.transport = v.transport;
  f.vlan = v.vlan;
  f.server_name = std::string(v.server_name());
  f.first_flight = v.first_flight;
  f.verdict = v.verdict;
  f.rule = std::string(v.rule_view());
  f.start_ns = v.start_ns;
  f.verdict_ns = v.event_ns;
  absl::MutexLock lock(&mu_);
  while (flows_.size() >= capacity_ && !order_.empty()) {
    const uint64_t oldest = order_.front();
    order_.pop_front();
    if (flows_.erase(oldest) > 0) ++forgotten_;
  }
  if (capacity_ == 0) return;
  flows_.insert_or_assign(f.flow_id, std::move(f));
  order_.push_back(v.flow_id);
  if (order_.size() > 2 * capacity_ + 1024) {
    std::deque<uint64_t> open;
    for (uint64_t id : order_)
      if (flows_.contains(id)) open.push_back(id);
    order_.swap(open);
  }
}

std::string LiveFlows::add_close(const AuditEvent& close) {
  absl::MutexLock lock(&mu_);
  auto it = flows_.find(close.flow_id);
  if (it == flows_.end()) {
    if (forgotten_ > 0) --forgotten_;
    return {};
  }
  std::string name = std::move(it->second.server_name);
  flows_.erase(it);
  return name;
}

bool LiveFlows::matches(const LiveFlow& f, const LiveFlowQuery& q) const {
  if (q.verdict && f.verdict != *q.verdict) return false;
  if (q.client && mask_address(f.client.ip, q.client->prefix_length) != q.client->address)
    return false;
  if (q.name && !name_entry_matches(*q.name, f.server_name)) return false;
  return true;
}

LiveFlowSample LiveFlows::sample(const LiveFlowQuery& query) const {
  LiveFlowSample out;
  absl::MutexLock lock(&mu_);
  out.tracked = flows_.size();
  out.forgotten = forgotten_;
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    auto f = flows_.find(*it);
    if (f == flows_.end() || !matches(f->second, query)) continue;
    if (++out.matched <= query.limit) out.flows.push_back(f->second);
  }
  return out;
}

}  // namespace sluice
