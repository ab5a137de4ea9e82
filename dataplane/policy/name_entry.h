// One entry of a name list, in the syntax shared by every list (files, hosts files, built-ins):
//   `name`    exactly that name
//   `.name`   the name and all its subdomains (Squid's dstdomain convention)
//   `*.name`  its subdomains only
// Matching always respects label boundaries: `.example.com` covers `a.example.com`, never
// `badexample.com`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice {

// Bit flags, so one stored name can carry several forms (`a.com` and `*.a.com` in one list).
enum NameScope : uint8_t {
  kScopeExact = 1,       // the name itself
  kScopeSubdomains = 2,  // names below it
  kScopeTree = kScopeExact | kScopeSubdomains,
};

struct NameEntry {
  std::string name;  // normalised: lower case, no trailing dot, valid host-name syntax
  uint8_t scope = kScopeExact;
};

// Parses and normalises one entry (already trimmed). The error message is the reason alone,
// e.g. "'exa mple.com' is not a host name"; the caller adds file:line.
absl::StatusOr<NameEntry> parse_name_entry(std::string_view text);

// Whether `name` (normalised) is covered by `entry`, on label boundaries.
bool name_entry_matches(const NameEntry& entry, std::string_view name);

// Lower-cases and drops one trailing dot; returns false if the result is not a valid host name
// (including non-ASCII: IDNs are accepted only as punycode).
bool normalise_host_name(std::string_view in, std::string& out);

}  // namespace sluice
