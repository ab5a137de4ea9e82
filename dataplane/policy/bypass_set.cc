#include "dataplane/policy/bypass_set.h"

#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {

std::unique_ptr<const BypassSet> BypassSet::build(const std::vector<BypassEntry>& entries) {
  std::unique_ptr<BypassSet> set(new BypassSet());
  set->entries_.reserve(entries.size());
  for (const BypassEntry& e : entries) {
    const auto index = static_cast<uint32_t>(set->entries_.size());
    set->entries_.push_back(
        {e.name.scope, CidrSet(e.clients), e.ja4, absl::StrCat("bypass:", e.id)});
    set->by_name_[e.name.name].push_back(index);
  }
  return set;
}

const std::string* BypassSet::match(const FlowFacts& facts) const {
  if (entries_.empty() || facts.server_name.empty() || !names_its_server(facts.first_flight))
    return nullptr;
  // The name itself, then each parent on a label boundary: `a.b.example.com`, `b.example.com`,
  // `example.com`, `com`. Of the entries that fit, the one given first names the decision.
  std::string_view name = facts.server_name;
  const std::string* best = nullptr;
  uint32_t best_index = UINT32_MAX;
  for (bool exact = true;; exact = false) {
    if (auto it = by_name_.find(av(name)); it != by_name_.end()) {
      for (uint32_t index : it->second) {
        const Compiled& e = entries_[index];
        if (!(e.scope & (exact ? kScopeExact : kScopeSubdomains))) continue;
        if (!e.clients.empty() && !e.clients.contains(facts.client_ip)) continue;
        if (!e.ja4.empty() && e.ja4 != facts.ja4) continue;
        if (index < best_index) {
          best_index = index;
          best = &e.label;
        }
        break;
      }
    }
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  return best;
}

}  // namespace sluice
