#include "dataplane/core/ja4_cache.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dataplane/core/ja4.h"
#include "tests/dataplane/core/client_hello_builder.h"

namespace sluice {
namespace {

// One client's lists, as a parser would hand them over.
struct Lists {
  Bytes ciphers;
  std::vector<uint16_t> extensions;
  Bytes sigs;
  Ja4Input input() const {
    Ja4Input in;
    in.version = 0x0304;
    in.has_sni = true;
    in.ciphers = ciphers;
    in.extensions = extensions.data();
    in.extension_count = extensions.size();
    in.signature_algorithms = sigs;
    return in;
  }
};

std::string ja4(const Lists& l, Ja4Cache* cache) {
  std::array<char, kJa4Length + 1> out;
  EXPECT_TRUE(compute_ja4(l.input(), out, cache));
  return out.data();
}

std::vector<uint16_t> random_values(std::mt19937& rng, size_t n) {
  std::vector<uint16_t> v(n);
  for (uint16_t& x : v) {
    // Not SNI or ALPN (0x0000, 0x0010), which JA4 counts but does not hash, and not GREASE,
    // which it drops: the lists are hashed as drawn.
    x = static_cast<uint16_t>((rng() & 0x3fff) | 0x0100);
    if (is_grease(x)) ++x;
  }
  return v;
}

// The cache must be invisible. Clients come in families built to make wrong hits possible if an
// entry were matched loosely: B's extensions are A's ciphers (the same values in the other part:
// the same digest), C has A's extensions with other signature algorithms of the same count. Thousands of families
// over 512 slots put some of those pairs in the same slot, and all of them evict one another; every
// fingerprint must still equal the one computed without the cache.
TEST(Ja4CacheTest, SameFingerprintsAsWithoutCacheUnderEviction) {
  std::mt19937 rng(7);
  std::vector<Lists> clients;
  for (int i = 0; i < 4000; ++i) {
    const std::vector<uint16_t> common = random_values(rng, 1 + rng() % 20);
    Lists a;
    a.ciphers = u16_values(common);
    a.extensions = random_values(rng, rng() % 25);
    const size_t n_sigs = 1 + rng() % 12;
    a.sigs = u16_values(random_values(rng, n_sigs));
    Lists b;
    b.ciphers = u16_values(random_values(rng, 1 + rng() % 30));
    b.extensions = common;
    Lists c;
    c.ciphers = u16_values(random_values(rng, 1 + rng() % 30));
    c.extensions = a.extensions;
    c.sigs = u16_values(random_values(rng, n_sigs));
    clients.push_back(std::move(a));
    clients.push_back(std::move(b));
    clients.push_back(std::move(c));
  }
  for (size_t entries : {size_t{1}, size_t{7}, Ja4Cache::kDefaultEntries}) {
    Ja4Cache cache(entries);
    for (int round = 0; round < 3; ++round) {
      for (size_t i = 0; i < clients.size(); ++i) {
        const Lists& l = clients[round == 1 ? clients.size() - 1 - i : i];
        ASSERT_EQ(ja4(l, &cache), ja4(l, nullptr))
            << "client " << i << " round " << round << " entries " << entries;
      }
    }
    EXPECT_GT(cache.hits(), 0u) << entries;
  }
}

TEST(Ja4CacheTest, RepeatedClientHitsBothParts) {
  Lists l;
  l.ciphers = u16_values({0x1301, 0x1302, 0x1303, 0xc02b});
  l.extensions = {0x0000, 0x0033, 0x002b, 0x000d};
  l.sigs = u16_values({0x0403, 0x0804});
  Ja4Cache cache;
  const std::string first = ja4(l, &cache);
  EXPECT_EQ(cache.hits(), 0u);
  // Extension order is randomised by browsers; JA4 sorts, so the cached entry still serves.
  l.extensions = {0x000d, 0x002b, 0x0000, 0x0033};
  EXPECT_EQ(ja4(l, &cache), first);
  EXPECT_EQ(cache.hits(), 2u);
}

// Where the extensions end and the signature algorithms begin is part of the key. One slot and
// no ciphers (an empty list is not hashed), so each lookup meets the previous client's entry.
TEST(Ja4CacheTest, ListBoundaryIsPartOfTheKey) {
  Ja4Cache cache(1);
  Lists a;
  a.extensions = {0x0017, 0x0023};
  a.sigs = u16_values({0x002b});
  Lists b = a;
  b.extensions = {0x0017, 0x0023, 0x002b};
  b.sigs.clear();
  ASSERT_NE(ja4(a, nullptr), ja4(b, nullptr));
  EXPECT_EQ(ja4(a, &cache), ja4(a, nullptr));
  EXPECT_EQ(ja4(b, &cache), ja4(b, nullptr));
  EXPECT_EQ(ja4(a, &cache), ja4(a, nullptr));
  // The same values cut elsewhere, with as many signature algorithms.
  Lists c = a;
  c.extensions = {0x0017};
  c.sigs = u16_values({0x0023});
  ASSERT_NE(ja4(a, nullptr), ja4(c, nullptr));
  EXPECT_EQ(ja4(c, &cache), ja4(c, nullptr));
  EXPECT_EQ(ja4(a, &cache), ja4(a, nullptr));
  // One more signature algorithm after the same ones.
  Lists d = a;
  d.sigs = u16_values({0x002b, 0x0403});
  EXPECT_EQ(ja4(d, &cache), ja4(d, nullptr));
  EXPECT_EQ(ja4(a, &cache), ja4(a, nullptr));
}

TEST(Ja4CacheTest, LongListsAreHashedEveryTime) {
  std::mt19937 rng(11);
  Lists l;
  l.ciphers = u16_values(random_values(rng, Ja4Cache::kMaxValues + 1));
  l.extensions = random_values(rng, 40);
  l.sigs = u16_values(random_values(rng, 30));
  Ja4Cache cache;
  const std::string expected = ja4(l, nullptr);
  EXPECT_EQ(ja4(l, &cache), expected);
  EXPECT_EQ(ja4(l, &cache), expected);
  EXPECT_EQ(cache.hits(), 0u);
}

}  // namespace
}  // namespace sluice
