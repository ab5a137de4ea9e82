#include "dataplane/policy/name_entry.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dataplane/core/sni_name.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

bool has_non_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  return false;
}

}  // namespace

bool normalise_host_name(std::string_view in, std::string& out) {
  out = absl::AsciiStrToLower(av(in));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return is_valid_host_name(out);
}

absl::StatusOr<NameEntry> parse_name_entry(std::string_view text) {
  NameEntry entry;
  std::string_view name = text;
  if (name.starts_with("*.")) {
    entry.scope = kScopeSubdomains;
    name.remove_prefix(2);
  } else if (name.starts_with(".")) {
    entry.scope = kScopeTree;
    name.remove_prefix(1);
  }
  if (has_non_ascii(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", av(text), "' is not a host name (write internationalised names in punycode, xn--...)"));
  }
  if (name.find('*') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", av(text), "': '*' is allowed only as a leading '*.' (use a pattern list for more)"));
  }
  if (!normalise_host_name(name, entry.name))
    return absl::InvalidArgumentError(absl::StrCat("'", av(text), "' is not a host name"));
  return entry;
}

bool name_entry_matches(const NameEntry& entry, std::string_view name) {
  const std::string_view want = entry.name;
  if (name == want) return entry.scope & kScopeExact;
  return (entry.scope & kScopeSubdomains) && name.size() > want.size() &&
         name.substr(name.size() - want.size()) == want &&
         name[name.size() - want.size() - 1] == '.';
}

}  // namespace sluice
