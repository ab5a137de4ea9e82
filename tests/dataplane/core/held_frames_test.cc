// HeldFrames: the bounded pool of frame handles a worker keeps while first flights are judged.
#include "dataplane/core/held_frames.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace sluice {
namespace {

void* handle(uintptr_t n) { return reinterpret_cast<void*>(n); }

std::vector<uintptr_t> drain_all(HeldFrames& pool, HeldFrames::Chain& chain) {
  std::vector<uintptr_t> out;
  pool.drain(chain, [&out](void* h) { out.push_back(reinterpret_cast<uintptr_t>(h)); });
  return out;
}

TEST(HeldFramesTest, ANewChainIsEmpty) {
  HeldFrames::Chain chain;
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(chain.count, 0);
  HeldFrames pool(4);
  EXPECT_EQ(pool.capacity(), 4u);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_TRUE(drain_all(pool, chain).empty()) << "draining an empty chain hands out nothing";
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(HeldFramesTest, DrainKeepsArrivalOrder) {
  HeldFrames pool(8);
  HeldFrames::Chain chain;
  for (uintptr_t i = 1; i <= 5; ++i) ASSERT_TRUE(pool.push(chain, handle(i)));
  EXPECT_FALSE(chain.empty());
  EXPECT_EQ(chain.count, 5);
  EXPECT_EQ(pool.in_use(), 5u);
  EXPECT_EQ(drain_all(pool, chain), (std::vector<uintptr_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(chain.count, 0);
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(HeldFramesTest, InterleavedChainsStayApart) {
  HeldFrames pool(16);
  HeldFrames::Chain a, b, c;
  // a: 10 11 12 13, b: 20 21 22, c: 30 -- pushed round-robin.
  ASSERT_TRUE(pool.push(a, handle(10)));
  ASSERT_TRUE(pool.push(b, handle(20)));
  ASSERT_TRUE(pool.push(a, handle(11)));
  ASSERT_TRUE(pool.push(c, handle(30)));
  ASSERT_TRUE(pool.push(b, handle(21)));
  ASSERT_TRUE(pool.push(a, handle(12)));
  ASSERT_TRUE(pool.push(b, handle(22)));
  ASSERT_TRUE(pool.push(a, handle(13)));
  EXPECT_EQ(a.count, 4);
  EXPECT_EQ(b.count, 3);
  EXPECT_EQ(c.count, 1);
  EXPECT_EQ(pool.in_use(), 8u);

  // Drain the middle one first; the others keep their frames and order.
  EXPECT_EQ(drain_all(pool, b), (std::vector<uintptr_t>{20, 21, 22}));
  EXPECT_EQ(pool.in_use(), 5u);
  // Entries b gave back are reused by the others without disturbing them.
  ASSERT_TRUE(pool.push(c, handle(31)));
  ASSERT_TRUE(pool.push(a, handle(14)));
  ASSERT_TRUE(pool.push(c, handle(32)));
  EXPECT_EQ(drain_all(pool, a), (std::vector<uintptr_t>{10, 11, 12, 13, 14}));
  EXPECT_EQ(drain_all(pool, c), (std::vector<uintptr_t>{30, 31, 32}));
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(HeldFramesTest, ExhaustionRefusesAndRecoversAfterADrain) {
  HeldFrames pool(3);
  HeldFrames::Chain a, b;
  ASSERT_TRUE(pool.push(a, handle(1)));
  ASSERT_TRUE(pool.push(b, handle(2)));
  ASSERT_TRUE(pool.push(a, handle(3)));
  EXPECT_EQ(pool.in_use(), 3u);
  EXPECT_FALSE(pool.push(a, handle(4))) << "the pool is empty";
  EXPECT_FALSE(pool.push(b, handle(5)));
  // A refused push leaves both chains as they were.
  EXPECT_EQ(a.count, 2);
  EXPECT_EQ(b.count, 1);
  EXPECT_EQ(pool.in_use(), 3u);

  EXPECT_EQ(drain_all(pool, a), (std::vector<uintptr_t>{1, 3}));
  EXPECT_EQ(pool.in_use(), 1u);
  ASSERT_TRUE(pool.push(b, handle(6)));
  ASSERT_TRUE(pool.push(b, handle(7)));
  EXPECT_FALSE(pool.push(a, handle(8)));
  EXPECT_EQ(drain_all(pool, b), (std::vector<uintptr_t>{2, 6, 7}));
  EXPECT_EQ(pool.in_use(), 0u);

  // Fully recovered: the whole capacity is available again, many times over.
  for (int round = 0; round < 100; ++round) {
    HeldFrames::Chain c;
    for (uintptr_t i = 0; i < 3; ++i) ASSERT_TRUE(pool.push(c, handle(100 + i)));
    ASSERT_FALSE(pool.push(c, handle(999)));
    ASSERT_EQ(drain_all(pool, c), (std::vector<uintptr_t>{100, 101, 102}));
  }
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(HeldFramesTest, CapacityZeroHoldsNothing) {
  HeldFrames pool(0);
  HeldFrames::Chain chain;
  EXPECT_EQ(pool.capacity(), 0u);
  EXPECT_FALSE(pool.push(chain, handle(1)));
  EXPECT_FALSE(pool.push(chain, handle(2)));
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(chain.count, 0);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_TRUE(drain_all(pool, chain).empty());
}

TEST(HeldFramesTest, CapacityOneAlternates) {
  HeldFrames pool(1);
  HeldFrames::Chain a, b;
  ASSERT_TRUE(pool.push(a, handle(1)));
  EXPECT_FALSE(pool.push(b, handle(2)));
  EXPECT_EQ(drain_all(pool, a), (std::vector<uintptr_t>{1}));
  ASSERT_TRUE(pool.push(b, handle(2)));
  EXPECT_FALSE(pool.push(a, handle(3)));
  EXPECT_EQ(drain_all(pool, b), (std::vector<uintptr_t>{2}));
  EXPECT_EQ(pool.in_use(), 0u);
}

TEST(HeldFramesTest, DrainCallbackSeesTheEntryAlreadyReturned) {
  // drain() gives each entry back before handing its frame out, so the callback may hold
  // frames again (e.g. on another chain) without running the pool dry.
  HeldFrames pool(2);
  HeldFrames::Chain a, b;
  ASSERT_TRUE(pool.push(a, handle(1)));
  ASSERT_TRUE(pool.push(a, handle(2)));
  std::vector<uintptr_t> seen;
  pool.drain(a, [&](void* h) {
    seen.push_back(reinterpret_cast<uintptr_t>(h));
    EXPECT_TRUE(pool.push(b, h));
  });
  EXPECT_EQ(seen, (std::vector<uintptr_t>{1, 2}));
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(drain_all(pool, b), (std::vector<uintptr_t>{1, 2}));
}

}  // namespace
}  // namespace sluice
