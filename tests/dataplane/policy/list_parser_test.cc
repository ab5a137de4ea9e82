#include "dataplane/policy/list_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice {
namespace {

std::string message(const absl::Status& s) { return std::string(s.message()); }

TEST(NameEntry, ThreeForms) {
  auto exact = parse_name_entry("example.com");
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->name, "example.com");
  EXPECT_EQ(exact->scope, kScopeExact);
  auto tree = parse_name_entry(".example.com");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->name, "example.com");
  EXPECT_EQ(tree->scope, kScopeTree);
  auto subs = parse_name_entry("*.example.com");
  ASSERT_TRUE(subs.ok());
  EXPECT_EQ(subs->name, "example.com");
  EXPECT_EQ(subs->scope, kScopeSubdomains);
}

TEST(NameEntry, NormalisesCaseAndTrailingDot) {
  auto entry = parse_name_entry(".WWW.Example.COM.");
  ASSERT_TRUE(entry.ok());
  EXPECT_EQ(entry->name, "www.example.com");
  EXPECT_EQ(entry->scope, kScopeTree);
}

TEST(NameEntry, RefusesWhatIsNotAHostName) {
  EXPECT_EQ(message(parse_name_entry("exa mple.com").status()), "'exa mple.com' is not a host name");
  EXPECT_FALSE(parse_name_entry("a..b").ok());
  EXPECT_FALSE(parse_name_entry("-a.com").ok());
  EXPECT_FALSE(parse_name_entry(".").ok());
  EXPECT_FALSE(parse_name_entry("..a.com").ok());
  EXPECT_FALSE(parse_name_entry(std::string(64, 'a') + ".com").ok());
  EXPECT_NE(message(parse_name_entry("a.*.com").status()).find("only as a leading"),
            std::string::npos);
  EXPECT_NE(message(parse_name_entry("bücher.de").status()).find("punycode"), std::string::npos);
  EXPECT_TRUE(parse_name_entry("xn--bcher-kva.de").ok());
  EXPECT_TRUE(parse_name_entry("_dmarc.example.com").ok());
}

TEST(DomainList, CommentsBlankLinesAndLineNumbers) {
  auto entries = parse_domain_list("# header\n\nexample.com\n  .Ads.Example.NET.  # trailing\r\n"
                                   "*.cdn.example.org\n",
                                   "policy/blocked.list");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[1].name, "ads.example.net");
  EXPECT_EQ((*entries)[1].scope, kScopeTree);
  EXPECT_EQ((*entries)[2].scope, kScopeSubdomains);
}

TEST(DomainList, BadLineNamesFileAndLine) {
  auto entries = parse_domain_list("a.com\n# c\n\nb.com\nc.com\nd.com\ne.com\nf.com\ng.com\nh.com\n"
                                   "i.com\nexa mple.com\n",
                                   "policy/blocked.list");
  ASSERT_FALSE(entries.ok());
  EXPECT_EQ(message(entries.status()), "policy/blocked.list:12: 'exa mple.com' is not a host name");
}

TEST(HostsList, ParsesAddressesAndSkipsLocalhost) {
  const char* text =
      "127.0.0.1 localhost\n"
      "127.0.0.1 localhost.localdomain\n"
      "255.255.255.255 broadcasthost\n"
      "::1 localhost ip6-localhost ip6-loopback\n"
      "fe80::1%lo0 localhost\n"
      "0.0.0.0 0.0.0.0\n"
      "# start of list\n"
      "0.0.0.0 Ads.Example.com\n"
      "127.0.0.1\ttracker.example.net  metrics.example.net # two names\n"
      ":: v6.example.org\n";
  auto entries = parse_hosts_list(text, "hosts.txt");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].name, "ads.example.com");
  EXPECT_EQ((*entries)[0].scope, kScopeExact);
  EXPECT_EQ((*entries)[1].name, "tracker.example.net");
  EXPECT_EQ((*entries)[2].name, "metrics.example.net");
  EXPECT_EQ((*entries)[3].name, "v6.example.org");
}

TEST(HostsList, BadLinesRefused) {
  EXPECT_EQ(message(parse_hosts_list("0.0.0.0 a.com\nads.example.com\n", "h").status()),
            "h:2: 'ads.example.com' is not an address (hosts-file lines are '0.0.0.0 name')");
  EXPECT_EQ(message(parse_hosts_list("0.0.0.0\n", "h").status()), "h:1: no name after '0.0.0.0'");
  EXPECT_EQ(message(parse_hosts_list("0.0.0.0 .a.com\n", "h").status()),
            "h:1: '.a.com' is not a host name (hosts files take exact names only)");
}

TEST(Cidr, ParsesV4AndV6) {
  auto v4 = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->prefix_length, 104);
  EXPECT_EQ(v4->address.to_string(), "10.0.0.0");
  auto host = parse_cidr("192.0.2.1");
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->prefix_length, 128);
  auto v6 = parse_cidr("2001:db8::/32");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->prefix_length, 32);
  EXPECT_EQ(parse_cidr("0.0.0.0/0")->prefix_length, 96);
  EXPECT_EQ(parse_cidr("::/0")->prefix_length, 0);
}

TEST(Cidr, RefusesMistakes) {
  EXPECT_EQ(message(parse_cidr("10.1.2.3/8").status()),
            "'10.1.2.3/8' has host bits set; did you mean 10.0.0.0/8?");
  EXPECT_FALSE(parse_cidr("10.0.0.0/33").ok());
  EXPECT_FALSE(parse_cidr("2001:db8::/129").ok());
  EXPECT_FALSE(parse_cidr("10.0.0/8").ok());
  EXPECT_FALSE(parse_cidr("example.com").ok());
  EXPECT_FALSE(parse_cidr("10.0.0.0/x").ok());
}

}  // namespace
}  // namespace sluice
