#include "dataplane/core/sni_peek.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/dataplane/core/client_hello_builder.h"

namespace sluice {
namespace {

std::string peek(const Bytes& segment) {
  std::array<char, kMaxSniLength> buf;
  return std::string(peek_client_hello_sni(segment, buf));
}

Bytes hello_for(const std::string& sni, size_t max_record_payload = 16384) {
  HelloSpec spec;
  spec.sni = sni;
  spec.alpn = {"h2", "http/1.1"};
  spec.grease = true;
  return build_client_hello_records(spec, max_record_payload);
}

TEST(SniPeekTest, NamesTheServerAsThePolicySeesIt) {
  EXPECT_EQ(peek(hello_for("www.example.com")), "www.example.com");
  EXPECT_EQ(peek(hello_for("WWW.Example.COM.")), "www.example.com");
}

TEST(SniPeekTest, NothingWithoutAClientHelloAtTheStart) {
  HelloSpec spec;
  spec.sni.reset();
  EXPECT_EQ(peek(build_client_hello_records(spec)), "");
  EXPECT_EQ(peek(Bytes{'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1'}), "");
  Bytes data = hello_for("example.com");
  data[0] = 23;  // application data, not a handshake
  EXPECT_EQ(peek(data), "");
  const Bytes whole = hello_for("example.com");
  EXPECT_EQ(peek(Bytes(whole.begin() + 1, whole.end())), "") << "not at the start of a record";
}

// A hello cut anywhere (a first segment, a small first record) gives the name or nothing, and
// never reads past what it was given (the sanitizer build checks that).
TEST(SniPeekTest, CutHellosGiveTheNameOrNothing) {
  for (size_t record : {size_t{16384}, size_t{60}}) {
    const Bytes h = hello_for("cut.example.org", record);
    for (size_t n = 0; n <= h.size(); ++n) {
      const Bytes part(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(n));
      const std::string got = peek(part);
      EXPECT_TRUE(got.empty() || got == "cut.example.org") << n << ": " << got;
      if (record == 60) {
        EXPECT_EQ(got, "") << "the name lies past the first record";
      }
    }
    if (record == 16384) {
      EXPECT_EQ(peek(h), "cut.example.org");
    }
  }
}

TEST(SniPeekTest, RealClientsAgreeWithTheParser) {
  const auto dir = std::filesystem::path(__FILE__).parent_path() / "../../data/hellos";
  int named = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes stream((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<uint8_t> scratch(65536);
    ClientHelloInfo info;
    const HelloStatus status = parse_client_hello(stream, scratch, info);
    const std::string got = peek(stream);
    if (!got.empty()) {
      ++named;
      EXPECT_EQ(status, HelloStatus::kComplete) << entry.path();
      EXPECT_EQ(got, info.sni_view()) << entry.path();
    }
  }
  EXPECT_GT(named, 0);
}

}  // namespace
}  // namespace sluice
