#include "control/socket_address.h"

#include <gtest/gtest.h>

namespace sluice {
namespace {

std::string reason(std::string_view text, bool allow_port_zero = false) {
  return std::string(parse_socket_address(text, allow_port_zero).status().message());
}

TEST(SocketAddressTest, NumericV4AndBracketedV6) {
  absl::StatusOr<SocketAddress> v4 = parse_socket_address("192.0.2.10:514");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->port(), 514);
  EXPECT_EQ(v4->length, sizeof(sockaddr_in));
  absl::StatusOr<SocketAddress> v6 = parse_socket_address("[2001:db8::10]:6514");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->port(), 6514);
  EXPECT_TRUE(parse_socket_address("127.0.0.1:0", /*allow_port_zero=*/true).ok());
}

TEST(SocketAddressTest, EachMistakeSaysWhatToWrite) {
  EXPECT_EQ(reason("192.0.2.10"), "the port is missing");
  EXPECT_EQ(reason("2001:db8::10:514"), "write an IPv6 address in brackets, [ADDRESS]:PORT");
  EXPECT_EQ(reason("[2001:db8::10]514"), "an IPv6 address in brackets needs ']:PORT' after it");
  EXPECT_EQ(reason("192.0.2.10:0"), "the port must be a number from 1 to 65535");
  EXPECT_EQ(reason("192.0.2.10:70000", true), "the port must be a number from 0 to 65535");
  EXPECT_EQ(reason("logs.example:514"),
            "the host must be a numeric IPv4 or IPv6 address (names are not resolved)");
}

TEST(SocketAddressTest, NumericHostsOnly) {
  EXPECT_TRUE(numeric_socket_address("10.0.0.1", 443).has_value());
  EXPECT_TRUE(numeric_socket_address("::1", 443).has_value());
  EXPECT_FALSE(numeric_socket_address("example.com", 443).has_value());
  EXPECT_FALSE(numeric_socket_address("[::1]", 443).has_value());
}

}  // namespace
}  // namespace sluice
