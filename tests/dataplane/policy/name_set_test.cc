// Both NameSet implementations against the same expectations, a real list (the Public Suffix
// List from Debian's publicsuffix package), and each other on random names.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/policy/hash_name_set.h"
#include "dataplane/policy/list_parser.h"
#include "dataplane/policy/literal_name_set.h"

namespace sluice {
namespace {

enum class Impl { kHash, kLiteral };

std::unique_ptr<NameSet> build(Impl impl, const std::vector<NameEntry>& entries) {
  if (impl == Impl::kHash) return *HashNameSet::build(entries);
  auto set = LiteralNameSet::build(entries);
  EXPECT_TRUE(set.ok()) << set.status();
  return *std::move(set);
}

std::vector<NameEntry> entries_of(const std::string& text) {
  auto entries = parse_domain_list(text, "test");
  EXPECT_TRUE(entries.ok()) << entries.status();
  return *entries;
}

class NameSetTest : public ::testing::TestWithParam<Impl> {
 protected:
  bool match(std::string_view text, std::string_view name) {
    auto set = build(GetParam(), entries_of(std::string(text)));
    PolicyScratch scratch;
    EXPECT_TRUE(set->prepare_scratch(scratch));
    return set->matches(name, scratch);
  }
};

TEST_P(NameSetTest, ExactName) {
  EXPECT_TRUE(match("example.com", "example.com"));
  EXPECT_FALSE(match("example.com", "a.example.com"));
  EXPECT_FALSE(match("example.com", "com"));
  EXPECT_FALSE(match("example.com", "example.co"));
  EXPECT_FALSE(match("example.com", "xexample.com"));
}

TEST_P(NameSetTest, NameAndSubdomains) {
  EXPECT_TRUE(match(".example.com", "example.com"));
  EXPECT_TRUE(match(".example.com", "a.example.com"));
  EXPECT_TRUE(match(".example.com", "a.b.c.example.com"));
  EXPECT_FALSE(match(".example.com", "badexample.com"));
  EXPECT_FALSE(match(".example.com", "a.badexample.com"));
  EXPECT_FALSE(match(".example.com", "example.com.evil.net"));
  EXPECT_FALSE(match(".example.com", "com"));
}

TEST_P(NameSetTest, SubdomainsOnly) {
  EXPECT_FALSE(match("*.example.com", "example.com"));
  EXPECT_TRUE(match("*.example.com", "a.example.com"));
  EXPECT_TRUE(match("*.example.com", "x.y.example.com"));
  EXPECT_FALSE(match("*.example.com", "badexample.com"));
}

TEST_P(NameSetTest, FormsOfOneNameCombine) {
  EXPECT_TRUE(match("example.com\n*.example.com", "example.com"));
  EXPECT_TRUE(match("example.com\n*.example.com", "a.example.com"));
  EXPECT_TRUE(match("*.example.com\nexample.com", "example.com"));
}

TEST_P(NameSetTest, CaseAndTrailingDotOfEntriesNormalised) {
  EXPECT_TRUE(match(".EXAMPLE.Com.", "www.example.com"));
}

TEST_P(NameSetTest, EmptyAndOversizedNamesNeverMatch) {
  EXPECT_FALSE(match(".example.com", ""));
  EXPECT_FALSE(match(".example.com", std::string(300, 'a')));
  EXPECT_FALSE(match("", "example.com"));
}

TEST_P(NameSetTest, SingleLabelAndLongNames) {
  EXPECT_TRUE(match("intranet", "intranet"));
  EXPECT_TRUE(match(".com", "example.com"));
  std::string deep;
  for (int i = 0; i < 120; ++i) deep += "a.";
  deep += "com";  // 243 bytes, 121 labels
  EXPECT_TRUE(match(".com", deep));
  EXPECT_FALSE(match(".org", deep));
}

INSTANTIATE_TEST_SUITE_P(Both, NameSetTest, ::testing::Values(Impl::kHash, Impl::kLiteral),
                         [](const auto& param_info) {
                           return param_info.param == Impl::kHash ? "HashWalk" : "HyperscanLiteral";
                         });

// The Public Suffix List as a real list: ASCII rules become exact entries, `*.x` rules our
// `*.x` entries; exception rules (`!`) have no equivalent and are left out.
std::string public_suffix_list_as_domain_list() {
  std::string path = std::string(__FILE__);
  path = path.substr(0, path.rfind("/dataplane/")) + "/data/policy/public_suffix_list.dat";
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("//") || line.starts_with("!")) continue;
    bool ascii = true;
    for (char c : line) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    if (ascii) out += line + "\n";
  }
  return out;
}

TEST(RealList, PublicSuffixList) {
  std::vector<NameEntry> entries = entries_of(public_suffix_list_as_domain_list());
  ASSERT_GT(entries.size(), 8000u);
  auto hash = build(Impl::kHash, entries);
  PolicyScratch scratch;
  EXPECT_TRUE(hash->matches("co.uk", scratch));
  EXPECT_TRUE(hash->matches("uk", scratch));
  EXPECT_FALSE(hash->matches("bbc.co.uk", scratch));  // exact entries only
  EXPECT_TRUE(hash->matches("anything.ck", scratch));  // *.ck
  EXPECT_FALSE(hash->matches("ck", scratch));
  EXPECT_TRUE(hash->matches("city.kawasaki.jp", scratch));  // *.kawasaki.jp
  EXPECT_FALSE(hash->matches("kawasaki.jp", scratch));
  EXPECT_FALSE(hash->matches("notaco.uk.example", scratch));
  EXPECT_TRUE(hash->matches("github.io", scratch));
  for (const NameEntry& e : entries) {
    std::string probe = e.scope == kScopeSubdomains ? "x." + e.name : e.name;
    ASSERT_TRUE(hash->matches(probe, scratch)) << probe;
  }
}

// Hyperscan's literal compiler is slow (seconds for thousands of literals), so the two matchers
// are compared on a sample of the real list, probed with every name of the whole list and a
// name one label below each.
TEST(RealList, MatchersAgreeOnASample) {
  std::vector<NameEntry> entries = entries_of(public_suffix_list_as_domain_list());
  std::vector<NameEntry> sample;
  for (size_t i = 0; i < entries.size(); i += 8) sample.push_back(entries[i]);
  auto hash = build(Impl::kHash, sample);
  auto literal = build(Impl::kLiteral, sample);
  PolicyScratch scratch;
  ASSERT_TRUE(literal->prepare_scratch(scratch));
  EXPECT_EQ(hash->size(), literal->size());
  size_t hits = 0;
  for (const NameEntry& e : entries) {
    for (const std::string& probe : {e.name, "www." + e.name}) {
      bool h = hash->matches(probe, scratch);
      ASSERT_EQ(h, literal->matches(probe, scratch)) << probe;
      hits += h;
    }
  }
  EXPECT_GE(hits, sample.size());
}

// Differential: random entries with all three forms over a small alphabet (so names share
// labels and suffixes often), random queries built from the same labels; both must agree, and
// both must agree with a direct reading of the rules.
TEST(Differential, HashWalkAndHyperscanLiteralAgree) {
  std::mt19937_64 rng(20261127);
  const std::vector<std::string> labels = {"a", "b", "ab", "ba", "www", "cdn", "x-y", "com", "net"};
  auto random_name = [&](int max_labels) {
    std::string name = labels[rng() % labels.size()];
    for (int n = static_cast<int>(rng() % max_labels); n > 0; --n)
      name = labels[rng() % labels.size()] + "." + name;
    return name;
  };
  for (int round = 0; round < 20; ++round) {
    std::vector<NameEntry> entries;
    for (int i = 0; i < 40; ++i) {
      uint8_t scope = std::array<uint8_t, 3>{kScopeExact, kScopeTree, kScopeSubdomains}[rng() % 3];
      entries.push_back({random_name(3), scope});
    }
    auto hash = build(Impl::kHash, entries);
    auto literal = build(Impl::kLiteral, entries);
    PolicyScratch scratch;
    ASSERT_TRUE(literal->prepare_scratch(scratch));
    for (int q = 0; q < 2000; ++q) {
      std::string name = random_name(5);
      bool expected = false;
      for (const NameEntry& e : entries) {
        if ((e.scope & kScopeExact) && name == e.name) expected = true;
        if ((e.scope & kScopeSubdomains) && name.size() > e.name.size() &&
            name.ends_with("." + e.name))
          expected = true;
      }
      ASSERT_EQ(hash->matches(name, scratch), expected) << name;
      ASSERT_EQ(literal->matches(name, scratch), expected) << name;
    }
  }
}

TEST(HashNameSet, MemoryStaysCompact) {
  std::vector<NameEntry> entries;
  for (int i = 0; i < 100000; ++i) entries.push_back({"host" + std::to_string(i) + ".example.com"});
  auto set = HashNameSet::build(entries);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->size(), 100000u);
  EXPECT_LT((*set)->memory_bytes() / 100000, 64u);
  EXPECT_EQ((*set)->scope_of("host7.example.com"), kScopeExact);
  EXPECT_EQ((*set)->scope_of("host7.example.org"), 0);
}

}  // namespace
}  // namespace sluice
