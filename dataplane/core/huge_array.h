// A fixed-size array of trivially copyable T, backed by transparent huge pages when it is large.
// At millions of names the table and the name arena are far larger than what the TLB covers with
// 4 KiB pages; a page walk per probe would double the lookup cost. Allocated on the control path
// (madvise is a syscall); on a kernel without THP the hint is simply ignored.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>

namespace sluice {

inline constexpr size_t kHugePageBytes = size_t{2} << 20;
// Arrays of at least this many bytes are rounded up to whole huge pages (at most 1/8 more
// memory); smaller ones are allocated exactly and the TLB covers them well enough with 4 KiB.
inline constexpr size_t kHugeArrayMinBytes = size_t{16} << 20;

template <typename T>
class HugeArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  HugeArray() = default;
  // Zero-filled.
  explicit HugeArray(size_t n) : size_(n) {
    constexpr size_t kHuge = kHugePageBytes;
    size_t bytes = n * sizeof(T);
    if (bytes >= kHugeArrayMinBytes) {
      bytes_ = (bytes + kHuge - 1) / kHuge * kHuge;
      data_.reset(static_cast<T*>(std::aligned_alloc(kHuge, bytes_)));
      if (data_) madvise(data_.get(), bytes_, MADV_HUGEPAGE);
    } else {
      bytes_ = std::max<size_t>(bytes, alignof(T));
      bytes_ = (bytes_ + alignof(T) - 1) / alignof(T) * alignof(T);
      data_.reset(static_cast<T*>(std::aligned_alloc(alignof(T), bytes_)));
    }
    if (!data_) std::abort();  // control path: out of memory while compiling a policy
    std::memset(static_cast<void*>(data_.get()), 0, bytes_);
  }

  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](size_t i) { return data_.get()[i]; }
  const T& operator[](size_t i) const { return data_.get()[i]; }
  size_t size() const { return size_; }
  size_t memory_bytes() const { return bytes_; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  size_t size_ = 0;
  size_t bytes_ = 0;
};

}  // namespace sluice
