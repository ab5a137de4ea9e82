// Wall-clock nanoseconds from the TSC: anchored to CLOCK_REALTIME once at construction, so the
// packet path reads time without a system call.
#pragma once

#include <rte_cycles.h>

#include <algorithm>
#include <cstdint>
#include <ctime>

namespace sluice {

class TscClock {
 public:
  TscClock() : hz_(rte_get_tsc_hz()), base_(rte_get_tsc_cycles()) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);  // once: never on the packet path
    wall_base_ns_ = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + ts.tv_nsec;
  }

  // Nanoseconds since the Unix epoch; never steps back.
  uint64_t now_ns() {
    const uint64_t cycles = rte_get_tsc_cycles() - base_;
    last_ns_ = std::max<uint64_t>(last_ns_, wall_base_ns_ + cycles / hz_ * 1'000'000'000ULL +
                                                (cycles % hz_) * 1'000'000'000ULL / hz_);
    return last_ns_;
  }
  uint64_t last_ns() const { return last_ns_; }

 private:
  uint64_t hz_;
  uint64_t base_;
  uint64_t wall_base_ns_ = 0;
  uint64_t last_ns_ = 0;
};

}  // namespace sluice
