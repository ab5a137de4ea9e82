#include "dataplane/core/stream_assembler.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sluice {

void StreamAssembler::reset(uint32_t base_seq, MutableByteSpan data, std::span<uint64_t> seen) {
  data_ = data;
  seen_ = seen;
  std::fill(seen_.begin(), seen_.begin() + (data.size() + 63) / 64, 0);
  base_seq_ = base_seq;
  contiguous_ = 0;
  highest_ = 0;
}

StreamAssembler::AddResult StreamAssembler::add(uint32_t seq, ByteSpan payload) {
  AddResult result;
  if (payload.empty()) return result;
  // Trim bytes before the stream start (a retransmission reaching back before byte 0 cannot
  // carry first-flight bytes).
  int32_t start = seq_diff(seq, base_seq_);
  if (start < 0) {
    if (static_cast<int64_t>(payload.size()) <= -static_cast<int64_t>(start)) return result;
    payload = payload.subspan(static_cast<size_t>(-static_cast<int64_t>(start)));
    start = 0;
  }
  const uint32_t cap = capacity();
  uint32_t offset = static_cast<uint32_t>(start);
  if (offset >= cap) {
    result.beyond_cap = true;
    return result;
  }
  size_t length = payload.size();
  if (offset + length > cap) {
    result.beyond_cap = true;
    length = cap - offset;
  }
  result.out_of_order = offset > contiguous_;

  // Walk the segment in runs of seen / unseen bytes: copy unseen runs, compare seen runs.
  uint32_t i = 0;
  while (i < length) {
    const uint32_t at = offset + i;
    const bool seen = is_seen(at);
    uint32_t run = 1;
    while (i + run < length && is_seen(at + run) == seen) ++run;
    if (seen) {
      if (std::memcmp(data_.data() + at, payload.data() + i, run) != 0) result.conflict = true;
    } else {
      std::memcpy(data_.data() + at, payload.data() + i, run);
      for (uint32_t k = 0; k < run; ++k) mark_seen(at + k);
      result.new_bytes += run;
    }
    i += run;
  }
  highest_ = std::max(highest_, offset + static_cast<uint32_t>(length));
  advance_contiguous();
  return result;
}

void StreamAssembler::advance_contiguous() {
  const uint32_t cap = capacity();
  while (contiguous_ < cap) {
    const uint32_t word = contiguous_ >> 6;
    const uint32_t bit = contiguous_ & 63;
    const uint64_t unseen_from_here = ~seen_[word] >> bit;
    if (unseen_from_here == 0) {
      contiguous_ += 64 - bit;
      continue;
    }
    contiguous_ += static_cast<uint32_t>(std::countr_zero(unseen_from_here));
    break;
  }
  contiguous_ = std::min(contiguous_, cap);
}

}  // namespace sluice
