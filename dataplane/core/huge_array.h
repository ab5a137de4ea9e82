// Memory for large, long-lived arrays, backed by transparent huge pages. A flow table, the
// first-flight buffers or a policy's name table at trust scale is far larger than what the TLB
// covers with 4 KiB pages: a page walk per access would cost as much as the access. Allocated
// on control paths only (madvise is a system call); on a kernel with THP off the hint is
// ignored and the memory is ordinary.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

namespace sluice {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;
// Blocks of at least this many bytes are rounded up to whole huge pages (at most 1/8 more
// memory); smaller ones are allocated exactly and the TLB covers them well enough with 4 KiB.
inline constexpr size_t kHugeArrayMinBytes = size_t{16} << 20;

struct HugeFree {
  void operator()(void* p) const { std::free(p); }
};
using HugeMemory = std::unique_ptr<void, HugeFree>;

// `bytes` (at least `align`-aligned), marked for huge pages when large; *allocated says how
// much was taken. Not zeroed and not touched: pages are faulted in, by whoever first writes
// them (so on that thread's NUMA node), as the array fills. Aborts when memory is exhausted
// (a start-up or policy-build path: nothing sensible can go on without it).
inline HugeMemory allocate_huge(size_t bytes, size_t align, size_t* allocated = nullptr) {
  size_t taken;
  void* p;
  if (bytes >= kHugeArrayMinBytes) {
    taken = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    p = std::aligned_alloc(kHugePageBytes, taken);
    if (p != nullptr) madvise(p, taken, MADV_HUGEPAGE);
  } else {
    taken = std::max(bytes, align);
    taken = (taken + align - 1) / align * align;
    p = std::aligned_alloc(align, taken);
  }
  if (p == nullptr) std::abort();
  if (allocated != nullptr) *allocated = taken;
  return HugeMemory(p);
}

// A fixed-size, zero-filled array of trivially copyable T in such memory.
template <typename T>
class HugeArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  HugeArray() = default;
  explicit HugeArray(size_t n) : size_(n), data_(allocate_huge(n * sizeof(T), alignof(T), &bytes_)) {
    std::memset(data_.get(), 0, bytes_);
  }

  T* data() { return static_cast<T*>(data_.get()); }
  const T* data() const { return static_cast<const T*>(data_.get()); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  size_t size() const { return size_; }
  size_t memory_bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;  // before data_, whose initialisation sets it
  size_t size_ = 0;
  HugeMemory data_;
};

}  // namespace sluice
