// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words. Shared by
// the L2-L4 parser and by anything that checks or rewrites TCP/UDP/IPv4 headers.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "dataplane/core/bytes.h"
#include "dataplane/core/ip_address.h"

namespace sluice {

// Adds `bytes` to a running sum and returns it folded to 16 bits (never 0 unless everything
// summed was 0). Only the last span of one checksum may have an odd length: its last byte is
// padded with a zero, as RFC 1071 says.
inline uint32_t checksum_add(uint32_t sum, ByteSpan bytes) {
  // Summed in native byte order, eight bytes at a time, and swapped once at the end: the
  // one's-complement sum is independent of byte order (RFC 1071 2(B)). Each 64-bit load adds its
  // two 32-bit halves into a 64-bit accumulator, which cannot overflow for any packet size.
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  uint64_t acc = 0;
  for (; n >= 16; n -= 16, p += 16) {
    uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    acc += (a & 0xffffffffu) + (a >> 32) + (b & 0xffffffffu) + (b >> 32);
  }
  for (; n >= 2; n -= 2, p += 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
  }
  if (n == 1) {
    // The odd byte is the high-order byte of a zero-padded big-endian word.
    acc += std::endian::native == std::endian::little ? p[0] : static_cast<uint32_t>(p[0]) << 8;
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  uint32_t folded = static_cast<uint32_t>(acc);
  if constexpr (std::endian::native == std::endian::little)
    folded = ((folded & 0xff) << 8) | (folded >> 8);
  uint64_t total = uint64_t{sum} + folded;
  while (total >> 16) total = (total & 0xffff) + (total >> 16);
  return static_cast<uint32_t>(total);
}

inline uint16_t checksum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Sum of the TCP/UDP pseudo-header (RFC 793 / RFC 8200 section 8.1), folded, not complemented.
// This is also the value Linux leaves in the checksum field under TX checksum offload.
inline uint16_t pseudo_header_sum(const IpAddress& src, const IpAddress& dst, bool ipv6,
                                  uint8_t protocol, uint32_t l4_length) {
  uint32_t sum = 0;
  if (ipv6) {
    sum = checksum_add(sum, ByteSpan(src.bytes.data(), 16));
    sum = checksum_add(sum, ByteSpan(dst.bytes.data(), 16));
  } else {
    sum = checksum_add(sum, ByteSpan(src.bytes.data() + 12, 4));
    sum = checksum_add(sum, ByteSpan(dst.bytes.data() + 12, 4));
  }
  sum += protocol + (l4_length >> 16) + (l4_length & 0xffff);
  return checksum_fold(sum);
}

}  // namespace sluice
