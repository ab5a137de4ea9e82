#include "dataplane/core/flow_table.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

FlowKey key_for(uint32_t n, uint16_t port = 443) {
  uint8_t a[4] = {10, 0, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  uint8_t b[4] = {192, 0, 2, 1};
  bool lo;
  return FlowKey::make({IpAddress::from_v4(a), static_cast<uint16_t>(40000 + n % 20000)},
                       {IpAddress::from_v4(b), port}, 6, 0, lo);
}

TEST(FlowKeyTest, BothDirectionsGiveTheSameKeyAndHash) {
  uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};
  bool lo1, lo2;
  auto k1 = FlowKey::make({IpAddress::from_v4(a), 5555}, {IpAddress::from_v4(b), 443}, 6, 7, lo1);
  auto k2 = FlowKey::make({IpAddress::from_v4(b), 443}, {IpAddress::from_v4(a), 5555}, 6, 7, lo2);
  EXPECT_EQ(k1, k2);
  EXPECT_NE(lo1, lo2);
  EXPECT_EQ(hash_flow_key(k1), hash_flow_key(k2));
  auto k3 = FlowKey::make({IpAddress::from_v4(a), 5555}, {IpAddress::from_v4(b), 443}, 6, 8, lo1);
  EXPECT_NE(k1, k3) << "same 5-tuple on another VLAN is another flow";
}

TEST(FlowTableTest, InsertFindRemove) {
  FlowTable t(100);
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < 100; ++i) {
    auto k = key_for(i);
    idx.push_back(t.insert(k, hash_flow_key(k), i));
    ASSERT_NE(idx.back(), kNoFlow);
  }
  EXPECT_EQ(t.size(), 100u);
  auto extra = key_for(1000);
  EXPECT_EQ(t.insert(extra, hash_flow_key(extra), 0), kNoFlow) << "bounded";
  for (uint32_t i = 0; i < 100; ++i) {
    auto k = key_for(i);
    EXPECT_EQ(t.find(k, hash_flow_key(k)), idx[i]);
  }
  for (uint32_t i = 0; i < 100; i += 2) t.remove(idx[i]);
  EXPECT_EQ(t.size(), 50u);
  for (uint32_t i = 0; i < 100; ++i) {
    auto k = key_for(i);
    EXPECT_EQ(t.find(k, hash_flow_key(k)) != kNoFlow, i % 2 == 1);
  }
  EXPECT_NE(t.insert(extra, hash_flow_key(extra), 0), kNoFlow);
}

TEST(FlowTableTest, ListsKeepPlacementOrderAndRequeueMovesToTheTail) {
  FlowTable t(10);
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < 3; ++i) {
    auto k = key_for(i);
    idx.push_back(t.insert(k, hash_flow_key(k), i));
  }
  EXPECT_EQ(t.oldest(TimeoutClass::kHandshake), idx[0]);
  // Activity within the same class only records the time: no list work per packet.
  t.touch(idx[0], TimeoutClass::kHandshake, 10);
  EXPECT_EQ(t.oldest(TimeoutClass::kHandshake), idx[0]);
  EXPECT_EQ(t.at(idx[0]).last_ns, 10u);
  EXPECT_EQ(t.at(idx[0]).lru_ns, 0u);
  // Expiry's second chance moves it behind the others.
  t.requeue(idx[0], 11);
  EXPECT_EQ(t.oldest(TimeoutClass::kHandshake), idx[1]);
  EXPECT_EQ(t.at(idx[0]).lru_ns, 11u);
  // A change of class moves it to the tail of the new list.
  t.touch(idx[1], TimeoutClass::kEstablished, 12);
  EXPECT_EQ(t.oldest(TimeoutClass::kHandshake), idx[2]);
  EXPECT_EQ(t.oldest(TimeoutClass::kEstablished), idx[1]);
  EXPECT_EQ(t.at(idx[1]).lru_ns, 12u);
}

TEST(FlowTableTest, EvictionPrefersHandshakeFlows) {
  FlowTable t(4);
  std::vector<uint32_t> idx;
  for (uint32_t i = 0; i < 4; ++i) {
    auto k = key_for(i);
    idx.push_back(t.insert(k, hash_flow_key(k), i));
  }
  t.touch(idx[0], TimeoutClass::kEstablished, 5);
  t.touch(idx[1], TimeoutClass::kEstablished, 6);
  t.touch(idx[2], TimeoutClass::kEstablished, 7);
  // idx[3] is the only handshake flow: it goes first although it is the newest.
  EXPECT_EQ(t.oldest_victim(), idx[3]);
  t.touch(idx[3], TimeoutClass::kEstablished, 8);
  EXPECT_EQ(t.oldest_victim(), idx[0]);
}

}  // namespace
}  // namespace sluice
