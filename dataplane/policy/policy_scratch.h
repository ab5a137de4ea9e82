// Per-thread working memory for policy lookups: Hyperscan scratch plus a buffer for the framed
// name that the literal matcher scans. Allocated off the packet path by
// PolicySnapshot::allocate_scratch(); each worker owns one and passes it to every lookup.
#pragma once

#include <hs/hs.h>

#include <array>
#include <cstddef>

namespace sluice {

class PolicyScratch {
 public:
  PolicyScratch() = default;
  ~PolicyScratch();
  PolicyScratch(const PolicyScratch&) = delete;
  PolicyScratch& operator=(const PolicyScratch&) = delete;

  // Grows the Hyperscan scratch so it serves `db` too. Control path.
  hs_error_t grow_for(const hs_database_t* db) { return hs_alloc_scratch(db, &hs_); }

  hs_scratch_t* hs() { return hs_; }
  // Room for a 255-byte name plus a marker at each end.
  std::array<char, 260>& frame() { return frame_; }

 private:
  hs_scratch_t* hs_ = nullptr;
  std::array<char, 260> frame_{};
};

}  // namespace sluice
