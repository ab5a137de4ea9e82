// Label-suffix walk over a bucketised hash table that keeps fingerprints and names together.
//
// Layout (memory per name is what decides whether 5M names fit in a small appliance):
//   buckets_  128 bytes each (two cache lines), 3 names a bucket on average (fewer when the
//             names are long, keeping entry areas ~3/4 full; never over 56 bytes a name):
//               bytes 0-15   8 slots' 16-bit fingerprints (0: empty slot)
//               bytes 16-23  where each slot's entry starts in the entry area
//               byte  24     bytes used of the entry area;  byte 25  bit 0: overflowed (some
//                            name whose home is here or earlier sits in a later bucket)
//               bytes 26-127 the entries: [scope][length][name bytes], or, for a name that did
//                            not fit, [scope][0][arena offset] (a spilled name)
//   arena_    [length][name bytes] of the spilled names only (a few percent).
// About 43 bytes of table per name plus a little arena for names of 20-25 bytes.
//
// Lookup: one right-to-left pass hashes every label suffix of the name (the hash is built from
// the last byte backwards, so each suffix's hash is a prefix of the work) and prefetches both
// lines of each suffix's bucket, so every memory load of the lookup is in flight at once. Then,
// without a branch per suffix, each bucket's 8 fingerprints are compared with its suffix's: a
// miss (most lookups) ends on one well-predicted branch; a hit compares the name where it already
// is, in the bucket (a spilled name costs one more load). The full name must carry the exact
// flag, a proper suffix the subdomain flag; suffixes start only after a dot, so label boundaries
// hold by construction.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/core/huge_array.h"
#include "dataplane/policy/name_entry.h"
#include "dataplane/policy/name_set.h"

namespace sluice {

class HashNameSet final : public NameSet {
 public:
  static absl::StatusOr<std::unique_ptr<HashNameSet>> build(const std::vector<NameEntry>& entries);

  bool matches(std::string_view name, PolicyScratch& scratch) const override;
  void prefetch(std::string_view name) const override;
  bool prepare_scratch(PolicyScratch&) const override { return true; }
  size_t memory_bytes() const override;
  size_t size() const override { return count_; }

  // The scope flags stored for exactly `name` (0 if absent). For tests and the differential check.
  uint8_t scope_of(std::string_view name) const;

  // Table shape, for tests and the benchmark: buckets, and buckets whose overflow mark is set
  // (a miss that reaches one reads the next bucket too).
  size_t bucket_count() const { return buckets_.size(); }
  size_t overflowed_buckets() const;

  static constexpr size_t kSlotsPerBucket = 8;
  static constexpr size_t kBucketBytes = 128;

 private:
  struct alignas(64) Bucket {
    uint16_t tag[kSlotsPerBucket];  // fingerprint, never 0 when used
    uint8_t pos[kSlotsPerBucket];   // where the slot's entry starts in `entries`
    uint8_t used;                   // bytes of the entry area in use
    uint8_t flags;                  // kOverflowed
    uint8_t entries[kBucketBytes - 26];
  };
  static_assert(sizeof(Bucket) == kBucketBytes);

  HashNameSet() = default;
  size_t home(uint64_t hash) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(hash) * buckets_.size()) >> 64);
  }
  // The lookup's first half, for matches() and prefetch(): hashes each suffix of `name` that
  // starts a label (shortest first) and asks for both lines of its home bucket, then calls
  // visit(hash, home bucket, where the suffix starts). False for a malformed name with more
  // suffixes than a lookup walks.
  template <typename Visit>
  bool probe_suffixes(std::string_view name, Visit&& visit) const;
  // The entry ([scope][length][bytes] or [scope][0][offset]) of exactly `name`, or nullptr.
  const uint8_t* find(uint64_t hash, std::string_view name, const char* arena) const;
  bool insert(uint64_t hash, const NameEntry& entry);

  std::vector<char> building_;  // the arena while names are added; moved into arena_ at the end
  HugeArray<char> arena_;
  HugeArray<Bucket> buckets_;
  size_t count_ = 0;
};

}  // namespace sluice
