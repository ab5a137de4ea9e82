#include "dataplane/core/quic_initial_crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>

namespace sluice {
namespace {

constexpr size_t kSha256Length = 32;
constexpr size_t kSampleLength = 16;
constexpr size_t kTagLength = 16;
constexpr size_t kMaxPacketNumberLength = 4;

}  // namespace

QuicInitialCrypto::QuicInitialCrypto() {
  mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  hmac_ = mac_ ? EVP_MAC_CTX_new(mac_) : nullptr;
  ecb_cipher_ = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  gcm_cipher_ = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  ecb_ = EVP_CIPHER_CTX_new();
  gcm_ = EVP_CIPHER_CTX_new();
  if (hmac_ == nullptr || ecb_cipher_ == nullptr || gcm_cipher_ == nullptr || ecb_ == nullptr ||
      gcm_ == nullptr)
    return;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
  if (EVP_MAC_CTX_set_params(hmac_, params) != 1) return;
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
  EVP_MAC_CTX_free(hmac_);
  EVP_MAC_free(mac_);
}

bool QuicInitialCrypto::hmac(const uint8_t* key, size_t key_length, ByteSpan data1,
                             ByteSpan data2, uint8_t* out) {
  size_t n = 0;
  return EVP_MAC_init(hmac_, key, key_length, nullptr) == 1 &&
         EVP_MAC_update(hmac_, data1.data(), data1.size()) == 1 &&
         (data2.empty() || EVP_MAC_update(hmac_, data2.data(), data2.size()) == 1) &&
         EVP_MAC_final(hmac_, out, &n, kSha256Length) == 1 && n == kSha256Length;
}

// HKDF-Expand-Label (RFC 8446 7.1) with an empty context, for outputs of at most one SHA-256
// block: T(1) = HMAC(secret, HkdfLabel || 0x01).
bool QuicInitialCrypto::expand_label(const uint8_t* secret, std::string_view label,
                                     size_t length, uint8_t* out) {
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
  if (!hmac(secret, kSha256Length, ByteSpan(info, n), {}, block)) return false;
  std::memcpy(out, block, length);
  return true;
}

bool QuicInitialCrypto::derive_client_keys(const QuicVersionInfo& version, ByteSpan dcid,
                                           QuicInitialKeys& keys, uint8_t* client_secret) {
  if (!ok_) return false;
  uint8_t initial_secret[kSha256Length];
  uint8_t secret[kSha256Length];
  // HKDF-Extract(salt, DCID) = HMAC(salt, DCID). An empty DCID is legal (HMAC of nothing).
  static constexpr uint8_t kNothing[1] = {0};
  const ByteSpan ikm = dcid.empty() ? ByteSpan(kNothing, 0) : dcid;
  if (EVP_MAC_init(hmac_, version.salt, kQuicSaltLength, nullptr) != 1 ||
      EVP_MAC_update(hmac_, ikm.data(), ikm.size()) != 1)
    return false;
  size_t n = 0;
  if (EVP_MAC_final(hmac_, initial_secret, &n, sizeof(initial_secret)) != 1) return false;
  if (!expand_label(initial_secret, "client in", kSha256Length, secret) ||
      !expand_label(secret, version.key_label, sizeof(keys.key), keys.key) ||
      !expand_label(secret, version.iv_label, sizeof(keys.iv), keys.iv) ||
      !expand_label(secret, version.hp_label, sizeof(keys.hp), keys.hp))
    return false;
  if (client_secret != nullptr) std::memcpy(client_secret, secret, sizeof(secret));
  return true;
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
