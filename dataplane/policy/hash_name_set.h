// Label-suffix walk over an open-addressing hash table.
//
// Layout (memory per name is what decides whether 5M names fit in a small appliance):
//   arena_  one byte array; per distinct name: [scope flags][length][name bytes]
//   slots_  power-of-two table of {arena offset, 32 hash bits}, load <= 0.7, linear probing;
//           offset 0 means empty (the arena starts with one unused byte).
// About 2 + length bytes of arena plus 11-23 bytes of table per name: ~36 bytes for a 20-byte name.
//
// Lookup: one right-to-left pass hashes every label suffix of the name (the hash is built from
// the last byte backwards, so each suffix's hash is a prefix of the work), prefetches all their
// slots, then probes from the full name to shorter suffixes. The full name must carry the exact
// flag, a proper suffix the subdomain flag; suffixes start only after a dot, so label boundaries
// hold by construction.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/policy/huge_array.h"
#include "dataplane/policy/name_entry.h"
#include "dataplane/policy/name_set.h"

namespace sluice {

class HashNameSet final : public NameSet {
 public:
  static absl::StatusOr<std::unique_ptr<HashNameSet>> build(const std::vector<NameEntry>& entries);

  bool matches(std::string_view name, PolicyScratch& scratch) const override;
  bool prepare_scratch(PolicyScratch&) const override { return true; }
  size_t memory_bytes() const override;
  size_t size() const override { return count_; }

  // The scope flags stored for exactly `name` (0 if absent). For tests and the differential check.
  uint8_t scope_of(std::string_view name) const;

 private:
  struct Slot {
    uint32_t offset = 0;
    uint32_t tag = 0;
  };
  HashNameSet() = default;
  uint8_t probe(uint64_t hash, std::string_view name) const;
  bool insert(uint64_t hash, const NameEntry& entry);

  std::vector<char> building_;  // the arena while names are added; moved into arena_ at the end
  HugeArray<char> arena_;
  HugeArray<Slot> slots_;
  uint64_t mask_ = 0;
  size_t count_ = 0;
};

}  // namespace sluice
