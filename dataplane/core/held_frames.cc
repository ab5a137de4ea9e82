#include "dataplane/core/held_frames.h"

namespace sluice {

HeldFrames::HeldFrames(uint32_t capacity)
    : capacity_(capacity), entries_(new Entry[capacity == 0 ? 1 : capacity]) {
  for (uint32_t i = capacity; i-- > 0;) {
    entries_[i] = Entry{nullptr, free_};
    free_ = i;
  }
}

bool HeldFrames::push(Chain& chain, void* handle) {
  if (free_ == kNone) return false;
  const uint32_t i = free_;
  Entry& e = entries_[i];
  free_ = e.next;
  e = Entry{handle, kNone};
  if (chain.tail == kNone) {
    chain.head = i;
  } else {
    entries_[chain.tail].next = i;
  }
  chain.tail = i;
  ++chain.count;
  ++in_use_;
  return true;
}

}  // namespace sluice
