#include "dataplane/core/flow_table.h"

#include <bit>
#include <memory>
#include <new>
#include <type_traits>

namespace sluice {

uint64_t FlowTimeouts::of(TimeoutClass c) const {
  switch (c) {
    case TimeoutClass::kHandshake:
      return handshake_ns;
    case TimeoutClass::kFirstFlight:
      return first_flight_ns;
    case TimeoutClass::kEstablished:
      return established_ns;
    case TimeoutClass::kClosing:
      return closing_ns;
    case TimeoutClass::kUdp:
    case TimeoutClass::kCount:
      break;
  }
  return udp_ns;
}

static_assert(std::is_trivially_destructible_v<Flow>, "flows are reused without destruction");

FlowTable::FlowTable(uint32_t capacity, uint64_t seed)
    : flows_(std::allocator<Flow>().allocate(capacity == 0 ? 1 : capacity)),
      capacity_(capacity == 0 ? 1 : capacity),
      seed_(seed) {
  // Two buckets per flow keeps chains short at full load.
  const uint64_t buckets = std::bit_ceil(uint64_t{capacity_} * 2);
  buckets_.assign(buckets, kNoFlow);
  bucket_mask_ = buckets - 1;
}

FlowTable::~FlowTable() { std::allocator<Flow>().deallocate(flows_, capacity_); }

uint32_t FlowTable::find(const FlowKey& key, uint64_t hash) const {
  for (uint32_t i = buckets_[bucket_of(hash)]; i != kNoFlow; i = flows_[i].hash_next)
    if (flows_[i].key == key) return i;
  return kNoFlow;
}

uint32_t FlowTable::insert(const FlowKey& key, uint64_t hash, uint64_t now_ns) {
  uint32_t index;
  if (free_head_ != kNoFlow) {
    index = free_head_;
    free_head_ = flows_[index].hash_next;
  } else if (never_used_ < capacity_) {
    index = never_used_++;
  } else {
    return kNoFlow;
  }
  Flow& f = *new (&flows_[index]) Flow{};
  f.key = key;
  f.in_use = true;
  f.first_ns = f.last_ns = f.lru_ns = now_ns;
  const uint32_t b = bucket_of(hash);
  f.hash_next = buckets_[b];
  buckets_[b] = index;
  f.timeout_class = key.protocol == 17 ? TimeoutClass::kUdp : TimeoutClass::kHandshake;
  lru_append(index, f.timeout_class);
  ++size_;
  return index;
}

void FlowTable::touch(uint32_t index, TimeoutClass cls, uint64_t now_ns) {
  Flow& f = flows_[index];
  f.last_ns = now_ns;
  if (cls == f.timeout_class) return;
  lru_unlink(index);
  f.lru_ns = now_ns;
  lru_append(index, cls);
}

void FlowTable::requeue(uint32_t index, uint64_t now_ns) {
  Flow& f = flows_[index];
  lru_unlink(index);
  f.lru_ns = now_ns;
  lru_append(index, f.timeout_class);
}

void FlowTable::remove(uint32_t index) {
  Flow& f = flows_[index];
  const uint32_t b = bucket_of(hash(f.key));
  uint32_t* link = &buckets_[b];
  while (*link != index) link = &flows_[*link].hash_next;
  *link = f.hash_next;
  lru_unlink(index);
  f.in_use = false;
  f.hash_next = free_head_;
  free_head_ = index;
  --size_;
}

uint32_t FlowTable::oldest_victim() const {
  const uint32_t handshake = oldest(TimeoutClass::kHandshake);
  if (handshake != kNoFlow) return handshake;
  uint32_t victim = kNoFlow;
  for (const List& l : lists_) {
    if (l.head != kNoFlow && (victim == kNoFlow || flows_[l.head].last_ns < flows_[victim].last_ns))
      victim = l.head;
  }
  return victim;
}

void FlowTable::lru_unlink(uint32_t index) {
  Flow& f = flows_[index];
  List& l = lists_[static_cast<size_t>(f.timeout_class)];
  if (f.lru_prev != kNoFlow) flows_[f.lru_prev].lru_next = f.lru_next; else l.head = f.lru_next;
  if (f.lru_next != kNoFlow) flows_[f.lru_next].lru_prev = f.lru_prev; else l.tail = f.lru_prev;
  f.lru_prev = f.lru_next = kNoFlow;
}

void FlowTable::lru_append(uint32_t index, TimeoutClass cls) {
  Flow& f = flows_[index];
  List& l = lists_[static_cast<size_t>(cls)];
  f.timeout_class = cls;
  f.lru_prev = l.tail;
  f.lru_next = kNoFlow;
  if (l.tail != kNoFlow) flows_[l.tail].lru_next = index; else l.head = index;
  l.tail = index;
}

}  // namespace sluice
