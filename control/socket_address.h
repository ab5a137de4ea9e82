// Numeric socket addresses, read one way wherever a configuration names an address to listen on
// or send to (the API's TCP listener, the syslog receiver, sluice-intercept's listeners) and
// wherever a host may be numeric (a CONNECT target). Names are never resolved here: a lookup
// could block the thread that asked.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sluice {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  uint16_t port() const;
};

// `host` a numeric IPv4 or IPv6 address (no brackets) and `port`; nullopt for anything else.
std::optional<SocketAddress> numeric_socket_address(const std::string& host, uint16_t port);

// "ADDRESS:PORT" or "[IPV6]:PORT", numeric. InvalidArgument with the reason alone (the caller
// names the setting). Port 0 (the kernel picks one) only when `allow_port_zero`.
absl::StatusOr<SocketAddress> parse_socket_address(std::string_view text, bool allow_port_zero = false);

}  // namespace sluice
