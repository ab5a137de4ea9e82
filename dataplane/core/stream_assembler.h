// Reassembles the client's first flight of a TCP connection by sequence number: segments may
// arrive split at any byte, out of order, duplicated or overlapping. Bytes are stored at their
// offset from the first payload sequence number, with a bit per byte saying whether it has been
// seen. A later segment that covers seen bytes with different content is never resolved
// silently: the first-seen bytes are kept (that is what the receiver's queue keeps, too) and the
// result reports a conflict, which the flow carries as overlap_conflict.
//
// Storage is borrowed from a FirstFlightPool slot: no allocation here.
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"

namespace sluice {

class StreamAssembler {
 public:
  struct AddResult {
    bool conflict = false;      // overlapping bytes differed from what was already stored
    bool beyond_cap = false;    // some bytes fell past the cap and were not stored
    bool out_of_order = false;  // the segment started after a gap
    uint32_t new_bytes = 0;     // bytes stored that had not been seen before
  };

  StreamAssembler() = default;

  // `data` holds the stream; `seen` is a bitmap with one bit per byte of `data`
  // (at least (data.size() + 63) / 64 words). `base_seq` is the sequence number of byte 0.
  void reset(uint32_t base_seq, MutableByteSpan data, std::span<uint64_t> seen);

  AddResult add(uint32_t seq, ByteSpan payload);

  // The bytes from the start of the stream up to the first gap.
  ByteSpan contiguous() const { return ByteSpan(data_.data(), contiguous_); }
  uint32_t contiguous_length() const { return contiguous_; }
  uint32_t capacity() const { return static_cast<uint32_t>(data_.size()); }
  uint32_t base_seq() const { return base_seq_; }
  // True when some byte beyond the contiguous prefix has been stored.
  bool has_gap() const { return highest_ > contiguous_; }

 private:
  bool is_seen(uint32_t offset) const { return (seen_[offset >> 6] >> (offset & 63)) & 1; }
  // First offset in [from, to) whose bit is `value`, or `to`; whole words at a time.
  uint32_t find_bit(uint32_t from, uint32_t to, bool value) const;
  void set_bits(uint32_t from, uint32_t to);  // marks [from, to) as seen
  void advance_contiguous();

  MutableByteSpan data_;
  std::span<uint64_t> seen_;
  uint32_t base_seq_ = 0;
  uint32_t contiguous_ = 0;
  uint32_t highest_ = 0;  // one past the highest stored offset
};

// Sequence-number arithmetic modulo 2^32 (RFC 1982 style).
inline int32_t seq_diff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }
inline bool seq_lt(uint32_t a, uint32_t b) { return seq_diff(a, b) < 0; }
inline bool seq_leq(uint32_t a, uint32_t b) { return seq_diff(a, b) <= 0; }

}  // namespace sluice
