// Initial packet protection of QUIC (RFC 9001 5): keys from the client's first Destination
// Connection ID (HKDF-SHA256), header protection (AES-128-ECB mask) and the AES-128-GCM payload.
// Everything through OpenSSL's EVP interfaces.
//
// One instance per worker. Its OpenSSL cipher contexts (AES-ECB, AES-GCM) are created once, in
// the constructor, and only re-keyed per packet: opening an Initial allocates nothing
// (quic_initial_allocation_test.cc counts OpenSSL's allocations). The key schedule is HMAC-SHA256
// over OpenSSL's SHA256_CTX on the stack, not EVP_MAC or EVP_Digest: on OpenSSL 3.0 every
// EVP_MAC_init / EVP_DigestInit_ex allocates a provider context (25 allocations per schedule
// were measured with EVP_MAC), while SHA256_Init/Update/Final allocate nothing. Keys are derived
// once per flow (at its first Initial) and kept with the flow.
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/quic_packet.h"
#include "dataplane/core/quic_version.h"

typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace sluice {

struct QuicInitialKeys {
  uint8_t key[16] = {};
  uint8_t iv[12] = {};
  uint8_t hp[16] = {};
};

enum class QuicOpen : uint8_t {
  kOk,
  kTooShort,     // no room for a packet number, a header-protection sample and a tag
  kBadTag,       // the AEAD rejected it: corrupted, or keys from another connection ID
};

class QuicInitialCrypto {
 public:
  QuicInitialCrypto();
  ~QuicInitialCrypto();
  QuicInitialCrypto(const QuicInitialCrypto&) = delete;
  QuicInitialCrypto& operator=(const QuicInitialCrypto&) = delete;

  // False if OpenSSL could not provide HMAC-SHA256, AES-128-ECB or AES-128-GCM.
  bool ok() const { return ok_; }

  // The client's Initial keys for `version` and the first Initial's DCID (RFC 9001 5.2).
  // `client_secret` (32 bytes), when given, receives client_initial_secret (for tests).
  bool derive_client_keys(const QuicVersionInfo& version, ByteSpan dcid, QuicInitialKeys& keys,
                          uint8_t* client_secret = nullptr);

  // The header-protection mask for a 16-byte sample (RFC 9001 5.4.3); `mask` gets 5 bytes.
  bool header_mask(const uint8_t hp[16], const uint8_t* sample, uint8_t* mask);

  // Removes header protection from `packet` (an Initial, 0-RTT or Handshake packet of
  // parse_quic_packet()) and decrypts it. `out` receives the unprotected header followed by the
  // plaintext payload; it must hold packet.packet.size() bytes. `payload` is the plaintext part
  // of `out`, `packet_number` the truncated packet number.
  QuicOpen open(const QuicInitialKeys& keys, const QuicPacketView& packet, MutableByteSpan out,
                ByteSpan& payload, uint32_t& packet_number);

 private:
  bool ok_ = false;
  EVP_CIPHER* ecb_cipher_ = nullptr;
  EVP_CIPHER* gcm_cipher_ = nullptr;
  EVP_CIPHER_CTX* ecb_ = nullptr;
  EVP_CIPHER_CTX* gcm_ = nullptr;
};

}  // namespace sluice
