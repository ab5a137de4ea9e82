// Hyperscan literal mode over the name framed by boundary markers.
//
// The scanned buffer is "\n" + name + "\n" ('\n' never occurs in a host name). Each entry becomes
// one or two literals, so every match is anchored at a label boundary and at the end:
//   exact      "\n" + name + "\n"   (starts at the beginning, ends at the end)
//   subdomain  "."  + name + "\n"   (starts after a label boundary, ends at the end)
// `.name` yields both. All literals are HS_FLAG_SINGLEMATCH and the callback stops the scan at
// the first match: membership is all we need.
#pragma once

#include <hs/hs.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/policy/name_entry.h"
#include "dataplane/policy/name_set.h"

namespace sluice {

class LiteralNameSet final : public NameSet {
 public:
  static absl::StatusOr<std::unique_ptr<LiteralNameSet>> build(
      const std::vector<NameEntry>& entries);
  ~LiteralNameSet() override;

  bool matches(std::string_view name, PolicyScratch& scratch) const override;
  bool prepare_scratch(PolicyScratch& scratch) const override;
  size_t memory_bytes() const override;
  size_t size() const override { return count_; }

 private:
  LiteralNameSet() = default;
  hs_database_t* db_ = nullptr;
  size_t count_ = 0;
};

}  // namespace sluice
