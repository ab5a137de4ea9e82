#include "dataplane/core/ja4_cache.h"

#include <cstring>

namespace sluice {

size_t Ja4Cache::slot(const uint16_t* first, size_t n_first, const uint16_t* second,
                      size_t n_second) const {
  // Not keyed against anyone: a client that makes its lists collide only evicts its own
  // entries, and every hit is checked value by value.
  uint64_t h = 0x9e3779b97f4a7c15ULL + (n_first << 8) + n_second;
  auto mix = [&h](const uint16_t* v, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ v[i]) * 0xff51afd7ed558ccdULL;
  };
  mix(first, n_first);
  mix(second, n_second);
  return static_cast<size_t>(h >> 32) % entries_.size();
}

bool Ja4Cache::same(const Entry& e, const uint16_t* first, size_t n_first,
                    const uint16_t* second, size_t n_second) {
  return e.used && e.n_first == n_first &&
         e.n_second == n_second &&
         (n_first == 0 || std::memcmp(e.values, first, n_first * 2) == 0) &&
         (n_second == 0 || std::memcmp(e.values + n_first, second, n_second * 2) == 0);
}

bool Ja4Cache::find(const uint16_t* first, size_t n_first, const uint16_t* second,
                    size_t n_second, char* out) const {
  if (n_first + n_second > kMaxValues) return false;
  const Entry& e = entries_[slot(first, n_first, second, n_second)];
  if (!same(e, first, n_first, second, n_second)) return false;
  std::memcpy(out, e.digits, sizeof e.digits);
  ++hits_;
  return true;
}

void Ja4Cache::store(const uint16_t* first, size_t n_first, const uint16_t* second,
                     size_t n_second, const char* digits) {
  if (n_first + n_second > kMaxValues) return;
  Entry& e = entries_[slot(first, n_first, second, n_second)];
  e.used = 1;
  e.n_first = static_cast<uint8_t>(n_first);
  e.n_second = static_cast<uint8_t>(n_second);
  std::memcpy(e.digits, digits, sizeof e.digits);
  if (n_first > 0) std::memcpy(e.values, first, n_first * 2);
  if (n_second > 0) std::memcpy(e.values + n_first, second, n_second * 2);
}

}  // namespace sluice
