// JA4 TLS client fingerprint (FoxIO, technical_details/JA4.md), computed from the pieces of a
// parsed ClientHello. Shared by the TCP ClientHello parser ('t') and QUIC ('q').
//
//   t13d1516h2_8daaf6152771_e5627efa2ab1
//   |||  | | |  |            sha256[:12] of sorted extensions (no GREASE, SNI, ALPN) "_" sig algs
//   |||  | | |  sha256[:12] of sorted ciphers (no GREASE)
//   |||  | | first/last char of the first ALPN value ("00" if none)
//   |||  | extension count (no GREASE, SNI and ALPN included, capped at 99)
//   |||  cipher count (no GREASE, capped at 99)
//   ||'d' if a server_name extension is present, else 'i'
//   |version: highest non-GREASE supported_versions value, else legacy_version
//   protocol
//
// No allocation: lists are sorted in fixed stack arrays, hashed incrementally.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/ja4_cache.h"
#include "dataplane/core/tls_client_hello.h"

namespace sluice {

// Lists longer than this are not fingerprinted (no real client comes near: ~100 ciphers and
// ~25 extensions are the most seen); the fingerprint is then left empty.
inline constexpr size_t kJa4MaxListValues = 512;

struct Ja4Input {
  char protocol = 't';              // 't' TLS over TCP, 'q' QUIC, 'd' DTLS
  uint16_t version = 0;             // already chosen (see above)
  bool has_sni = false;             // a server_name extension is present
  ByteSpan ciphers;                 // cipher_suites wire bytes (2-byte values, GREASE included)
  const uint16_t* extensions = nullptr;  // extension types in hello order (GREASE included)
  size_t extension_count = 0;
  ByteSpan signature_algorithms;    // signature_algorithms list wire bytes (2-byte values)
  ByteSpan first_alpn;              // the first ALPN protocol name, empty if none
};

bool is_grease(uint16_t value);

// The two JA4 version characters for a TLS version ("13", "12", ..., "s3", "s2", "00").
const char* ja4_version_code(uint16_t version);

// Writes the NUL-terminated fingerprint. Returns false (and writes "") if a list is too long.
// With a cache, the two hashed parts come from it when their lists were seen before (the
// result is the same, byte for byte).
bool compute_ja4(const Ja4Input& in, std::array<char, kJa4Length + 1>& out,
                 Ja4Cache* cache = nullptr);

}  // namespace sluice
