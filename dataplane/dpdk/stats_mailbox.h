// A worker's counters, handed to the management side without a lock: one writer (the worker),
// any number of readers (management loop, telemetry thread). A sequence lock: the writer never
// waits, a reader retries while a copy is being written and always gets one consistent sample
// (every field from the same publish()).
//
// The payload is copied word by word through relaxed atomics (std::atomic_ref) between the
// sequence number's fences, so the racing reads a seqlock relies on are not undefined behaviour
// and sanitizers see no data race. WorkerSample is nothing but uint64_t words for that reason.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <type_traits>

#include "dataplane/core/stats.h"

namespace sluice {

// What the worker loop knows besides the inspector's counters.
struct WorkerGauges {
  uint64_t held_frames = 0;   // first flights held right now (buffers in use)
  uint64_t active_flows = 0;  // flows in the table right now
  uint64_t idle_sleeps = 0;   // counter: times the loop backed off because its queues were empty
};

struct WorkerSample {
  WorkerStats stats;
  WorkerGauges gauges;
};

class alignas(64) StatsMailbox {  // own cache lines: one mailbox per worker, side by side
 public:
  // Worker side: never blocks, never allocates; a few hundred bytes copied. Call every few
  // milliseconds, not per packet (each call dirties the mailbox's cache lines for readers).
  void publish(const WorkerStats& stats, const WorkerGauges& gauges) {
    const uint64_t seq = seq_.load(std::memory_order_relaxed);
    seq_.store(seq + 1, std::memory_order_relaxed);  // odd: a copy is in progress
    std::atomic_thread_fence(std::memory_order_release);
    store_words(&sample_.stats, &stats, sizeof(stats));
    store_words(&sample_.gauges, &gauges, sizeof(gauges));
    seq_.store(seq + 2, std::memory_order_release);
  }

  // Reader side: a consistent copy. Returns false (and leaves `out` alone) when the worker has
  // not published yet. Spins while a copy is being written; yields the CPU after a few tries,
  // because on a shared core the writer may have been preempted in the middle of one.
  bool read(WorkerSample& out) const {
    for (uint32_t attempt = 0;; ++attempt) {
      const uint64_t before = seq_.load(std::memory_order_acquire);
      if (before == 0) return false;
      if ((before & 1) == 0) {
        WorkerSample copy;
        load_words(&copy, &sample_, sizeof(copy));
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq_.load(std::memory_order_relaxed) == before) {
          out = copy;
          return true;
        }
      }
      if (attempt >= kSpinsBeforeYield) std::this_thread::yield();
    }
  }

  // How many times the worker has published (0: never). Readers use it to tell a stalled
  // worker from an idle one.
  uint64_t updates() const { return seq_.load(std::memory_order_acquire) / 2; }

 private:
  static constexpr uint32_t kSpinsBeforeYield = 64;

  static_assert(std::is_trivially_copyable_v<WorkerSample>);
  static_assert(sizeof(WorkerStats) % sizeof(uint64_t) == 0 &&
                    sizeof(WorkerGauges) % sizeof(uint64_t) == 0,
                "the mailbox copies whole uint64_t words: keep every field a uint64_t");

  static void store_words(void* dst, const void* src, size_t bytes) {
    auto* d = static_cast<uint64_t*>(dst);
    const auto* s = static_cast<const uint64_t*>(src);
    for (size_t i = 0; i < bytes / sizeof(uint64_t); ++i) {
      std::atomic_ref<uint64_t>(d[i]).store(s[i], std::memory_order_relaxed);
    }
  }
  static void load_words(void* dst, const void* src, size_t bytes) {
    auto* d = static_cast<uint64_t*>(dst);
    // atomic_ref needs a non-const object; the words are only loaded.
    auto* s = const_cast<uint64_t*>(static_cast<const uint64_t*>(src));
    for (size_t i = 0; i < bytes / sizeof(uint64_t); ++i) {
      d[i] = std::atomic_ref<uint64_t>(s[i]).load(std::memory_order_relaxed);
    }
  }

  std::atomic<uint64_t> seq_{0};
  WorkerSample sample_;
};

}  // namespace sluice
