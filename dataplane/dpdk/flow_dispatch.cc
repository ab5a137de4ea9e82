#include "dataplane/dpdk/flow_dispatch.h"

namespace sluice {

const std::array<uint8_t, kSymmetricRssKeyLength>& symmetric_rss_key() {
  static const std::array<uint8_t, kSymmetricRssKeyLength> key = [] {
    std::array<uint8_t, kSymmetricRssKeyLength> k{};
    for (size_t i = 0; i < k.size(); i += 2) {
      k[i] = 0x6d;
      k[i + 1] = 0x5a;
    }
    return k;
  }();
  return key;
}

}  // namespace sluice
