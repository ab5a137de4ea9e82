// A set of address prefixes (IPv4 and IPv6 in one 16-byte space), answering "is this address
// inside any of them?" on the packet path without allocation: one hash set of masked addresses
// per distinct prefix length, so a lookup costs one probe per length in use (a handful in
// practice), not one per prefix.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "dataplane/core/ip_address.h"
#include "dataplane/policy/list_parser.h"

namespace sluice {

class CidrSet {
 public:
  CidrSet() = default;
  explicit CidrSet(const std::vector<Cidr>& cidrs);

  bool contains(const IpAddress& address) const;
  bool empty() const { return groups_.empty(); }
  size_t size() const { return count_; }

 private:
  struct AddressHash {
    size_t operator()(const IpAddress& a) const;
  };
  struct Group {
    uint8_t prefix_length = 0;
    absl::flat_hash_set<IpAddress, AddressHash> masked;
  };
  std::vector<Group> groups_;  // longest prefix first
  size_t count_ = 0;
};

// Clears the bits of `address` past `prefix_length`.
IpAddress mask_address(const IpAddress& address, uint8_t prefix_length);

}  // namespace sluice
