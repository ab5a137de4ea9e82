#include "dataplane/policy/pattern_set.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

int stop_at_first(unsigned, unsigned long long, unsigned long long, unsigned, void*) { return 1; }

}  // namespace

absl::StatusOr<std::unique_ptr<PatternSet>> PatternSet::compile(
    const std::vector<PatternLine>& lines) {
  std::unique_ptr<PatternSet> set(new PatternSet());
  set->count_ = lines.size();
  if (lines.empty()) return set;
  std::vector<const char*> expressions;
  std::vector<unsigned> flags(lines.size(),
                              HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS | HS_FLAG_DOTALL);
  std::vector<unsigned> ids;
  for (size_t i = 0; i < lines.size(); ++i) {
    expressions.push_back(lines[i].expression.c_str());
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_compile_error_t* error = nullptr;
  if (hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(lines.size()), HS_MODE_BLOCK, nullptr, &set->db_,
                       &error) != HS_SUCCESS) {
    std::string message = error != nullptr ? error->message : "unknown error";
    int which = error != nullptr ? error->expression : -1;
    hs_free_compile_error(error);
    if (which >= 0 && static_cast<size_t>(which) < lines.size()) {
      return absl::InvalidArgumentError(absl::StrCat(lines[which].origin, ": '",
                                                     lines[which].expression, "': ", message));
    }
    // Not one expression's fault (e.g. the set as a whole is too large): name the first line.
    return absl::InvalidArgumentError(
        absl::StrCat(lines.front().origin, ": pattern list refused by Hyperscan: ", message));
  }
  return set;
}

PatternSet::~PatternSet() {
  if (db_ != nullptr) hs_free_database(db_);
}

bool PatternSet::prepare_scratch(PolicyScratch& scratch) const {
  return db_ == nullptr || scratch.grow_for(db_) == HS_SUCCESS;
}

bool PatternSet::matches(std::string_view name, PolicyScratch& scratch) const {
  if (db_ == nullptr) return false;
  return hs_scan(db_, name.data(), static_cast<unsigned>(name.size()), 0, scratch.hs(),
                 stop_at_first, nullptr) == HS_SCAN_TERMINATED;
}

size_t PatternSet::memory_bytes() const {
  size_t bytes = 0;
  if (db_ != nullptr) hs_database_size(db_, &bytes);
  return bytes + sizeof(*this);
}

}  // namespace sluice
