// Scalar value syntaxes of the run configuration, independent of YAML: durations, byte sizes,
// PCI addresses, vdev strings, IP prefixes, and the "did you mean" matcher. Errors are reasons
// without a location; the parser adds FILE:LINE:COLUMN.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dataplane/config/run_config.h"

namespace sluice::config {

// "300ms", "10s", "5m", "1h", "250us", "100ns", or "0". Integers only: "1.5s" is refused (write
// "1500ms"), as is a bare number other than 0, because the unit is never implied.
absl::StatusOr<uint64_t> parse_duration_ns(absl::string_view text);
// The shortest exact spelling: 300000000 -> "300ms".
std::string format_duration(uint64_t ns);

// "16384", "16KiB", "100MiB", "1GiB" (powers of 1024) or "100MB" (powers of 1000).
absl::StatusOr<uint64_t> parse_byte_size(absl::string_view text);

// "0000:3b:00.0" or "3b:00.0"; returns the full lower-case form.
absl::StatusOr<std::string> parse_pci_address(absl::string_view text);

struct Vdev {
  std::string name;    // "net_af_packet0"
  std::string driver;  // "net_af_packet"
};
// "net_<driver><instance>[,key=value]...", e.g. "net_af_packet0,iface=veth1".
absl::StatusOr<Vdev> parse_vdev(absl::string_view text);

// "10.20.0.0/16", "2001:db8::/32", or a single address (a host prefix). Host bits must be zero.
absl::StatusOr<IpPrefix> parse_ip_prefix(absl::string_view text);

// The candidate closest to `word` if it is a plausible typo (small edit distance), else "".
absl::string_view closest_match(absl::string_view word,
                               std::initializer_list<absl::string_view> candidates);

}  // namespace sluice::config
