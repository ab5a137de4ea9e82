#include "dataplane/core/ip_address.h"

#include <arpa/inet.h>

namespace sluice {

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) return inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof(buf));
  return inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
}

}  // namespace sluice
