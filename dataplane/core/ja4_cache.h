// The two hashed parts of JA4 (FoxIO) for value lists this worker has fingerprinted before.
//
// A new TLS flow's JA4 costs two SHA-256 digests of the sorted cipher and extension lists, a
// fifth of the time a worker spends on a new flow. Yet a school's clients are a few browser and
// app builds: the same sorted lists come back flow after flow (extension-order randomisation
// does not change them, JA4 sorts). The cache keeps, per list, the exact values and the 12 hex
// digits they hashed to; a lookup compares the whole list, so a hit is the digest itself, never a
// guess. Direct-mapped, fixed size, allocated once (with the worker): a miss costs one hash of the values and a
// compare, and the entry is overwritten.
//
// One per worker (FlowInspector owns it); not shared, not locked.
#pragma once

#include <vector>
#include <cstddef>
#include <cstdint>

namespace sluice {

class Ja4Cache {
 public:
  // Lists longer than this are hashed every time (no real client comes near it).
  static constexpr size_t kMaxValues = 62;
  static constexpr size_t kDefaultEntries = 512;

  // `entries` > 0; tests use 1 so that every list shares one slot.
  explicit Ja4Cache(size_t entries = kDefaultEntries) : entries_(entries) {}

  // Copies the 12 digits for `first` followed by `second` into `out` and returns true when they
  // are cached. The ciphers' digest is that of one list (`second` empty); the extensions' is
  // that of the extensions and the signature algorithms. Both hash the lists' text, so equal
  // lists mean an equal digest whichever part they came from: the entry needs no part tag.
  bool find(const uint16_t* first, size_t n_first, const uint16_t* second,
            size_t n_second, char* out) const;
  // Remembers the 12 digits computed for those lists (nothing when they are too long).
  void store(const uint16_t* first, size_t n_first, const uint16_t* second,
             size_t n_second, const char* digits);

  uint64_t hits() const { return hits_; }

 private:
  struct Entry {
    uint8_t used = 0;
    uint8_t n_first = 0;
    uint8_t n_second = 0;
    char digits[12];
    uint16_t values[kMaxValues];
  };
  static_assert(sizeof(Entry) == 140);

  size_t slot(const uint16_t* first, size_t n_first, const uint16_t* second,
                     size_t n_second) const;
  static bool same(const Entry& e, const uint16_t* first, size_t n_first,
                   const uint16_t* second, size_t n_second);

  std::vector<Entry> entries_;
  mutable uint64_t hits_ = 0;
};

}  // namespace sluice
