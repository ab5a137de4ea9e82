#include "dataplane/dpdk/flow_dispatch.h"

#include <gtest/gtest.h>
#include <rte_thash.h>

#include <random>
#include <vector>

namespace sluice {
namespace {

// Toeplitz over the IPv4 5-tuple, as a NIC computes RSS, with DPDK's software implementation.
uint32_t toeplitz_v4(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                     const std::array<uint8_t, kSymmetricRssKeyLength>& key) {
  rte_ipv4_tuple t{};
  t.src_addr = src;
  t.dst_addr = dst;
  t.sport = sport;
  t.dport = dport;
  return rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, key.data());
}

TEST(FlowDispatchTest, SymmetricKeyGivesBothDirectionsTheSameRssHash) {
  std::mt19937 rng(3);
  const auto& key = symmetric_rss_key();
  for (int i = 0; i < 10000; ++i) {
    const uint32_t a = rng(), b = rng();
    const uint16_t p = static_cast<uint16_t>(rng()), q = static_cast<uint16_t>(rng());
    ASSERT_EQ(toeplitz_v4(a, b, p, q, key), toeplitz_v4(b, a, q, p, key));
  }
}

TEST(FlowDispatchTest, AnOrdinaryKeyIsNotSymmetric) {
  // Shows the test can fail: the default-style random key breaks the property.
  std::array<uint8_t, kSymmetricRssKeyLength> key{};
  std::mt19937 rng(5);
  for (auto& b : key) b = static_cast<uint8_t>(rng());
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const uint32_t a = rng(), b = rng();
    differ += toeplitz_v4(a, b, 1234, 443, key) != toeplitz_v4(b, a, 443, 1234, key);
  }
  EXPECT_GT(differ, 90);
}

TEST(FlowDispatchTest, SoftwareDispatchSendsBothDirectionsToOneWorkerAndSpreads) {
  std::mt19937 rng(9);
  std::vector<int> per_worker(4);
  for (int i = 0; i < 40000; ++i) {
    uint8_t a[4], b[4];
    for (auto& x : a) x = static_cast<uint8_t>(rng());
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    const Endpoint c{IpAddress::from_v4(a), static_cast<uint16_t>(rng())};
    const Endpoint s{IpAddress::from_v4(b), 443};
    bool lo;
    const uint16_t w1 = dispatch_worker(FlowKey::make(c, s, 6, 0, lo), 4);
    const uint16_t w2 = dispatch_worker(FlowKey::make(s, c, 6, 0, lo), 4);
    ASSERT_EQ(w1, w2);
    ++per_worker[w1];
  }
  for (int n : per_worker) EXPECT_NEAR(n, 10000, 600);
}

}  // namespace
}  // namespace sluice
