// An IPv4 or IPv6 address held in 16 bytes (IPv4 as ::ffff:a.b.c.d) so flow keys have one shape.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

namespace sluice {

struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  static IpAddress from_v4(const uint8_t* p) {
    IpAddress a;
    a.bytes[10] = 0xff;
    a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, p, 4);
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
