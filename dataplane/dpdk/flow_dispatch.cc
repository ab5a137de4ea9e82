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

uint16_t dispatch_worker_for_frame(ByteSpan frame, uint16_t workers, uint16_t self) {
  if (workers <= 1) return 0;
  const uint8_t* p = frame.data();
  const size_t n = frame.size();
  size_t at = 12;
  uint16_t vlan = 0;
  if (n < at + 2) return self;
  uint16_t type = static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
  for (int tags = 0; (type == 0x8100 || type == 0x88a8) && tags < 2; ++tags) {
    if (n < at + 6) return self;
    vlan = static_cast<uint16_t>((p[at + 2] << 8 | p[at + 3]) & 0x0fff);
    at += 4;
    type = static_cast<uint16_t>(p[at] << 8 | p[at + 1]);
  }
  at += 2;
  IpAddress a;
  IpAddress b;
  if (type == 0x0800) {
    if (n < at + 20) return self;
    a = IpAddress::from_v4(p + at + 12);
    b = IpAddress::from_v4(p + at + 16);
  } else if (type == 0x86dd) {
    if (n < at + 40) return self;
    a = IpAddress::from_v6(p + at + 8);
    b = IpAddress::from_v6(p + at + 24);
  } else {
    return self;
  }
  bool a_is_lo;
  return dispatch_worker(FlowKey::make({a, 0}, {b, 0}, 0, vlan, a_is_lo), workers);
}

}  // namespace sluice
