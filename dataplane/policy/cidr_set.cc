#include "dataplane/policy/cidr_set.h"

#include <algorithm>
#include <cstring>

namespace sluice {

IpAddress mask_address(const IpAddress& address, uint8_t prefix_length) {
  IpAddress masked = address;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(static_cast<int>(prefix_length) - i * 8, 0, 8);
    masked.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return masked;
}

size_t CidrSet::AddressHash::operator()(const IpAddress& a) const {
  uint64_t lo, hi;
  std::memcpy(&lo, a.bytes.data(), 8);
  std::memcpy(&hi, a.bytes.data() + 8, 8);
  uint64_t h = (lo * 0x9e3779b97f4a7c15ULL) ^ (hi + 0x632be59bd9b4e019ULL);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return static_cast<size_t>(h ^ (h >> 29));
}

CidrSet::CidrSet(const std::vector<Cidr>& cidrs) {
  for (const Cidr& cidr : cidrs) {
    auto it = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) {
      return g.prefix_length == cidr.prefix_length;
    });
    if (it == groups_.end()) {
      groups_.push_back(Group{cidr.prefix_length, {}});
      it = groups_.end() - 1;
    }
    if (it->masked.insert(mask_address(cidr.address, cidr.prefix_length)).second) ++count_;
  }
  std::sort(groups_.begin(), groups_.end(),
            [](const Group& a, const Group& b) { return a.prefix_length > b.prefix_length; });
}

bool CidrSet::contains(const IpAddress& address) const {
  for (const Group& group : groups_)
    if (group.masked.contains(mask_address(address, group.prefix_length))) return true;
  return false;
}

}  // namespace sluice
