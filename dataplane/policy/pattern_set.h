// A list of Hyperscan expressions matched against the whole server name (block mode, one
// database per list). Compiled with hs_compile_multi; any expression matching is a match.
#pragma once

#include <hs/hs.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/policy/policy_scratch.h"

namespace sluice {

struct PatternLine {
  std::string expression;
  std::string origin;  // "policy/patterns.list:7", prefixed to Hyperscan's message on error
};

class PatternSet {
 public:
  // Flags: HS_FLAG_SINGLEMATCH (membership only), HS_FLAG_CASELESS (names are lower case but
  // people write `Example`), HS_FLAG_DOTALL. An expression Hyperscan refuses fails the whole
  // set with "<origin>: '<expression>': <Hyperscan's message>".
  static absl::StatusOr<std::unique_ptr<PatternSet>> compile(const std::vector<PatternLine>& lines);
  ~PatternSet();
  PatternSet(const PatternSet&) = delete;
  PatternSet& operator=(const PatternSet&) = delete;

  // Packet path. `scratch` must have been prepared for this set.
  bool matches(std::string_view name, PolicyScratch& scratch) const;
  bool prepare_scratch(PolicyScratch& scratch) const;
  size_t memory_bytes() const;
  size_t size() const { return count_; }

 private:
  PatternSet() = default;
  hs_database_t* db_ = nullptr;
  size_t count_ = 0;
};

}  // namespace sluice
