#include "dataplane/core/handoff_frames.h"

#include <algorithm>
#include <cstring>

#include "dataplane/core/inet_checksum.h"
#include "dataplane/core/ip_address.h"

namespace sluice {
namespace {

constexpr uint8_t kUdp = 17;
constexpr uint16_t kMoreFragments = 0x2000;

}  // namespace

uint16_t handoff_udp_checksum(const InterceptPath& path, ByteSpan message) {
  const uint16_t length = static_cast<uint16_t>(8 + message.size());
  uint8_t header[8];
  store_be16(header, path.port);
  store_be16(header + 2, path.port);
  store_be16(header + 4, length);
  store_be16(header + 6, 0);
  uint32_t sum = pseudo_header_sum(IpAddress::from_v4(path.source_ip.data()),
                                   IpAddress::from_v4(path.appliance_ip.data()), false, kUdp,
                                   length);
  sum = checksum_add(sum, ByteSpan(header, 8));
  sum = checksum_add(sum, message);
  const uint16_t c = static_cast<uint16_t>(~sum);
  return c == 0 ? 0xffff : c;  // 0 means "no checksum" in UDP over IPv4
}

size_t build_handoff_fragment(const InterceptPath& path, uint16_t ip_id, ByteSpan message,
                              size_t offset, uint16_t udp_checksum, uint8_t* out) {
  const size_t ip_payload = 8 + message.size();
  const size_t chunk = std::min(kMaxFragmentPayload, ip_payload - offset);
  const bool more = offset + chunk < ip_payload;
  std::memcpy(out, path.tap_mac.data(), 6);
  std::memcpy(out + 6, path.source_mac.data(), 6);
  store_be16(out + 12, 0x0800);
  uint8_t* ip = out + kEthernetHeader;
  ip[0] = 0x45;
  ip[1] = 0;
  store_be16(ip + 2, static_cast<uint16_t>(20 + chunk));
  store_be16(ip + 4, ip_id);
  store_be16(ip + 6, static_cast<uint16_t>((more ? kMoreFragments : 0) | (offset / 8)));
  ip[8] = 64;
  ip[9] = kUdp;
  store_be16(ip + 10, 0);
  std::memcpy(ip + 12, path.source_ip.data(), 4);
  std::memcpy(ip + 16, path.appliance_ip.data(), 4);
  store_be16(ip + 10, static_cast<uint16_t>(~checksum_add(0, ByteSpan(ip, 20))));
  uint8_t* payload = ip + 20;
  size_t from_message = offset;  // message bytes start after the 8-byte UDP header
  size_t written = 0;
  if (offset == 0) {
    store_be16(payload, path.port);
    store_be16(payload + 2, path.port);
    store_be16(payload + 4, static_cast<uint16_t>(ip_payload));
    store_be16(payload + 6, udp_checksum);
    written = 8;
    from_message = 0;
  } else {
    from_message = offset - 8;
  }
  const size_t copy = chunk - written;
  if (copy > 0) std::memcpy(payload + written, message.data() + from_message, copy);
  return kEthernetHeader + 20 + chunk;
}

}  // namespace sluice
