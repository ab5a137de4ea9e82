#include "control/socket_address.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

std::optional<SocketAddress> numeric_socket_address(const std::string& host, uint16_t port) {
  SocketAddress out;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    out.length = sizeof(sockaddr_in);
    return out;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  return std::nullopt;
}

absl::StatusOr<SocketAddress> parse_socket_address(std::string_view text, bool allow_port_zero) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return absl::InvalidArgumentError("an IPv6 address in brackets needs ']:PORT' after it");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return absl::InvalidArgumentError("the port is missing");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return absl::InvalidArgumentError("write an IPv6 address in brackets, [ADDRESS]:PORT");
  }
  const uint32_t lowest = allow_port_zero ? 0 : 1;
  uint32_t number = 0;
  if (port.empty() || !absl::SimpleAtoi(av(port), &number) || number < lowest || number > 65535)
    return absl::InvalidArgumentError(absl::StrCat("the port must be a number from ", lowest, " to 65535"));
  std::optional<SocketAddress> out = numeric_socket_address(std::string(host), static_cast<uint16_t>(number));
  if (!out)
    return absl::InvalidArgumentError(
        "the host must be a numeric IPv4 or IPv6 address (names are not resolved)");
  return *out;
}

}  // namespace sluice
