// Buffers for first flights being held, shared by the flows of one worker. Only flows whose
// first flight is in progress hold a slot, so the pool is sized for concurrent handshakes, not
// for the flow table. All memory is allocated at construction; an empty pool is counted by the
// caller (first_flight_buffers_exhausted), never grown.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/core/flow.h"
#include "dataplane/core/quic_initial_reader.h"
#include "dataplane/core/stream_assembler.h"

namespace sluice {

class FirstFlightPool {
 public:
  struct Slot {
    StreamAssembler stream;
    uint32_t parse_at = 0;  // contiguous length at which a new parse attempt is worth it
    uint32_t scanned = 0;   // bytes already searched for the end of an HTTP request head
    QuicFlightState quic;   // UDP: keys of the flow's QUIC Initials (the stream holds CRYPTO)
  };

  FirstFlightPool(uint32_t slots, uint32_t byte_cap);

  // Returns a slot whose stream starts at base_seq, or kNoSlot when none is free.
  uint32_t acquire(uint32_t base_seq);
  void release(uint32_t slot);
  Slot& at(uint32_t slot) { return slots_[slot]; }
  uint32_t in_use() const { return in_use_; }
  uint32_t capacity() const { return static_cast<uint32_t>(slots_.size()); }
  uint32_t byte_cap() const { return byte_cap_; }

 private:
  uint32_t byte_cap_;
  uint32_t words_per_slot_;
  // Not zero-filled: a slot's bitmap is cleared when it is handed out, and its bytes are only
  // read where the bitmap says they were written. Untouched slots cost no page faults.
  std::unique_ptr<uint8_t[]> bytes_;
  std::unique_ptr<uint64_t[]> seen_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint32_t in_use_ = 0;
};

}  // namespace sluice
