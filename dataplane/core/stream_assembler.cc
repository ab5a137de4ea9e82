#include "dataplane/core/stream_assembler.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sluice {

void StreamAssembler::reset(uint32_t base_seq, MutableByteSpan data, std::span<uint64_t> seen) {
  // Handed the bitmap it used last (a pool slot's): only the words below the highest byte that
  // use stored can have a bit set. A new flight's bitmap is otherwise kilobytes of stores, most
  // of them to lines no short hello ever reaches.
  size_t words = (data.size() + 63) / 64;
  if (seen.data() == seen_.data() && seen_.data() != nullptr)
    words = std::min<size_t>(words, (size_t{highest_} + 63) / 64);
  data_ = data;
  seen_ = seen;
  std::fill(seen_.begin(), seen_.begin() + words, 0);
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

  // Walk the segment in runs of seen / unseen bytes: copy unseen runs, compare seen runs. The
  // common case, the next in-order segment, is a single unseen run.
  const uint32_t end_offset = offset + static_cast<uint32_t>(length);
  uint32_t at = offset;
  while (at < end_offset) {
    const bool seen = is_seen(at);
    const uint32_t run_end = find_bit(at, end_offset, !seen);
    const uint8_t* src = payload.data() + (at - offset);
    if (seen) {
      if (std::memcmp(data_.data() + at, src, run_end - at) != 0) result.conflict = true;
    } else {
      std::memcpy(data_.data() + at, src, run_end - at);
      set_bits(at, run_end);
      result.new_bytes += run_end - at;
    }
    at = run_end;
  }
  highest_ = std::max(highest_, end_offset);
  advance_contiguous();
  return result;
}

uint32_t StreamAssembler::find_bit(uint32_t from, uint32_t to, bool value) const {
  while (from < to) {
    const uint32_t bit = from & 63;
    uint64_t word = seen_[from >> 6];
    if (!value) word = ~word;
    word >>= bit;
    if (word != 0) return std::min(to, from + static_cast<uint32_t>(std::countr_zero(word)));
    from += 64 - bit;
  }
  return to;
}

void StreamAssembler::set_bits(uint32_t from, uint32_t to) {
  while (from < to) {
    const uint32_t bit = from & 63;
    const uint32_t n = std::min<uint32_t>(64 - bit, to - from);
    const uint64_t mask = (n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1)) << bit;
    seen_[from >> 6] |= mask;
    from += n;
  }
}

void StreamAssembler::advance_contiguous() {
  contiguous_ = find_bit(contiguous_, capacity(), false);
}

}  // namespace sluice
