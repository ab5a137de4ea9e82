#include "dataplane/core/quic_initial_crypto.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3.0 in favour of EVP_Digest*, which
// allocate a provider context on every init; the low-level calls stay available through 3.x and
// allocate nothing, which the packet path needs (see the header).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstring>

namespace sluice {
namespace {

constexpr size_t kSha256Length = 32;
constexpr size_t kSampleLength = 16;
constexpr size_t kTagLength = 16;
constexpr size_t kMaxPacketNumberLength = 4;

// HMAC-SHA256 (RFC 2104) for keys of at most one block, on SHA256_CTX: no allocation.
void hmac_sha256(const uint8_t* key, size_t key_length, ByteSpan data, uint8_t* out) {
  constexpr size_t kBlock = 64;
  uint8_t pad[kBlock] = {};
  std::memcpy(pad, key, key_length);
  for (uint8_t& b : pad) b ^= 0x36;
  uint8_t inner[kSha256Length];
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, pad, kBlock);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(inner, &ctx);
  for (uint8_t& b : pad) b ^= 0x36 ^ 0x5c;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, pad, kBlock);
  SHA256_Update(&ctx, inner, sizeof(inner));
  SHA256_Final(out, &ctx);
  OPENSSL_cleanse(pad, sizeof(pad));
}

// HKDF-Expand-Label (RFC 8446 7.1) with an empty context, for outputs of at most one SHA-256
// block: T(1) = HMAC(secret, HkdfLabel || 0x01).
bool expand_label(const uint8_t* secret, std::string_view label, size_t length, uint8_t* out) {
  constexpr std::string_view kPrefix = "tls13 ";
  uint8_t info[2 + 1 + 32 + 1 + 1];
  if (length > kSha256Length || kPrefix.size() + label.size() > 32) return false;
  size_t n = 0;
  store_be16(info, static_cast<uint16_t>(length));
  n += 2;
  info[n++] = static_cast<uint8_t>(kPrefix.size() + label.size());
  std::memcpy(info + n, kPrefix.data(), kPrefix.size());
  n += kPrefix.size();
  std::memcpy(info + n, label.data(), label.size());
  n += label.size();
  info[n++] = 0;  // empty context
  info[n++] = 1;  // block counter
  uint8_t block[kSha256Length];
  hmac_sha256(secret, kSha256Length, ByteSpan(info, n), block);
  std::memcpy(out, block, length);
  OPENSSL_cleanse(block, sizeof(block));
  return true;
}

}  // namespace

QuicInitialCrypto::QuicInitialCrypto() {
  ecb_cipher_ = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  gcm_cipher_ = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  ecb_ = EVP_CIPHER_CTX_new();
  gcm_ = EVP_CIPHER_CTX_new();
  if (ecb_cipher_ == nullptr || gcm_cipher_ == nullptr || ecb_ == nullptr || gcm_ == nullptr)
    return;
  // Bind each cipher context to its cipher once; packets only change the key (and IV).
  if (EVP_EncryptInit_ex(ecb_, ecb_cipher_, nullptr, nullptr, nullptr) != 1) return;
  EVP_CIPHER_CTX_set_padding(ecb_, 0);
  if (EVP_DecryptInit_ex(gcm_, gcm_cipher_, nullptr, nullptr, nullptr) != 1) return;
  ok_ = true;
}

QuicInitialCrypto::~QuicInitialCrypto() {
  EVP_CIPHER_CTX_free(gcm_);
  EVP_CIPHER_CTX_free(ecb_);
  EVP_CIPHER_free(gcm_cipher_);
  EVP_CIPHER_free(ecb_cipher_);
}

bool QuicInitialCrypto::derive_client_keys(const QuicVersionInfo& version, ByteSpan dcid,
                                           QuicInitialKeys& keys, uint8_t* client_secret) {
  if (!ok_) return false;
  uint8_t initial_secret[kSha256Length];
  uint8_t secret[kSha256Length];
  // HKDF-Extract(salt, DCID) = HMAC(salt, DCID). An empty DCID is legal (HMAC of nothing).
  hmac_sha256(version.salt, kQuicSaltLength, dcid, initial_secret);
  const bool ok = expand_label(initial_secret, "client in", kSha256Length, secret) &&
                  expand_label(secret, version.key_label, sizeof(keys.key), keys.key) &&
                  expand_label(secret, version.iv_label, sizeof(keys.iv), keys.iv) &&
                  expand_label(secret, version.hp_label, sizeof(keys.hp), keys.hp);
  if (ok && client_secret != nullptr) std::memcpy(client_secret, secret, sizeof(secret));
  OPENSSL_cleanse(initial_secret, sizeof(initial_secret));
  OPENSSL_cleanse(secret, sizeof(secret));
  return ok;
}

bool QuicInitialCrypto::header_mask(const uint8_t hp[16], const uint8_t* sample, uint8_t* mask) {
  uint8_t block[32];
  int n = 0;
  if (EVP_EncryptInit_ex(ecb_, nullptr, nullptr, hp, nullptr) != 1 ||
      EVP_EncryptUpdate(ecb_, block, &n, sample, kSampleLength) != 1 || n != kSampleLength)
    return false;
  std::memcpy(mask, block, 5);
  return true;
}

QuicOpen QuicInitialCrypto::open(const QuicInitialKeys& keys, const QuicPacketView& packet,
                                 MutableByteSpan out, ByteSpan& payload,
                                 uint32_t& packet_number) {
  const ByteSpan in = packet.packet;
  const size_t pn_offset = packet.pn_offset;
  // The sample starts 4 bytes after the packet number's start, whatever its length (5.4.2).
  if (!ok_ || pn_offset == 0 ||
      in.size() < pn_offset + kMaxPacketNumberLength + kSampleLength || out.size() < in.size())
    return QuicOpen::kTooShort;
  uint8_t mask[5];
  if (!header_mask(keys.hp, in.data() + pn_offset + kMaxPacketNumberLength, mask))
    return QuicOpen::kTooShort;
  std::memcpy(out.data(), in.data(), pn_offset);
  out[0] = static_cast<uint8_t>(in[0] ^ (mask[0] & 0x0f));  // long header: 4 protected bits
  const size_t pn_length = (out[0] & 0x03) + 1;
  packet_number = 0;
  for (size_t i = 0; i < pn_length; ++i) {
    out[pn_offset + i] = static_cast<uint8_t>(in[pn_offset + i] ^ mask[1 + i]);
    packet_number = (packet_number << 8) | out[pn_offset + i];
  }
  const size_t header_length = pn_offset + pn_length;
  if (in.size() < header_length + kTagLength) return QuicOpen::kTooShort;
  const size_t cipher_length = in.size() - header_length - kTagLength;

  // Nonce: the IV with the packet number XORed into its low bytes (5.3).
  uint8_t nonce[12];
  std::memcpy(nonce, keys.iv, sizeof(nonce));
  for (size_t i = 0; i < 4; ++i) nonce[11 - i] ^= static_cast<uint8_t>(packet_number >> (8 * i));

  int n = 0;
  uint8_t tag[kTagLength];
  std::memcpy(tag, in.data() + header_length + cipher_length, kTagLength);
  uint8_t* plain = out.data() + header_length;
  if (EVP_DecryptInit_ex(gcm_, nullptr, nullptr, keys.key, nonce) != 1 ||
      EVP_DecryptUpdate(gcm_, nullptr, &n, out.data(), static_cast<int>(header_length)) != 1 ||
      EVP_DecryptUpdate(gcm_, plain, &n, in.data() + header_length,
                        static_cast<int>(cipher_length)) != 1 ||
      EVP_CIPHER_CTX_ctrl(gcm_, EVP_CTRL_GCM_SET_TAG, kTagLength, tag) != 1 ||
      EVP_DecryptFinal_ex(gcm_, plain + n, &n) != 1)
    return QuicOpen::kBadTag;
  payload = ByteSpan(plain, cipher_length);
  return QuicOpen::kOk;
}

}  // namespace sluice
