#include "dataplane/policy/literal_name_set.h"

#include <cstring>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

constexpr size_t kMaxName = 255;

int stop_at_first(unsigned, unsigned long long, unsigned long long, unsigned, void*) { return 1; }

}  // namespace

absl::StatusOr<std::unique_ptr<LiteralNameSet>> LiteralNameSet::build(
    const std::vector<NameEntry>& entries) {
  // Merge the forms of each name first, so `a.com` and `.a.com` do not make duplicate literals.
  absl::flat_hash_map<std::string_view, uint8_t> scopes;
  scopes.reserve(entries.size());
  for (const NameEntry& entry : entries) {
    if (entry.name.empty() || entry.name.size() > kMaxName)
      return absl::InvalidArgumentError(absl::StrCat("'", entry.name, "' is not a host name"));
    scopes[entry.name] |= entry.scope;
  }
  std::unique_ptr<LiteralNameSet> set(new LiteralNameSet());
  set->count_ = scopes.size();
  if (scopes.empty()) return set;  // Hyperscan refuses an empty database; matches() says no

  std::vector<std::string> literals;
  literals.reserve(scopes.size() * 2);
  for (const auto& [name, scope] : scopes) {
    if (scope & kScopeExact) literals.push_back(absl::StrCat("\n", av(name), "\n"));
    if (scope & kScopeSubdomains) literals.push_back(absl::StrCat(".", av(name), "\n"));
  }
  std::vector<const char*> pointers;
  std::vector<size_t> lengths;
  pointers.reserve(literals.size());
  lengths.reserve(literals.size());
  for (const std::string& literal : literals) {
    pointers.push_back(literal.data());
    lengths.push_back(literal.size());
  }
  std::vector<unsigned> flags(literals.size(), HS_FLAG_SINGLEMATCH);
  std::vector<unsigned> ids(literals.size(), 0);  // any match is a match
  hs_compile_error_t* error = nullptr;
  if (hs_compile_lit_multi(pointers.data(), flags.data(), ids.data(), lengths.data(),
                           static_cast<unsigned>(literals.size()), HS_MODE_BLOCK, nullptr,
                           &set->db_, &error) != HS_SUCCESS) {
    std::string message = error != nullptr ? error->message : "unknown error";
    hs_free_compile_error(error);
    return absl::InternalError(absl::StrCat("Hyperscan could not compile the name list: ", message));
  }
  return set;
}

LiteralNameSet::~LiteralNameSet() {
  if (db_ != nullptr) hs_free_database(db_);
}

bool LiteralNameSet::prepare_scratch(PolicyScratch& scratch) const {
  return db_ == nullptr || scratch.grow_for(db_) == HS_SUCCESS;
}

bool LiteralNameSet::matches(std::string_view name, PolicyScratch& scratch) const {
  if (db_ == nullptr || name.empty() || name.size() > kMaxName) return false;
  char* frame = scratch.frame().data();
  frame[0] = '\n';
  std::memcpy(frame + 1, name.data(), name.size());
  frame[name.size() + 1] = '\n';
  return hs_scan(db_, frame, static_cast<unsigned>(name.size() + 2), 0, scratch.hs(),
                 stop_at_first, nullptr) == HS_SCAN_TERMINATED;
}

size_t LiteralNameSet::memory_bytes() const {
  size_t bytes = 0;
  if (db_ != nullptr) hs_database_size(db_, &bytes);
  return bytes + sizeof(*this);
}

}  // namespace sluice
