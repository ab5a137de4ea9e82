#include "dataplane/core/first_flight_pool.h"

namespace sluice {

FirstFlightPool::FirstFlightPool(uint32_t slots, uint32_t byte_cap)
    : byte_cap_(byte_cap),
      words_per_slot_((byte_cap + 63) / 64),
      bytes_(new uint8_t[size_t{slots} * byte_cap]),
      seen_(new uint64_t[size_t{slots} * words_per_slot_]),
      slots_(slots) {
  free_.reserve(slots);
  for (uint32_t i = slots; i > 0; --i) free_.push_back(i - 1);
}

uint32_t FirstFlightPool::acquire(uint32_t base_seq) {
  if (free_.empty()) return kNoSlot;
  const uint32_t slot = free_.back();
  free_.pop_back();  // never reallocates: capacity reserved at construction
  Slot& s = slots_[slot];
  s.stream.reset(base_seq, MutableByteSpan(bytes_.get() + size_t{slot} * byte_cap_, byte_cap_),
                 std::span<uint64_t>(seen_.get() + size_t{slot} * words_per_slot_, words_per_slot_));
  s.parse_at = 1;
  s.scanned = 0;
  s.quic = QuicFlightState{};
  ++in_use_;
  return slot;
}

void FirstFlightPool::release(uint32_t slot) {
  free_.push_back(slot);
  --in_use_;
}

}  // namespace sluice
