#include "dataplane/policy/name_set_factory.h"

#include "dataplane/policy/hash_name_set.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<NameSet>> make_name_set(const std::vector<NameEntry>& entries) {
  absl::StatusOr<std::unique_ptr<HashNameSet>> set = HashNameSet::build(entries);
  if (!set.ok()) return set.status();
  return std::unique_ptr<NameSet>(*std::move(set));
}

}  // namespace sluice
