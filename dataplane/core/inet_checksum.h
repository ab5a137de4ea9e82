// The Internet checksum (RFC 1071): one's-complement sum of 16-bit big-endian words. Shared by
// the L2-L4 parser and by anything that checks or rewrites TCP/UDP/IPv4 headers.
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/ip_address.h"

namespace sluice {

// Adds `bytes` to a running sum and returns it folded to 16 bits (never 0 unless everything
// summed was 0). Only the last span of one checksum may have an odd length: its last byte is
// padded with a zero, as RFC 1071 says.
inline uint32_t checksum_add(uint32_t sum, ByteSpan bytes) {
  // 32-bit words summed into 64 bits: 2^16 == 1 (mod 0xffff), so folding the wide sum gives the
  // same result as adding 16-bit words, with a quarter of the additions.
  uint64_t acc = sum;
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  for (; n >= 4; n -= 4, p += 4) acc += load_be32(p);
  if (n >= 2) {
    acc += load_be16(p);
    n -= 2;
    p += 2;
  }
  if (n == 1) acc += static_cast<uint32_t>(p[0]) << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint32_t>(acc);
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
