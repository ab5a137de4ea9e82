// An IPv4 or IPv6 address held in 16 bytes (IPv4 as ::ffff:a.b.c.d) so flow keys have one shape.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

namespace sluice {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  // Written as two 64-bit words: the flow key reads these bytes back as words for every
  // packet, and a load that spans several narrower stores cannot be forwarded from them (the
  // CPU waits for the stores to retire).
  static IpAddress from_v4(const uint8_t* p) {
    IpAddress a;
    uint32_t v4;
    std::memcpy(&v4, p, 4);
    uint64_t low_word;  // bytes 8-15: 00 00 ff ff and the address
    if constexpr (std::endian::native == std::endian::little) {
      low_word = (uint64_t{v4} << 32) | 0xffff0000u;
    } else {
      low_word = 0xffff00000000ull | v4;
    }
    const uint64_t words[2] = {0, low_word};
    std::memcpy(a.bytes.data(), words, 16);
    return a;
  }
  static IpAddress from_v6(const uint8_t* p) {
    IpAddress a;
    std::memcpy(a.bytes.data(), p, 16);
    return a;
  }
  bool is_v4() const {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(bytes.data(), kPrefix, 12) == 0;
  }
  // Dotted quad or RFC 5952 text. Control path only (allocates).
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

}  // namespace sluice
