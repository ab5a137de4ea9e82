// Frames a worker holds while their flow's first flight is judged: a fixed pool of entries, each
// an opaque frame handle, chained per flow in arrival order. Bounded: a full pool is the caller's
// to count and survive (it drops the frame and the client retransmits), never an allocation.
#pragma once

#include <cstdint>
#include <memory>

namespace sluice {

class HeldFrames {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // A flow's chain: the first and last entry, and how many.
  struct Chain {
    uint32_t head = kNone;
    uint32_t tail = kNone;
    uint16_t count = 0;
    bool empty() const { return head == kNone; }
  };

  explicit HeldFrames(uint32_t capacity);

  // Appends `handle` to `chain`; false when the pool is empty.
  bool push(Chain& chain, void* handle);

  // Hands every frame of `chain` to `fn(void*)` in arrival order and returns the entries to the
  // pool; the chain is empty afterwards.
  template <typename Fn>
  void drain(Chain& chain, Fn&& fn) {
    uint32_t i = chain.head;
    chain = Chain{};
    while (i != kNone) {
      Entry& e = entries_[i];
      const uint32_t next = e.next;
      void* handle = e.handle;
      e.next = free_;
      free_ = i;
      --in_use_;
      fn(handle);
      i = next;
    }
  }

  uint32_t in_use() const { return in_use_; }
  uint32_t capacity() const { return capacity_; }

 private:
  struct Entry {
    void* handle;
    uint32_t next;
  };
  uint32_t capacity_;
  uint32_t in_use_ = 0;
  uint32_t free_ = kNone;
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace sluice
