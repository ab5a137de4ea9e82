#include "dataplane/config/config_values.h"

#include <gtest/gtest.h>

namespace sluice::config {
namespace {

TEST(Duration, UnitsAndFormatting) {
  EXPECT_EQ(*parse_duration_ns("300ms"), 300'000'000u);
  EXPECT_EQ(*parse_duration_ns("10s"), 10'000'000'000u);
  EXPECT_EQ(*parse_duration_ns("5m"), 300'000'000'000u);
  EXPECT_EQ(*parse_duration_ns("2h"), 7'200'000'000'000u);
  EXPECT_EQ(*parse_duration_ns("250us"), 250'000u);
  EXPECT_EQ(*parse_duration_ns("7ns"), 7u);
  EXPECT_EQ(*parse_duration_ns("0"), 0u);
  EXPECT_FALSE(parse_duration_ns("10").ok());
  EXPECT_FALSE(parse_duration_ns("s").ok());
  EXPECT_FALSE(parse_duration_ns("-1s").ok());
  EXPECT_FALSE(parse_duration_ns("1.5s").ok());
  EXPECT_FALSE(parse_duration_ns("10 s").ok());
  EXPECT_FALSE(parse_duration_ns("99999999999999999999h").ok());
  EXPECT_FALSE(parse_duration_ns("9999999999999h").ok());
  EXPECT_EQ(format_duration(300'000'000), "300ms");
  EXPECT_EQ(format_duration(600'000'000'000), "10m");
  EXPECT_EQ(format_duration(1'500'000'000), "1500ms");
  EXPECT_EQ(format_duration(1'001), "1001ns");
}

TEST(ByteSize, Units) {
  EXPECT_EQ(*parse_byte_size("16384"), 16384u);
  EXPECT_EQ(*parse_byte_size("16KiB"), 16384u);
  EXPECT_EQ(*parse_byte_size("100MiB"), 100u << 20);
  EXPECT_EQ(*parse_byte_size("1GiB"), 1u << 30);
  EXPECT_EQ(*parse_byte_size("100MB"), 100'000'000u);
  EXPECT_EQ(*parse_byte_size("8B"), 8u);
  EXPECT_FALSE(parse_byte_size("16k").ok());
  EXPECT_FALSE(parse_byte_size("MiB").ok());
  EXPECT_FALSE(parse_byte_size("1.5GiB").ok());
}

TEST(PciAddress, FullAndShortForms) {
  EXPECT_EQ(*parse_pci_address("0000:3b:00.0"), "0000:3b:00.0");
  EXPECT_EQ(*parse_pci_address("3B:00.1"), "0000:3b:00.1");
  EXPECT_EQ(*parse_pci_address("0001:af:1f.7"), "0001:af:1f.7");
  EXPECT_FALSE(parse_pci_address("0000:3b:00").ok());
  EXPECT_FALSE(parse_pci_address("0000:3b:20.0").ok());  // device is 5 bits
  EXPECT_FALSE(parse_pci_address("0000:3b:00.8").ok());  // function is 3 bits
  EXPECT_FALSE(parse_pci_address("000:3b:00.0").ok());
  EXPECT_FALSE(parse_pci_address("eth0").ok());
}

TEST(Vdev, NameDriverAndArguments) {
  absl::StatusOr<Vdev> v = parse_vdev("net_af_packet0,iface=veth1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->name, "net_af_packet0");
  EXPECT_EQ(v->driver, "net_af_packet");
  EXPECT_EQ(parse_vdev("net_tap12,iface=sluice0")->driver, "net_tap");
  EXPECT_EQ(parse_vdev("net_pcap0,rx_pcap=/x.pcap,tx_pcap=/y.pcap")->driver, "net_pcap");
  EXPECT_EQ(parse_vdev("net_null0")->name, "net_null0");
  EXPECT_FALSE(parse_vdev("net_tap,iface=x").ok());
  EXPECT_FALSE(parse_vdev("net_0").ok());
  EXPECT_FALSE(parse_vdev("eth_tap0").ok());
  EXPECT_FALSE(parse_vdev("net_tap0,iface").ok());
  EXPECT_FALSE(parse_vdev("net_Tap0").ok());
}

TEST(IpPrefix, V4V6AndHostBits) {
  absl::StatusOr<IpPrefix> p = parse_ip_prefix("10.20.0.0/16");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->network.is_v4());
  EXPECT_EQ(p->prefix_length, 112);
  EXPECT_EQ(parse_ip_prefix("0.0.0.0/0")->prefix_length, 96);
  EXPECT_EQ(parse_ip_prefix("2001:db8::/32")->prefix_length, 32);
  EXPECT_EQ(parse_ip_prefix("192.0.2.1")->prefix_length, 128);
  EXPECT_FALSE(parse_ip_prefix("10.20.0.1/16").ok());
  EXPECT_FALSE(parse_ip_prefix("10.20.0.0/33").ok());
  EXPECT_FALSE(parse_ip_prefix("10.20.0.0/").ok());
  EXPECT_FALSE(parse_ip_prefix("2001:db8::1/32").ok());
  EXPECT_FALSE(parse_ip_prefix("guests").ok());
}

TEST(ClosestMatch, TyposOnly) {
  EXPECT_EQ(closest_match("rx_descriptor", {"rx_descriptors", "tx_descriptors", "burst"}),
            "rx_descriptors");
  EXPECT_EQ(closest_match("polcy", {"policy", "ports"}), "policy");
  EXPECT_EQ(closest_match("colour", {"policy", "ports"}), "");
  EXPECT_EQ(closest_match("ab", {"ba"}), "");
}

}  // namespace
}  // namespace sluice::config
