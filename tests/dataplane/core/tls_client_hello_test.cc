#include "dataplane/core/tls_client_hello.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "dataplane/core/sni_name.h"
#include "tests/dataplane/core/client_hello_builder.h"

namespace sluice {
namespace {

struct Parsed {
  HelloStatus status;
  ClientHelloInfo info;
};

Parsed parse(const Bytes& stream, size_t scratch_size = 65536) {
  std::vector<uint8_t> scratch(scratch_size);
  Parsed p;
  p.status = parse_client_hello(stream, scratch, p.info);
  return p;
}

std::vector<std::string> alpn_names(const ClientHelloInfo& info) {
  std::vector<std::string> names;
  for_each_alpn(info, [&](std::string_view n) { names.emplace_back(n); });
  return names;
}

std::vector<uint16_t> versions(const ClientHelloInfo& info) {
  return {info.versions.begin(), info.versions.begin() + info.version_count};
}

Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

// A hello whose server_name extension body is given raw.
Bytes hello_with_raw_sni(const Bytes& body) {
  HelloSpec spec;
  spec.sni.reset();
  spec.extra_extensions.push_back({0x0000, body});
  return build_client_hello_records(spec);
}

Parsed parse_sni(const std::string& name) {
  HelloSpec spec;
  spec.sni = name;
  return parse(build_client_hello_records(spec));
}

TEST(ClientHelloTest, ParsesBuilderDefault) {
  HelloSpec spec;
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_view(), "example.com");
  EXPECT_TRUE(p.info.sni_valid);
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0304, 0x0303}));
  EXPECT_EQ(p.info.legacy_version, 0x0303);
  EXPECT_EQ(p.info.record_version, 0x0301);
  EXPECT_EQ(p.info.alpn_length, 0);
  EXPECT_FALSE(p.info.ech);
  EXPECT_FALSE(p.info.sslv2);
  EXPECT_TRUE(p.info.anomalies.empty());
  EXPECT_EQ(p.info.ja4_view().size(), kJa4Length);
  EXPECT_EQ(p.info.ja4_view().substr(0, 10), "t13d071100");
}

TEST(ClientHelloTest, SniIsLowerCasedAndLosesOneTrailingDot) {
  auto p = parse_sni("WWW.Example.COM.");
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_view(), "www.example.com");
  EXPECT_TRUE(p.info.sni_valid);
  EXPECT_FALSE(p.info.anomalies.has(Anomaly::kSniInvalid));
}

TEST(ClientHelloTest, ValidHostNames) {
  std::vector<std::string> names = {
      "a", "a.b", "under_score.example.com", "xn--bcher-kva.example", "1.2.3.4", "a-b.c-d.e",
      std::string(63, 'x') + ".com",
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
          std::string(61, 'd')};
  for (const std::string& name : names) {
    auto p = parse_sni(name);
    ASSERT_EQ(p.status, HelloStatus::kComplete) << name;
    EXPECT_TRUE(p.info.sni_valid) << name;
    EXPECT_EQ(p.info.sni_view(), name);
  }
}

TEST(ClientHelloTest, InvalidHostNamesAreFlaggedAndReportedSafely) {
  struct Case {
    std::string sent;
    std::string reported;
  };
  std::vector<Case> cases = {
      {"a..b", "a..b"},
      {"-a.com", "-a.com"},
      {"a-.com", "a-.com"},
      {"Exa*Mple.com", "exa*mple.com"},
      {"a b.com", "a\\x20b.com"},
      {"bad\\name", "bad\\x5cname"},
      {std::string("nul\0.com", 8), "nul\\x00.com"},
      {"\xff\xfe.com", "\\xff\\xfe.com"},
      {".", "."},
      {"a..", "a.."},
      {std::string(64, 'x') + ".com", std::string(64, 'x') + ".com"},
      {std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(62, 'd'),
       std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
           std::string(62, 'd')},
  };
  for (const auto& c : cases) {
    auto p = parse_sni(c.sent);
    ASSERT_EQ(p.status, HelloStatus::kComplete);
    EXPECT_FALSE(p.info.sni_valid) << c.reported;
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kSniInvalid)) << c.reported;
    EXPECT_EQ(p.info.sni_view(), c.reported);
    EXPECT_EQ(p.info.ja4_view()[3], 'd');
  }
}

TEST(ClientHelloTest, OverlongNamesAreCutOnAnEscapeBoundary) {
  auto p = parse_sni(std::string(1000, 'a'));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_FALSE(p.info.sni_valid);
  EXPECT_EQ(p.info.sni_view(), std::string(kMaxSniLength, 'a'));

  p = parse_sni(std::string(1000, '\x01'));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_length, kMaxSniLength / 4 * 4);
  EXPECT_EQ(p.info.sni_view().substr(0, 8), "\\x01\\x01");
}

TEST(ClientHelloTest, MultipleHostNamesKeepTheFirst) {
  auto p = parse(hello_with_raw_sni(sni_extension_body({"first.example", "second.example"})));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_view(), "first.example");
  EXPECT_TRUE(p.info.anomalies.has(Anomaly::kSniMultiple));
}

TEST(ClientHelloTest, NonHostNameEntriesAreSkipped) {
  Bytes body = {0x00, 0x0c, 0x07, 0x00, 0x01, 'x', 0x00, 0x00, 0x05, 'a', '.', 'c', 'o', 'm'};
  auto p = parse(hello_with_raw_sni(body));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_view(), "a.com");
  EXPECT_TRUE(p.info.anomalies.empty());
}

TEST(ClientHelloTest, EmptyServerNames) {
  for (const Bytes& body : {Bytes{}, Bytes{0x00, 0x00}, sni_extension_body({""}),
                            Bytes{0x00, 0x04, 0x07, 0x00, 0x01, 'x'}}) {
    auto p = parse(hello_with_raw_sni(body));
    ASSERT_EQ(p.status, HelloStatus::kComplete);
    EXPECT_EQ(p.info.sni_length, 0);
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kSniEmpty));
    EXPECT_FALSE(p.info.anomalies.has(Anomaly::kSniInvalid));
    EXPECT_EQ(p.info.ja4_view()[3], 'd');  // the extension is there
  }
}

TEST(ClientHelloTest, NoServerNameMeansIpInJa4) {
  HelloSpec spec;
  spec.sni.reset();
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_length, 0);
  EXPECT_TRUE(p.info.anomalies.empty());
  EXPECT_EQ(p.info.ja4_view()[3], 'i');
}

TEST(ClientHelloTest, DuplicateExtensionsAreFlaggedAndTheFirstCounts) {
  HelloSpec spec;
  spec.sni = "first.example";
  spec.extra_extensions.push_back({0x0000, sni_extension_body({"second.example"})});
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_view(), "first.example");
  EXPECT_TRUE(p.info.anomalies.has(Anomaly::kDuplicateExtension));

  HelloSpec other;
  other.extra_extensions.push_back({0x1234, {}});
  other.extra_extensions.push_back({0x1234, {1, 2}});
  p = parse(build_client_hello_records(other));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_TRUE(p.info.anomalies.has(Anomaly::kDuplicateExtension));
}

TEST(ClientHelloTest, AlpnListIsCopiedInOrder) {
  HelloSpec spec;
  spec.alpn = {"h2", "http/1.1"};
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(alpn_names(p.info), (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(p.info.alpn_length, 12);
  EXPECT_EQ(p.info.ja4_view().substr(8, 2), "h2");
}

TEST(ClientHelloTest, LongAlpnListIsCutOnANameBoundary) {
  HelloSpec spec;
  std::vector<std::string> expected;
  size_t bytes = 0;
  bool full = false;
  for (int i = 0; i < 20; ++i) {
    std::string name = "proto-" + std::to_string(i) + std::string(i % 5, 'x');
    spec.alpn.push_back(name);
    // Names are kept in order up to the first one that does not fit.
    full = full || bytes + 1 + name.size() > kMaxAlpnBytes;
    if (!full) {
      expected.push_back(name);
      bytes += 1 + name.size();
    }
  }
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(alpn_names(p.info), expected);
  EXPECT_EQ(p.info.alpn_length, bytes);
  EXPECT_LE(p.info.alpn_length, kMaxAlpnBytes);
}

TEST(ClientHelloTest, BadAlpnIsMalformed) {
  for (const Bytes& body : {Bytes{0x00, 0x00}, Bytes{0x00, 0x03, 0x02, 'h', '2', 0x00},
                            Bytes{0x00, 0x04, 0x02, 'h', '2', 0x00},
                            Bytes{0x00, 0x03, 0x05, 'h', '2'}, Bytes{0x00}}) {
    HelloSpec spec;
    spec.extra_extensions.push_back({0x0010, body});
    auto p = parse(build_client_hello_records(spec));
    EXPECT_EQ(p.status, HelloStatus::kMalformed);
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsMalformed));
  }
}

TEST(ClientHelloTest, SupportedVersionsWithoutGrease) {
  HelloSpec spec;
  spec.supported_versions = {0x1a1a, 0x0304, 0x0303, 0x0302};
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0304, 0x0303, 0x0302}));
}

TEST(ClientHelloTest, VersionsFallBackToLegacyVersion) {
  HelloSpec spec;
  spec.supported_versions.clear();
  spec.legacy_version = 0x0302;
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0302}));
  EXPECT_EQ(p.info.ja4_view().substr(0, 3), "t11");

  spec.supported_versions = {0x2a2a};  // only GREASE: offers nothing
  p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0302}));
}

TEST(ClientHelloTest, ManyVersionsAreCapped) {
  HelloSpec spec;
  spec.supported_versions = {0x0304, 0x0303, 0x0302, 0x0301, 0x0300, 0x7f1c,
                             0x7f1d, 0x7f1e, 0x7f1f, 0x7f20};
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.version_count, kMaxTlsVersions);
  EXPECT_EQ(p.info.versions[0], 0x0304);
  // JA4 takes the numerically highest, not the first.
  EXPECT_EQ(p.info.ja4_view().substr(0, 3), "t00");
}

TEST(ClientHelloTest, EncryptedClientHello) {
  HelloSpec spec;
  spec.ech = true;
  spec.sni = "public.example";
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_TRUE(p.info.ech);
  EXPECT_EQ(p.info.sni_view(), "public.example");
}

TEST(ClientHelloTest, GreaseEverywhereIsTolerated) {
  HelloSpec spec;
  spec.alpn = {"h2"};
  auto plain = parse(build_client_hello_records(spec));
  spec.grease = true;
  auto greasy = parse(build_client_hello_records(spec));
  ASSERT_EQ(greasy.status, HelloStatus::kComplete);
  EXPECT_TRUE(greasy.info.anomalies.empty());
  EXPECT_EQ(versions(greasy.info), versions(plain.info));
  EXPECT_EQ(greasy.info.ja4_view(), plain.info.ja4_view());
}

TEST(ClientHelloTest, HelloWithoutExtensions) {
  HelloSpec spec;
  spec.no_extensions = true;
  spec.legacy_version = 0x0300;
  auto p = parse(build_client_hello_records(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(p.info.sni_length, 0);
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0300}));
  EXPECT_EQ(p.info.ja4_view().substr(0, 10), "ts3i070000");
  EXPECT_EQ(p.info.ja4_view().substr(24), "000000000000");
}

TEST(ClientHelloTest, LargePaddedHello) {
  HelloSpec spec;
  spec.sni = "big.example";
  spec.pad_message_to = 12000;
  Bytes message = build_client_hello_message(spec);
  ASSERT_GE(message.size(), 12000u);
  for (size_t record : {size_t{16384}, size_t{4096}, size_t{1000}}) {
    auto p = parse(wrap_in_records(message, 0x0301, record));
    ASSERT_EQ(p.status, HelloStatus::kComplete) << record;
    EXPECT_EQ(p.info.sni_view(), "big.example");
    EXPECT_EQ(p.info.anomalies.has(Anomaly::kTlsRecordFragmented), record < message.size());
  }
}

TEST(ClientHelloTest, SixtyFourKilobyteHelloNeedsAScratchThatLarge) {
  HelloSpec spec;
  spec.pad_message_to = 60000;
  Bytes stream = build_client_hello_records(spec);
  EXPECT_EQ(parse(stream).status, HelloStatus::kComplete);
  EXPECT_EQ(parse(stream, 16384).status, HelloStatus::kNeedMore);
}

TEST(ClientHelloTest, EveryRecordSplitGivesTheSameResult) {
  HelloSpec spec;
  spec.sni = "split.example";
  spec.alpn = {"h2", "http/1.1"};
  spec.grease = true;
  Bytes message = build_client_hello_message(spec);
  auto whole = parse(wrap_in_records(message));
  ASSERT_EQ(whole.status, HelloStatus::kComplete);
  for (size_t size = 1; size <= message.size(); ++size) {
    auto p = parse(wrap_in_records(message, 0x0301, size));
    ASSERT_EQ(p.status, HelloStatus::kComplete) << size;
    EXPECT_EQ(p.info.sni_view(), "split.example");
    EXPECT_EQ(p.info.ja4_view(), whole.info.ja4_view());
    EXPECT_EQ(p.info.alpn_length, whole.info.alpn_length);
    EXPECT_EQ(p.info.anomalies.has(Anomaly::kTlsRecordFragmented), size < message.size());
  }
}

TEST(ClientHelloTest, UnevenRecordSplits) {
  HelloSpec spec;
  Bytes message = build_client_hello_message(spec);
  for (const auto& sizes : std::vector<std::vector<size_t>>{
           {1, 2, 3}, {3}, {4}, {5, 1000}, {0, 10}, {0, 0, 0}, {message.size() - 1}}) {
    auto p = parse(wrap_in_records_sized(message, sizes));
    ASSERT_EQ(p.status, HelloStatus::kComplete);
    EXPECT_EQ(p.info.sni_view(), "example.com");
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsRecordFragmented));
  }
}

TEST(ClientHelloTest, TooManyEmptyRecordsAreMalformed) {
  HelloSpec spec;
  Bytes message = build_client_hello_message(spec);
  auto p = parse(wrap_in_records_sized(message, std::vector<size_t>(32, 0)));
  EXPECT_EQ(p.status, HelloStatus::kComplete);
  p = parse(wrap_in_records_sized(message, std::vector<size_t>(33, 0)));
  EXPECT_EQ(p.status, HelloStatus::kMalformed);
}

// Every proper prefix of a stream whose complete form parses must ask for more, never more.
void expect_prefixes_need_more(const Bytes& stream) {
  std::vector<uint8_t> scratch(65536);
  for (size_t cut = 0; cut < stream.size(); ++cut) {
    ClientHelloInfo info;
    Bytes prefix(stream.begin(), stream.begin() + cut);
    ASSERT_EQ(parse_client_hello(prefix, scratch, info), HelloStatus::kNeedMore) << cut;
  }
}

TEST(ClientHelloTest, EveryCutNeedsMore) {
  HelloSpec spec;
  spec.alpn = {"h2"};
  spec.grease = true;
  spec.ech = true;
  Bytes message = build_client_hello_message(spec);
  for (size_t record : {size_t{16384}, size_t{1}, size_t{7}, size_t{100}}) {
    SCOPED_TRACE(record);
    expect_prefixes_need_more(wrap_in_records(message, 0x0301, record));
  }
}

TEST(ClientHelloTest, RecordVersionsAreAcceptedLikeServersDo) {
  for (uint16_t v : {0x0300, 0x0301, 0x0302, 0x0303, 0x0304}) {
    HelloSpec spec;
    spec.record_version = v;
    auto p = parse(build_client_hello_records(spec));
    ASSERT_EQ(p.status, HelloStatus::kComplete) << v;
    EXPECT_EQ(p.info.record_version, v);
  }
  // OpenSSL and BoringSSL check only the major byte of the first record: a server answers a
  // hello in a 0x0305 or 0x03ff record, so it is parsed, and the odd version flagged.
  // Go's crypto/tls accepts any version below 0x1000 on a first flight's records (measured:
  // 0x0000, 0x0200 and 0x0fff complete a handshake with a Go 1.19 server, 0x1000 does not).
  for (uint16_t v : {0x0305, 0x03ff, 0x0000, 0x0203, 0x0fff}) {
    HelloSpec spec;
    spec.record_version = v;
    auto p = parse(build_client_hello_records(spec));
    ASSERT_EQ(p.status, HelloStatus::kComplete) << v;
    EXPECT_EQ(p.info.sni_view(), "example.com");
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsRecordVersion)) << v;
  }
  for (uint16_t v : {0x1000, 0xfefd}) {
    HelloSpec spec;
    spec.record_version = v;
    EXPECT_EQ(parse(build_client_hello_records(spec)).status, HelloStatus::kNotTls) << v;
  }
}

TEST(ClientHelloTest, NotTls) {
  for (std::string_view s : {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "SSH-2.0-OpenSSH_9.2\r\n",
                             "\x17\x03\x03", "\x16\x10"}) {
    EXPECT_EQ(parse(text(s)).status, HelloStatus::kNotTls) << s;
  }
  EXPECT_EQ(parse({0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28}).status, HelloStatus::kNotTls)
      << "a fatal alert";
  EXPECT_EQ(parse({}).status, HelloStatus::kNeedMore);
  EXPECT_EQ(parse({0x16}).status, HelloStatus::kNeedMore);
  EXPECT_EQ(parse({0x16, 0x03}).status, HelloStatus::kNeedMore);
}

TEST(ClientHelloTest, RandomBytesAreNotTls) {
  std::mt19937 rng(1234);
  int not_tls = 0, runs = 20000;
  for (int i = 0; i < runs; ++i) {
    Bytes junk(8 + rng() % 600);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    auto p = parse(junk);
    bool tls_start = (junk[0] == 0x16 || junk[0] == 0x15) && junk[1] < 0x10;
    bool sslv2_start = (junk[0] & 0x80) && junk[2] == 0x01;
    if (!tls_start && !sslv2_start) {
      EXPECT_EQ(p.status, HelloStatus::kNotTls);
    }
    EXPECT_NE(p.status, HelloStatus::kComplete);
    not_tls += p.status == HelloStatus::kNotTls;
  }
  EXPECT_GT(not_tls, runs * 99 / 100);
}

TEST(ClientHelloTest, OtherRecordBeforeTheHelloCompletesIsMalformed) {
  HelloSpec spec;
  Bytes message = build_client_hello_message(spec);
  Bytes first(message.begin(), message.begin() + 50);
  Bytes rest(message.begin() + 50, message.end());
  for (uint8_t type : {20, 21, 23}) {
    // (A ChangeCipherSpec of 1 is skipped, as GnuTLS does: see the test below.)
    Bytes stream = wrap_in_records(first) + wrap_in_records({0x02}, 0x0301, 16384, type) +
                   wrap_in_records(rest);
    auto p = parse(stream);
    EXPECT_EQ(p.status, HelloStatus::kMalformed) << int{type};
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsMalformed));
  }
}

// Some servers ignore records before and between the hello's records: Go's crypto/tls warning
// alerts (16 in a row; measured against Go 1.19), GnuTLS ChangeCipherSpec (about 200). So a
// hello behind them is read, not called non-TLS, and the trick is named.
TEST(ClientHelloTest, IgnoredRecordsBeforeAndInsideTheHelloAreSkipped) {
  HelloSpec spec;
  spec.sni = "behind.example";
  const Bytes message = build_client_hello_message(spec);
  const Bytes first(message.begin(), message.begin() + 50);
  const Bytes rest(message.begin() + 50, message.end());
  const Bytes warning = {0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x70};  // unsupported_extension
  const Bytes ccs = {0x14, 0x03, 0x03, 0x00, 0x01, 0x01};
  auto repeat = [&](const Bytes& record, int n) {
    Bytes out;
    for (int i = 0; i < n; ++i) out = out + record;
    return out;
  };
  for (const Bytes& stream :
       {warning + wrap_in_records(message), repeat(ccs, 200) + wrap_in_records(message),
        repeat(warning, 16) + wrap_in_records(first) + ccs + warning + wrap_in_records(rest)}) {
    auto p = parse(stream);
    ASSERT_EQ(p.status, HelloStatus::kComplete);
    EXPECT_EQ(p.info.sni_view(), "behind.example");
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsIgnoredRecords));
  }
  EXPECT_EQ(leading_ignored_record_bytes(repeat(ccs, 2) + warning + wrap_in_records(message)),
            2 * ccs.size() + warning.size());
  EXPECT_EQ(leading_ignored_record_bytes(wrap_in_records(message)), 0u);
  // More in a row than any server skips: not a hello anyone reads (nor TLS as servers see it).
  EXPECT_EQ(parse(repeat(ccs, 257) + wrap_in_records(message)).status, HelloStatus::kNotTls);
  // A prefix of such records, or such records alone, may still become a hello.
  const Bytes lone = warning + ccs;
  for (size_t cut = 0; cut <= lone.size(); ++cut)
    EXPECT_EQ(parse(Bytes(lone.begin(), lone.begin() + cut)).status, HelloStatus::kNeedMore) << cut;
  // Another protocol that merely starts like one of these lenient forms (a little-endian length
  // prefix 0x0116, a CCS then junk) is not TLS, rather than a malformed hello.
  EXPECT_EQ(parse({0x16, 0x01, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}).status,
            HelloStatus::kNotTls);
  EXPECT_EQ(parse(ccs + Bytes{0x17, 0x03, 0x03, 0x00, 0x10}).status, HelloStatus::kNotTls);
  // What no server skips: a fatal alert, close_notify, an alert or CCS of another length or value.
  for (const Bytes& head : {Bytes{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28},
                            Bytes{0x15, 0x03, 0x01, 0x00, 0x02, 0x01, 0x00},
                            Bytes{0x15, 0x03, 0x01, 0x00, 0x03, 0x01, 0x70, 0x00},
                            Bytes{0x14, 0x03, 0x01, 0x00, 0x01, 0x02},
                            Bytes{0x14, 0x03, 0x01, 0x00, 0x02, 0x01, 0x01}})
    EXPECT_EQ(parse(head + wrap_in_records(message)).status, HelloStatus::kNotTls);
}

TEST(ClientHelloTest, OversizedRecordIsMalformed) {
  Bytes stream = {0x16, 0x03, 0x01, 0x40, 0x01, 0x01, 0x00};
  EXPECT_EQ(parse(stream).status, HelloStatus::kMalformed);
}

TEST(ClientHelloTest, OtherHandshakeMessageIsMalformed) {
  HelloSpec spec;
  Bytes message = build_client_hello_message(spec);
  message[0] = 2;  // ServerHello
  EXPECT_EQ(parse(wrap_in_records(message)).status, HelloStatus::kMalformed);
  // Known from the first payload byte, before the rest arrives.
  Bytes start = {0x16, 0x03, 0x01, 0x01, 0x00, 0x02};
  EXPECT_EQ(parse(start).status, HelloStatus::kMalformed);
}

// Offsets into the builder's default message (no GREASE): 4 header, 2 version, 32 random.
constexpr size_t kSessionIdOffset = 4 + 2 + 32;

TEST(ClientHelloTest, InconsistentInnerLengthsAreMalformed) {
  HelloSpec spec;
  const Bytes good = build_client_hello_message(spec);
  size_t ciphers = kSessionIdOffset + 1 + 32;
  size_t compression = ciphers + 2 + spec.ciphers.size() * 2;
  size_t extensions = compression + 2;
  std::vector<std::pair<std::string, std::function<void(Bytes&)>>> breakages = {
      {"session id > 32", [&](Bytes& m) { m[kSessionIdOffset] = 33; }},
      {"session id overruns", [&](Bytes& m) { m[kSessionIdOffset] = 0xff; }},
      {"odd cipher length", [&](Bytes& m) { m[ciphers + 1] += 1; }},
      {"cipher length overruns", [&](Bytes& m) { m[ciphers] = 0xff; }},
      {"no compression methods", [&](Bytes& m) { m[compression] = 0; }},
      {"extensions overrun", [&](Bytes& m) { m[extensions + 1] += 1; }},
      {"extensions short", [&](Bytes& m) { m[extensions + 1] -= 1; }},
      {"first extension overruns", [&](Bytes& m) { m[extensions + 4] = 0xff; }},
      {"sni list length", [&](Bytes& m) { m[extensions + 2 + 4 + 1] += 1; }},
      {"sni name length", [&](Bytes& m) { m[extensions + 2 + 4 + 2 + 2] += 1; }},
      {"handshake shorter", [&](Bytes& m) { m[3] -= 1; }},
      {"body too short", [&](Bytes& m) { m.resize(4 + 20); m[1] = 0; m[2] = 0; m[3] = 20; }},
  };
  for (auto& [what, breakage] : breakages) {
    Bytes m = good;
    breakage(m);
    auto p = parse(wrap_in_records(m));
    EXPECT_EQ(p.status, HelloStatus::kMalformed) << what;
    EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsMalformed)) << what;
  }
}

TEST(ClientHelloTest, DeclaredLengthBeyondTheStreamNeedsMore) {
  HelloSpec spec;
  Bytes m = build_client_hello_message(spec);
  m[3] += 10;  // the handshake claims 10 more bytes than the record holds
  EXPECT_EQ(parse(wrap_in_records(m)).status, HelloStatus::kNeedMore);
}

TEST(ClientHelloTest, RecordsAfterTheHelloAreFine) {
  HelloSpec spec;
  Bytes hello = build_client_hello_records(spec);
  Bytes ccs = wrap_in_records({0x01}, 0x0303, 16384, 20);
  Bytes early = wrap_in_records(Bytes(300, 0x42), 0x0303, 16384, 23);
  for (const Bytes& stream :
       {hello + ccs, hello + ccs + early, hello + Bytes(early.begin(), early.begin() + 3),
        hello + Bytes(early.begin(), early.begin() + 100)}) {
    auto p = parse(stream);
    ASSERT_EQ(p.status, HelloStatus::kComplete);
    EXPECT_FALSE(p.info.anomalies.has(Anomaly::kHelloAfterData));
  }
}

TEST(ClientHelloTest, DataAfterTheHelloIsFlagged) {
  HelloSpec spec;
  Bytes hello = build_client_hello_records(spec);
  auto p = parse(hello + text("GET / HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_TRUE(p.info.anomalies.has(Anomaly::kHelloAfterData));

  // Extra handshake bytes inside the hello's own record.
  Bytes message = build_client_hello_message(spec);
  p = parse(wrap_in_records(message + Bytes{0x14, 0x00, 0x00, 0x00}));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_TRUE(p.info.anomalies.has(Anomaly::kHelloAfterData));
}

TEST(ClientHelloTest, Sslv2CompatibleHello) {
  Sslv2HelloSpec spec;
  Bytes stream = build_sslv2_client_hello(spec);
  auto p = parse(stream);
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_TRUE(p.info.sslv2);
  EXPECT_TRUE(p.info.anomalies.has(Anomaly::kSslv2Hello));
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0301}));
  EXPECT_EQ(p.info.sni_length, 0);
  EXPECT_EQ(p.info.ja4_view(), "");
  expect_prefixes_need_more(stream);

  spec.version = 0x0002;
  spec.session_id = Bytes(16, 1);
  p = parse(build_sslv2_client_hello(spec));
  ASSERT_EQ(p.status, HelloStatus::kComplete);
  EXPECT_EQ(versions(p.info), (std::vector<uint16_t>{0x0002}));
}

TEST(ClientHelloTest, BrokenSslv2Hellos) {
  Sslv2HelloSpec spec;
  Bytes good = build_sslv2_client_hello(spec);
  Bytes bad = good;
  bad[6] += 1;  // cipher spec length not a multiple of 3
  EXPECT_EQ(parse(bad).status, HelloStatus::kMalformed);
  spec.challenge = Bytes(8, 1);  // challenge too short
  EXPECT_EQ(parse(build_sslv2_client_hello(spec)).status, HelloStatus::kMalformed);
  bad = good;
  bad[2] = 4;  // not CLIENT-HELLO
  EXPECT_EQ(parse(bad).status, HelloStatus::kNotTls);
  bad = good;
  bad[3] = 0x7f;  // no such version
  EXPECT_EQ(parse(bad).status, HelloStatus::kNotTls);
}

TEST(ClientHelloTest, TlsVersionNames) {
  std::array<char, 8> buf;
  EXPECT_EQ(tls_version_name(0x0304, buf), "TLSv1.3");
  EXPECT_EQ(tls_version_name(0x0303, buf), "TLSv1.2");
  EXPECT_EQ(tls_version_name(0x0302, buf), "TLSv1.1");
  EXPECT_EQ(tls_version_name(0x0301, buf), "TLSv1.0");
  EXPECT_EQ(tls_version_name(0x0300, buf), "SSLv3");
  EXPECT_EQ(tls_version_name(0x0002, buf), "SSLv2");
  EXPECT_EQ(tls_version_name(0x7f1c, buf), "0x7f1c");
  EXPECT_EQ(tls_version_name(0xfafa, buf), "0xfafa");
}

TEST(HostNameTest, Syntax) {
  EXPECT_TRUE(is_valid_host_name("a"));
  EXPECT_TRUE(is_valid_host_name("_dmarc.example.com"));
  EXPECT_FALSE(is_valid_host_name(""));
  EXPECT_FALSE(is_valid_host_name("a."));
  EXPECT_FALSE(is_valid_host_name(".a"));
  EXPECT_FALSE(is_valid_host_name("A.com"));  // expects lower case
  EXPECT_FALSE(is_valid_host_name("a.-b"));
  EXPECT_FALSE(is_valid_host_name("a.b-"));
  EXPECT_FALSE(is_valid_host_name(std::string(254, 'a')));
}

// --- real clients, captured in /work/shared/corpus/real-clients ----------------------------

Bytes read_hello(const std::string& name) {
  auto path = std::filesystem::path(__FILE__).parent_path() / "../../data/hellos" / (name + ".bin");
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct RealHello {
  std::string file;
  std::string sni;
  std::vector<std::string> alpn;
  std::vector<uint16_t> versions;
  bool ech;
  bool fragmented;
  // JA4 as computed independently from tshark 4.0's dissection of the same capture (a Python
  // implementation of the FoxIO specification; Debian's tshark predates tls.handshake.ja4).
  // chromium-tcp's equals the value FoxIO's reference implementation publishes for Chrome.
  std::string ja4;
};

const std::vector<RealHello> kRealHellos = {
    {"chromium-tcp", "www.youtube.com", {"h2", "http/1.1"}, {0x0304, 0x0303}, true, false,
     "t13d1517h2_8daaf6152771_cb7bf5808d99"},
    {"curl-tls13-h2", "www.bbc.co.uk", {"h2", "http/1.1"},
     {0x0304, 0x0303, 0x0302, 0x0301}, false, false, "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"},
    {"curl-tls12-h1", "teams.microsoft.com", {"http/1.1"}, {0x0303}, false, false,
     "t12d2807h1_d943125447b4_a44c6288192a"},
    {"curl-idn", "xn--bcher-kva.example", {"h2", "http/1.1"},
     {0x0304, 0x0303, 0x0302, 0x0301}, false, false, "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"},
    {"openssl-tls10", "gateway.icloud.com", {}, {0x0301}, false, false,
     "t10d090600_c491f621fb4c_195413a0cc0f"},
    {"openssl-nosni-ip", "", {}, {0x0304, 0x0303, 0x0302, 0x0301}, false, false,
     "t13i310900_e8f1e7e78f70_1f22a2ca17c4"},
    {"java17-jsse", "www.instagram.com", {}, {0x0304, 0x0303}, false, false,
     "t13d371200_db35923f8641_7c76daad20ec"},
    {"gnutls-cli", "api.dropboxapi.com", {}, {0x0304, 0x0303, 0x0302, 0x0301}, false, false,
     "t13d291300_723694b0fccc_2cc26d266019"},
    {"node-https", "zoom.us", {}, {0x0304, 0x0303}, false, false,
     "t13d591000_a33745022dd6_1f22a2ca17c4"},
    {"python-urllib", "web.whatsapp.com", {}, {0x0304, 0x0303}, false, false,
     "t13d181100_85036bcba153_d41ae481755e"},
};

TEST(RealClientHelloTest, FieldsAndFingerprints) {
  for (const auto& r : kRealHellos) {
    SCOPED_TRACE(r.file);
    Bytes stream = read_hello(r.file);
    ASSERT_FALSE(stream.empty());
    auto p = parse(stream);
    ASSERT_EQ(p.status, HelloStatus::kComplete);
    EXPECT_EQ(p.info.sni_view(), r.sni);
    EXPECT_TRUE(p.info.sni_valid);
    EXPECT_EQ(alpn_names(p.info), r.alpn);
    EXPECT_EQ(versions(p.info), r.versions);
    EXPECT_EQ(p.info.ech, r.ech);
    EXPECT_EQ(p.info.ja4_view(), r.ja4);
    EXPECT_FALSE(p.info.anomalies.has(Anomaly::kTlsMalformed));
    EXPECT_FALSE(p.info.anomalies.has(Anomaly::kDuplicateExtension));
    EXPECT_FALSE(p.info.anomalies.has(Anomaly::kHelloAfterData));
  }
}

TEST(RealClientHelloTest, EveryCutNeedsMoreAndEveryResplitParses) {
  for (const auto& r : kRealHellos) {
    SCOPED_TRACE(r.file);
    Bytes stream = read_hello(r.file);
    expect_prefixes_need_more(stream);
    // Re-frame the message into records of every size from 1 to 64 and some larger ones.
    ASSERT_EQ(load_be16(stream.data() + 3) + 5u, stream.size());
    Bytes message(stream.begin() + 5, stream.end());
    for (size_t size = 1; size < message.size(); size += size < 64 ? 1 : 97) {
      auto p = parse(wrap_in_records(message, 0x0301, size));
      ASSERT_EQ(p.status, HelloStatus::kComplete) << size;
      EXPECT_EQ(p.info.sni_view(), r.sni);
      EXPECT_EQ(p.info.ja4_view(), r.ja4);
      EXPECT_TRUE(p.info.anomalies.has(Anomaly::kTlsRecordFragmented));
    }
  }
}

}  // namespace
}  // namespace sluice
