// HashNameSet's own layout: names kept in the bucket, names spilled to the arena, buckets that
// overflow into the next, huge-page sizing and the memory budget. The matching rules themselves
// are tested against both matchers in name_set_test.cc.
#include "dataplane/policy/hash_name_set.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace sluice {
namespace {

std::string host(size_t i, size_t length) {
  std::string name = "h" + std::to_string(i) + ".";
  while (name.size() + 4 < length) name += 'a' + static_cast<char>(i % 26);
  return name + ".com";
}

bool match(const HashNameSet& set, std::string_view name) {
  PolicyScratch scratch;
  return set.matches(name, scratch);
}

TEST(HashNameSet, LongNamesAreSpilledAndStillExact) {
  std::vector<NameEntry> entries;
  for (size_t length : {99ul, 100ul, 101ul, 200ul, 253ul, 255ul})
    entries.push_back({host(length, length), kScopeTree});
  auto set = HashNameSet::build(entries);
  ASSERT_TRUE(set.ok());
  for (const NameEntry& e : entries) {
    EXPECT_EQ((*set)->scope_of(e.name), kScopeTree) << e.name.size();
    EXPECT_TRUE(match(**set, e.name));
    if (e.name.size() <= 253) {
      EXPECT_TRUE(match(**set, "a." + e.name));
    }
    std::string other = e.name;
    other[1] = 'z';
    EXPECT_EQ((*set)->scope_of(other), 0);
    EXPECT_FALSE(match(**set, other));
    EXPECT_FALSE(match(**set, e.name.substr(1)));  // same bytes, one shorter
  }
}

TEST(HashNameSet, ManyNamesOverflowBucketsAndAllAreFound) {
  std::mt19937_64 rng(7);
  std::vector<NameEntry> entries;
  for (size_t i = 0; i < 50000; ++i) entries.push_back({host(i, 8 + rng() % 40)});
  auto set = HashNameSet::build(entries);
  ASSERT_TRUE(set.ok());
  const HashNameSet& s = **set;
  EXPECT_EQ(s.size(), entries.size());
  EXPECT_GT(s.overflowed_buckets(), 0u);            // the probe past a full bucket is exercised
  EXPECT_LT(s.overflowed_buckets(), s.bucket_count() / 8);  // long names (~28 bytes): ~11%
  for (const NameEntry& e : entries) {
    ASSERT_TRUE(match(s, e.name)) << e.name;
    ASSERT_FALSE(match(s, "x." + e.name)) << e.name;  // exact entries only
    ASSERT_FALSE(match(s, "x" + e.name)) << e.name;
  }
}

TEST(HashNameSet, DuplicatesCombineScopesAndCountOnce) {
  std::vector<NameEntry> entries = {{"a.example.com", kScopeExact},
                                    {"b.example.com", kScopeSubdomains},
                                    {"a.example.com", kScopeSubdomains},
                                    {"b.example.com", kScopeSubdomains}};
  auto set = HashNameSet::build(entries);
  ASSERT_TRUE(set.ok());
  EXPECT_EQ((*set)->size(), 2u);
  EXPECT_EQ((*set)->scope_of("a.example.com"), kScopeTree);
  EXPECT_EQ((*set)->scope_of("b.example.com"), kScopeSubdomains);
  EXPECT_TRUE(match(**set, "x.b.example.com"));
  EXPECT_FALSE(match(**set, "b.example.com"));
}

TEST(HashNameSet, EmptyListAndTinyTables) {
  auto empty = HashNameSet::build({});
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(match(**empty, "example.com"));
  EXPECT_EQ((*empty)->scope_of("example.com"), 0);
  // More long names than one small table holds in its buckets: they all spill or overflow.
  std::vector<NameEntry> entries;
  for (size_t i = 0; i < 40; ++i) entries.push_back({host(i, 120 + i)});
  auto set = HashNameSet::build(entries);
  ASSERT_TRUE(set.ok());
  for (const NameEntry& e : entries) EXPECT_TRUE(match(**set, e.name)) << e.name;
}

// prefetch() is a hint: any name, even one matches() refuses at once, is taken without harm, and
// lookups afterwards answer as before.
TEST(HashNameSet, PrefetchTakesAnyNameAndChangesNoAnswer) {
  auto set = HashNameSet::build({{"example.com", kScopeTree}});
  ASSERT_TRUE(set.ok());
  for (const std::string& name : {std::string(), std::string("...."), std::string(300, 'a'),
                                  std::string("www.example.com"), std::string("example.org")})
    (*set)->prefetch(name);
  EXPECT_TRUE(match(**set, "www.example.com"));
  EXPECT_FALSE(match(**set, "example.org"));
}

TEST(HashNameSet, RejectsNamesThatAreNotHostNames) {
  EXPECT_FALSE(HashNameSet::build({{""}}).ok());
  EXPECT_FALSE(HashNameSet::build({{std::string(256, 'a')}}).ok());
}

// The budget is 64 bytes per name at 5M; huge-page rounding must not push the mid sizes
// (a few MB of table) over it either.
TEST(HashNameSet, MemoryPerNameStaysInBudgetAcrossSizes) {
  for (size_t n : {1000ul, 20000ul, 60000ul, 100000ul, 150000ul}) {
    std::vector<NameEntry> entries;
    for (size_t i = 0; i < n; ++i) entries.push_back({host(i, 20)});
    auto set = HashNameSet::build(entries);
    ASSERT_TRUE(set.ok());
    EXPECT_LT((*set)->memory_bytes() / n, 56u) << n;
  }
}

}  // namespace
}  // namespace sluice
