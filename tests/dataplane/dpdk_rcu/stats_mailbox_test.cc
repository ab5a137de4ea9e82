// StatsMailbox: a writer thread publishes samples whose every word equals its publish count;
// readers on other threads must never see two words from different publishes, nor go back.
#include "dataplane/dpdk/stats_mailbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace sluice {
namespace {

WorkerSample sample_of(uint64_t n) {
  WorkerSample s;
  auto* words = reinterpret_cast<uint64_t*>(&s);
  for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); ++i) words[i] = n;
  return s;
}

// Every word of `s` equals the first one; returns it, or explains the tear.
bool uniform(const WorkerSample& s, uint64_t& value, std::string& why) {
  const auto* words = reinterpret_cast<const uint64_t*>(&s);
  value = words[0];
  for (size_t i = 1; i < sizeof(s) / sizeof(uint64_t); ++i) {
    if (words[i] != value) {
      why = "word " + std::to_string(i) + " is " + std::to_string(words[i]) + ", word 0 is " +
            std::to_string(value);
      return false;
    }
  }
  return true;
}

TEST(StatsMailboxTest, EmptyUntilTheFirstPublish) {
  StatsMailbox box;
  WorkerSample s = sample_of(42);
  EXPECT_FALSE(box.read(s));
  EXPECT_EQ(s.stats.rx_packets, 42u) << "a failed read leaves the output alone";
  EXPECT_EQ(box.updates(), 0u);
}

TEST(StatsMailboxTest, ReadsBackWhatWasPublished) {
  StatsMailbox box;
  WorkerStats stats;
  stats.rx_packets = 10;
  stats.audit_dropped = 3;
  stats.count_malformed(Malformed::kTcpBadChecksum);
  box.publish(stats, WorkerGauges{.held_frames = 4, .active_flows = 5, .idle_sleeps = 6});
  WorkerSample s;
  ASSERT_TRUE(box.read(s));
  EXPECT_EQ(s.stats.rx_packets, 10u);
  EXPECT_EQ(s.stats.audit_dropped, 3u);
  EXPECT_EQ(s.stats.malformed, 1u);
  EXPECT_EQ(s.stats.malformed_by_reason[static_cast<size_t>(Malformed::kTcpBadChecksum)], 1u);
  EXPECT_EQ(s.gauges.held_frames, 4u);
  EXPECT_EQ(s.gauges.active_flows, 5u);
  EXPECT_EQ(s.gauges.idle_sleeps, 6u);
  EXPECT_EQ(box.updates(), 1u);
  box.publish(stats, {});
  EXPECT_EQ(box.updates(), 2u);
}

TEST(StatsMailboxTest, ConcurrentReadersNeverSeeATornSample) {
  constexpr uint64_t kPublishes = 200000;
  constexpr int kReaders = 2;
  StatsMailbox box;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> torn{0}, backwards{0}, reads{0};
  std::string first_tear;

  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      uint64_t last = 0;
      std::string why;
      while (!done.load(std::memory_order_relaxed)) {
        WorkerSample s;
        if (!box.read(s)) continue;
        uint64_t value = 0;
        if (!uniform(s, value, why)) {
          if (torn.fetch_add(1) == 0 && r == 0) first_tear = why;
        }
        if (value < last) backwards.fetch_add(1);
        last = value;
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::thread writer([&] {
    for (uint64_t n = 1; n <= kPublishes; ++n) {
      const WorkerSample s = sample_of(n);
      box.publish(s.stats, s.gauges);
    }
  });
  writer.join();
  // Let the readers see the last sample too.
  while (reads.load() < 1000) std::this_thread::yield();
  done.store(true);
  for (auto& t : readers) t.join();

  EXPECT_EQ(torn.load(), 0u) << first_tear;
  EXPECT_EQ(backwards.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  WorkerSample last;
  ASSERT_TRUE(box.read(last));
  EXPECT_EQ(last.stats.rx_packets, kPublishes);
  EXPECT_EQ(last.gauges.idle_sleeps, kPublishes);
  EXPECT_EQ(box.updates(), kPublishes);
}

}  // namespace
}  // namespace sluice
