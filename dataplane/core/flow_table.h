// A worker's flow table: bounded, all memory allocated at construction, never shared with
// another worker. Chained hashing over one array of flows. Flows sit in one list per timeout
// class, in the order they were placed there (lru_ns); a packet of a flow that stays in its
// class only updates last_ns, without touching its neighbours' cache lines, and expiry moves a
// head that turns out to be active back to the tail ("second chance"). So a flow idles out
// between one and two timeouts after its last packet, and expiry stays O(expired + requeued).
// When the table is full, the oldest flow still in its handshake is evicted first (a SYN flood
// costs only those), then the oldest of the others.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "dataplane/core/flow.h"

namespace sluice {

struct FlowTimeouts {
  uint64_t handshake_ns = 10'000'000'000ULL;
  uint64_t first_flight_ns = 10'000'000'000ULL;
  uint64_t established_ns = 300'000'000'000ULL;
  uint64_t closing_ns = 10'000'000'000ULL;
  uint64_t udp_ns = 60'000'000'000ULL;

  uint64_t of(TimeoutClass c) const;
};

class FlowTable {
 public:
  // capacity: flows held at most. seed keys the hash (see hash_flow_key).
  explicit FlowTable(uint32_t capacity, uint64_t seed = 0);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  uint64_t hash(const FlowKey& key) const { return hash_flow_key(key, seed_); }

  // Prefetching for burst processing: first the bucket, later (once it has arrived) the flow it
  // leads to.
  void prefetch_bucket(uint64_t hash) const { __builtin_prefetch(&buckets_[bucket_of(hash)]); }
  void prefetch_flow(uint64_t hash) const {
    const uint32_t head = buckets_[bucket_of(hash)];
    if (head != kNoFlow) __builtin_prefetch(&flows_[head]);
  }

  // Returns the index of the flow with this key, or kNoFlow.
  uint32_t find(const FlowKey& key, uint64_t hash) const;

  // Inserts a new flow (the key must not be present). Returns kNoFlow when the table is full;
  // the caller then evicts with oldest_victim() and retries.
  uint32_t insert(const FlowKey& key, uint64_t hash, uint64_t now_ns);

  // Marks activity; a flow changing class goes to the tail of its new list.
  void touch(uint32_t index, TimeoutClass cls, uint64_t now_ns);

  // Puts a flow at the tail of its list as if placed now (expiry's second chance).
  void requeue(uint32_t index, uint64_t now_ns);

  void remove(uint32_t index);

  // The flow that eviction should take: oldest handshake flow, else the oldest of the heads.
  uint32_t oldest_victim() const;

  // The oldest flow of a class, or kNoFlow.
  uint32_t oldest(TimeoutClass cls) const { return lists_[static_cast<size_t>(cls)].head; }

  Flow& at(uint32_t index) { return flows_[index]; }
  const Flow& at(uint32_t index) const { return flows_[index]; }
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }

 private:
  struct List {
    uint32_t head = kNoFlow;
    uint32_t tail = kNoFlow;
  };
  void lru_unlink(uint32_t index);
  void lru_append(uint32_t index, TimeoutClass cls);
  uint32_t bucket_of(uint64_t hash) const { return static_cast<uint32_t>(hash & bucket_mask_); }

  // Raw storage: a flow is constructed when first inserted, so a large table costs no page
  // faults until it fills (start-up time, and memory that was configured but is not yet used).
  Flow* flows_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t never_used_ = 0;  // flows_[never_used_..capacity_) have never been handed out
  uint64_t seed_ = 0;
  std::vector<uint32_t> buckets_;
  uint64_t bucket_mask_ = 0;
  uint32_t free_head_ = kNoFlow;  // flows returned by remove(), threaded through hash_next
  uint32_t size_ = 0;
  std::array<List, static_cast<size_t>(TimeoutClass::kCount)> lists_{};
};

}  // namespace sluice
