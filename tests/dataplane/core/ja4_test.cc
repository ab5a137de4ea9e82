#include "dataplane/core/ja4.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/dataplane/core/client_hello_builder.h"

namespace sluice {
namespace {

std::string ja4_of(const Ja4Input& in) {
  std::array<char, kJa4Length + 1> out;
  EXPECT_TRUE(compute_ja4(in, out));
  return out.data();
}

// The worked example of the JA4 specification (FoxIO, technical_details/JA4.md).
const std::vector<uint16_t> kSpecCiphers = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                            0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                                            0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
const std::vector<uint16_t> kSpecExtensions = {0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017,
                                               0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b,
                                               0xff01, 0x000b, 0x000a, 0x0015};
const std::vector<uint16_t> kSpecSigs = {0x0403, 0x0804, 0x0401, 0x0503,
                                         0x0805, 0x0501, 0x0806, 0x0601};

struct SpecInput {
  Bytes ciphers = u16_values(kSpecCiphers);
  Bytes sigs = u16_values(kSpecSigs);
  Bytes alpn = {'h', '2'};
  std::vector<uint16_t> exts = kSpecExtensions;
  Ja4Input in() const {
    Ja4Input i;
    i.version = 0x0304;
    i.has_sni = true;
    i.ciphers = ciphers;
    i.extensions = exts.data();
    i.extension_count = exts.size();
    i.signature_algorithms = sigs;
    i.first_alpn = alpn;
    return i;
  }
};

TEST(Ja4Test, SpecificationExample) {
  SpecInput spec;
  EXPECT_EQ(ja4_of(spec.in()), "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

TEST(Ja4Test, SpecificationExampleWithoutSignatureAlgorithmsHasNoTrailingUnderscore) {
  SpecInput spec;
  spec.sigs.clear();
  EXPECT_EQ(ja4_of(spec.in()), "t13d1516h2_8daaf6152771_6d807ffa2a79");
}

TEST(Ja4Test, PublishedChrome143Fingerprint) {
  // A browser fingerprinting page's report for Chrome 143 (ja4 and its raw ja4_r form), which
  // exercises 0x44cd (ALPS) and 0xfe0d (ECH) in the extension hash.
  SpecInput spec;
  spec.exts = {0x002d, 0x0033, 0x0010, 0xfe0d, 0x0017, 0x44cd, 0x0000, 0x000b,
               0x000a, 0x002b, 0xff01, 0x0023, 0x0012, 0x0005, 0x000d, 0x001b};
  EXPECT_EQ(ja4_of(spec.in()), "t13d1516h2_8daaf6152771_d8a2da3f94cd");
}

TEST(Ja4Test, GreaseIsIgnoredEverywhere) {
  SpecInput plain;
  SpecInput greasy;
  greasy.ciphers = u16_values({0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030,
                           0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035});
  greasy.exts.insert(greasy.exts.begin(), 0x3a3a);
  greasy.exts.push_back(0xfafa);
  greasy.sigs = u16_values({0x5a5a, 0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601});
  EXPECT_EQ(ja4_of(greasy.in()), ja4_of(plain.in()));
}

TEST(Ja4Test, IsGrease) {
  for (unsigned i = 0; i < 16; ++i) EXPECT_TRUE(is_grease(grease_value(i))) << i;
  EXPECT_FALSE(is_grease(0x0a1a));
  EXPECT_FALSE(is_grease(0x0b0b));
  EXPECT_FALSE(is_grease(0x1301));
  EXPECT_FALSE(is_grease(0x0000));
}

TEST(Ja4Test, EmptyListsUseZeroMarker) {
  SpecInput spec;
  spec.ciphers.clear();
  spec.exts = {0x0000, 0x0010};  // only SNI and ALPN: nothing left to hash
  EXPECT_EQ(ja4_of(spec.in()), "t13d0002h2_000000000000_000000000000");
}

TEST(Ja4Test, SniMarkerVersionAndCounts) {
  SpecInput spec;
  Ja4Input in = spec.in();
  in.has_sni = false;
  in.version = 0x0301;
  in.protocol = 'q';
  EXPECT_EQ(ja4_of(in).substr(0, 10), "q10i1516h2");
}

TEST(Ja4Test, CountsAreCappedAt99) {
  std::vector<uint16_t> many;
  for (uint16_t i = 1; i <= 150; ++i) many.push_back(i);
  SpecInput spec;
  spec.ciphers = u16_values(many);
  spec.exts = many;
  EXPECT_EQ(ja4_of(spec.in()).substr(0, 10), "t13d9999h2");
}

TEST(Ja4Test, OverlongListsAreNotFingerprinted) {
  std::vector<uint16_t> many(kJa4MaxListValues + 1, 0x1301);
  SpecInput spec;
  spec.ciphers = u16_values(many);
  std::array<char, kJa4Length + 1> out;
  out[0] = 'x';
  EXPECT_FALSE(compute_ja4(spec.in(), out));
  EXPECT_EQ(out[0], '\0');
}

TEST(Ja4Test, VersionCodes) {
  EXPECT_STREQ(ja4_version_code(0x0304), "13");
  EXPECT_STREQ(ja4_version_code(0x0303), "12");
  EXPECT_STREQ(ja4_version_code(0x0302), "11");
  EXPECT_STREQ(ja4_version_code(0x0301), "10");
  EXPECT_STREQ(ja4_version_code(0x0300), "s3");
  EXPECT_STREQ(ja4_version_code(0x0002), "s2");
  EXPECT_STREQ(ja4_version_code(0xfefd), "d2");
  EXPECT_STREQ(ja4_version_code(0x7f1c), "00");
}

std::string alpn_code(Bytes alpn) {
  SpecInput spec;
  spec.alpn = std::move(alpn);
  return ja4_of(spec.in()).substr(8, 2);
}

TEST(Ja4Test, AlpnCharacters) {
  EXPECT_EQ(alpn_code({}), "00");
  EXPECT_EQ(alpn_code({'h', '2'}), "h2");
  EXPECT_EQ(alpn_code({'h', 't', 't', 'p', '/', '1', '.', '1'}), "h1");
  EXPECT_EQ(alpn_code({'h', '3'}), "h3");
  EXPECT_EQ(alpn_code({'x'}), "xx");  // a single character is both first and last
  // Non-alphanumeric first or last byte: first and last hex digit (the specification's list).
  EXPECT_EQ(alpn_code({0xab}), "ab");
  EXPECT_EQ(alpn_code({0xab, 0xcd}), "ad");
  EXPECT_EQ(alpn_code({0x30, 0xab}), "3b");
  EXPECT_EQ(alpn_code({0x30, 0x31, 0xab, 0xcd}), "3d");
  EXPECT_EQ(alpn_code({0x30, 0xab, 0xcd, 0x31}), "01");
  EXPECT_EQ(alpn_code({'/', 'a'}), "21");
}

// The parser feeds JA4 from a real hello: the builder's hello with the specification's lists.
TEST(Ja4Test, FromParsedHelloMatchesSpecification) {
  HelloSpec spec;
  spec.ciphers = kSpecCiphers;
  spec.sni.reset();
  spec.supported_versions.clear();
  spec.signature_algorithms.clear();
  spec.supported_groups.clear();
  spec.standard_extras = false;
  spec.grease = true;  // must not change anything
  for (uint16_t type : kSpecExtensions) {
    HelloExtension e{type, {}};
    if (type == 0x0000) e.data = sni_extension_body({"example.com"});
    if (type == 0x0010) e.data = alpn_extension_body({"h2", "http/1.1"});
    if (type == 0x002b) e.data = supported_versions_body({0x7a7a, 0x0304, 0x0303});
    if (type == 0x000d) e.data = u16_list_body(kSpecSigs);
    spec.extra_extensions.push_back(e);
  }
  Bytes stream = build_client_hello_records(spec);
  std::vector<uint8_t> scratch(65536);
  ClientHelloInfo info;
  ASSERT_EQ(parse_client_hello(stream, scratch, info), HelloStatus::kComplete);
  EXPECT_EQ(info.ja4_view(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

}  // namespace
}  // namespace sluice
