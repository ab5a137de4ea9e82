// Known answers from RFC 9001 Appendix A (QUIC v1) and RFC 9369 Appendix A (v2): keys, header
// protection and the sample client Initial, sealed by the test builder and opened by the product.
#include "dataplane/core/quic_initial_crypto.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "dataplane/core/quic_packet.h"
#include "tests/dataplane/core/quic_initial_builder.h"

namespace sluice {
namespace {

using test::from_hex;

const Bytes kDcid = from_hex("8394c8f03e515708");

std::string hex(const uint8_t* p, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(k[p[i] >> 4]);
    s.push_back(k[p[i] & 15]);
  }
  return s;
}

// RFC 9001 A.2: the CRYPTO frame of the client Initial (a ClientHello for example.com).
const Bytes kRfc9001CryptoFrame = from_hex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff");

TEST(QuicInitialCryptoTest, Rfc9001ClientKeys) {
  QuicInitialCrypto crypto;
  ASSERT_TRUE(crypto.ok());
  QuicInitialKeys keys;
  uint8_t secret[32];
  ASSERT_TRUE(crypto.derive_client_keys(*quic_version_info(kQuicVersion1), kDcid, keys, secret));
  EXPECT_EQ(hex(secret, 32), "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
  EXPECT_EQ(hex(keys.key, 16), "1f369613dd76d5467730efcbe3b1a22d");
  EXPECT_EQ(hex(keys.iv, 12), "fa044b2f42a3fd3b46fb255c");
  EXPECT_EQ(hex(keys.hp, 16), "9f50449e04a0e810283a1e9933adedd2");
}

TEST(QuicInitialCryptoTest, Rfc9369ClientKeys) {
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  uint8_t secret[32];
  ASSERT_TRUE(crypto.derive_client_keys(*quic_version_info(kQuicVersion2), kDcid, keys, secret));
  EXPECT_EQ(hex(secret, 32), "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b");
  EXPECT_EQ(hex(keys.key, 16), "8b1a0bc121284290a29e0971b5cd045d");
  EXPECT_EQ(hex(keys.iv, 12), "91f73e2351d8fa91660e909f");
  EXPECT_EQ(hex(keys.hp, 16), "45b95e15235d6f45a6b19cbcb0294ba9");
}

// draft-29's salt, with the key and IV other implementations publish for this DCID.
TEST(QuicInitialCryptoTest, Draft29ClientKeys) {
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  ASSERT_TRUE(crypto.derive_client_keys(*quic_version_info(kQuicDraft29), kDcid, keys));
  EXPECT_EQ(hex(keys.key, 16), "175257a31eb09dea9366d8bb79ad80ba");
  EXPECT_EQ(hex(keys.iv, 12), "6b26114b9cba2b63a9e8dd4f");
}

TEST(QuicInitialCryptoTest, VersionTable) {
  EXPECT_NE(quic_version_info(0xff00001d), nullptr);  // draft-29
  EXPECT_NE(quic_version_info(0xff000022), nullptr);  // draft-34
  EXPECT_EQ(quic_version_info(0xff00001c), nullptr);  // draft-28: not read
  EXPECT_EQ(quic_version_info(0), nullptr);           // version negotiation
  // Drafts 33 and 34 share the v1 salt; 29-32 the older one.
  EXPECT_EQ(quic_version_info(0xff000021)->salt, quic_version_info(kQuicVersion1)->salt);
  EXPECT_NE(quic_version_info(0xff000020)->salt, quic_version_info(kQuicVersion1)->salt);
  // v2 numbers the long-header types differently (RFC 9369 3.2).
  EXPECT_EQ(quic_long_packet_type(*quic_version_info(kQuicVersion2), 0xd0), QuicPacketType::kInitial);
  EXPECT_EQ(quic_long_packet_type(*quic_version_info(kQuicVersion2), 0xc0), QuicPacketType::kRetry);
  EXPECT_EQ(quic_long_packet_type(*quic_version_info(kQuicVersion1), 0xc0), QuicPacketType::kInitial);
  EXPECT_EQ(quic_long_packet_type(*quic_version_info(kQuicVersion1), 0xe0), QuicPacketType::kHandshake);
}

TEST(QuicInitialCryptoTest, Rfc9001HeaderProtectionMask) {
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  ASSERT_TRUE(crypto.derive_client_keys(*quic_version_info(kQuicVersion1), kDcid, keys));
  const Bytes sample = from_hex("d1b1c98dd7689fb8ec11d242b123dc9b");
  uint8_t mask[5];
  ASSERT_TRUE(crypto.header_mask(keys.hp, sample.data(), mask));
  EXPECT_EQ(hex(mask, 5), "437b9aec36");
}

test::QuicInitialSpec rfc_spec(uint32_t version) {
  test::QuicInitialSpec spec;
  spec.version = version;
  spec.dcid = kDcid;
  spec.packet_number = 2;
  spec.frames = kRfc9001CryptoFrame;
  return spec;
}

// The sample packet of RFC 9001 A.2, sealed: its protected header, first ciphertext block (the
// header-protection sample) and tag are the RFC's. Then the product opens it.
TEST(QuicInitialCryptoTest, Rfc9001SampleClientInitial) {
  const Bytes packet = test::build_quic_initial(rfc_spec(kQuicVersion1));
  ASSERT_EQ(packet.size(), 1200u);
  EXPECT_EQ(hex(packet.data(), 38),
            "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9b");
  EXPECT_EQ(hex(packet.data() + 1184, 16), "e221af44860018ab0856972e194cd934");

  QuicPacketView view;
  ASSERT_EQ(parse_quic_packet(packet, view), QuicParse::kOk);
  EXPECT_EQ(view.type, QuicPacketType::kInitial);
  EXPECT_EQ(view.pn_offset, 18u);
  EXPECT_EQ(view.packet.size(), 1200u);
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  ASSERT_TRUE(crypto.derive_client_keys(*view.info, view.dcid, keys));
  Bytes out(packet.size());
  ByteSpan payload;
  uint32_t pn = 0;
  ASSERT_EQ(crypto.open(keys, view, out, payload, pn), QuicOpen::kOk);
  EXPECT_EQ(pn, 2u);
  EXPECT_EQ(hex(out.data(), 22), "c300000001088394c8f03e5157080000449e00000002");
  ASSERT_EQ(payload.size(), 1162u);
  EXPECT_EQ(Bytes(payload.begin(), payload.begin() + 245), kRfc9001CryptoFrame);
}

// RFC 9369 A.2: the same client Initial under v2 (type bits 01, its own salt and labels).
TEST(QuicInitialCryptoTest, Rfc9369SampleClientInitial) {
  const Bytes packet = test::build_quic_initial(rfc_spec(kQuicVersion2));
  ASSERT_EQ(packet.size(), 1200u);
  EXPECT_EQ(hex(packet.data(), 32),
            "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485");
  QuicPacketView view;
  ASSERT_EQ(parse_quic_packet(packet, view), QuicParse::kOk);
  EXPECT_EQ(view.type, QuicPacketType::kInitial);
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  ASSERT_TRUE(crypto.derive_client_keys(*view.info, view.dcid, keys));
  Bytes out(packet.size());
  ByteSpan payload;
  uint32_t pn = 0;
  ASSERT_EQ(crypto.open(keys, view, out, payload, pn), QuicOpen::kOk);
  EXPECT_EQ(hex(out.data(), 22), "d36b3343cf088394c8f03e5157080000449e00000002");
}

TEST(QuicInitialCryptoTest, CorruptedTagIsRejected) {
  Bytes packet = test::build_quic_initial(rfc_spec(kQuicVersion1));
  packet[600] ^= 0x01;
  QuicPacketView view;
  ASSERT_EQ(parse_quic_packet(packet, view), QuicParse::kOk);
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  ASSERT_TRUE(crypto.derive_client_keys(*view.info, view.dcid, keys));
  Bytes out(packet.size());
  ByteSpan payload;
  uint32_t pn = 0;
  EXPECT_EQ(crypto.open(keys, view, out, payload, pn), QuicOpen::kBadTag);
}

TEST(QuicInitialCryptoTest, ContextsAreReusedAcrossPackets) {
  // The same worker crypto opens many packets of different keys in turn.
  QuicInitialCrypto crypto;
  for (uint32_t version : {kQuicVersion1, kQuicVersion2, kQuicDraft29, kQuicVersion1}) {
    const Bytes packet = test::build_quic_initial(rfc_spec(version));
    QuicPacketView view;
    ASSERT_EQ(parse_quic_packet(packet, view), QuicParse::kOk);
    QuicInitialKeys keys;
    ASSERT_TRUE(crypto.derive_client_keys(*view.info, view.dcid, keys));
    Bytes out(packet.size());
    ByteSpan payload;
    uint32_t pn = 0;
    EXPECT_EQ(crypto.open(keys, view, out, payload, pn), QuicOpen::kOk) << std::hex << version;
  }
}

}  // namespace
}  // namespace sluice
