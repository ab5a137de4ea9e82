// Reading list sources into entries. Control path only: allocates, reports the first bad line as
// "<path>:<line>: <reason>" so a network manager can fix it; a list with an error is refused whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/core/ip_address.h"
#include "dataplane/policy/name_entry.h"
#include "dataplane/policy/policy_source.h"

namespace sluice {

// One non-comment line of a list file, with its 1-based line number.
struct ListLine {
  std::string_view text;  // trimmed, comment removed, never empty
  int line = 0;
};

// Returns the list's text: `source.text` if set, else the contents of `source.path`.
absl::StatusOr<std::string> read_list_text(const ListSource& source);

// Splits text into meaningful lines: `#` starts a comment, blank lines are skipped.
std::vector<ListLine> split_list_lines(std::string_view text);

// `label` prefixes error messages (normally the file path).
absl::StatusOr<std::vector<NameEntry>> parse_domain_list(std::string_view text,
                                                         std::string_view label);
absl::StatusOr<std::vector<NameEntry>> parse_hosts_list(std::string_view text,
                                                        std::string_view label);

// An address prefix: `prefix_length` counts bits of the 16-byte form (IPv4 is ::ffff:a.b.c.d,
// so 10.0.0.0/8 is stored with length 104).
struct Cidr {
  IpAddress address;  // host bits cleared
  uint8_t prefix_length = 128;
};

// "192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "2001:db8::1". Host bits set in the address are
// refused ("10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?"), as a likely typo.
absl::StatusOr<Cidr> parse_cidr(std::string_view text);

}  // namespace sluice
