#include "dataplane/core/ja4.h"

#include <algorithm>
#include <cstring>

// The low-level SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but EVP
// allocates a context (and may take locks fetching the algorithm) on every digest; the packet
// path allows neither, and these functions are plain computation on a stack context.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

namespace sluice {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void hex4(uint16_t v, char* out) {
  out[0] = kHex[(v >> 12) & 0xf];
  out[1] = kHex[(v >> 8) & 0xf];
  out[2] = kHex[(v >> 4) & 0xf];
  out[3] = kHex[v & 0xf];
}

// Writes "aaaa,bbbb,..." at `out` and returns its end. The whole text is hashed with one call:
// feeding the digest five bytes at a time cost more than the compression itself.
char* write_list(const uint16_t* values, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) {
    if (i != 0) *out++ = ',';
    hex4(values[i], out);
    out += 4;
  }
  return out;
}

// Writes the first 12 hex digits of the SHA-256 of [text, end).
void hash12(const char* text, const char* end, char* out) {
  // Not the one-shot SHA256(): OpenSSL 3 implements it with EVP_Q_digest, which allocates.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, text, static_cast<size_t>(end - text));
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  for (int i = 0; i < 6; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
}

// Writes the 12 digits of "first" (and "_second" when there is a second list) at `out`: from the
// cache when these lists were hashed before, else hashed in `text` and remembered.
void digest_lists(const uint16_t* first, size_t n_first, const uint16_t* second, size_t n_second,
                  char* text, char* out, Ja4Cache* cache) {
  if (cache != nullptr && cache->find(first, n_first, second, n_second, out)) return;
  char* end = write_list(first, n_first, text);
  if (n_second > 0) {  // without signature algorithms there is no trailing "_"
    *end++ = '_';
    end = write_list(second, n_second, end);
  }
  hash12(text, end, out);
  if (cache != nullptr) cache->store(first, n_first, second, n_second, out);
}

// Copies the non-GREASE 2-byte values of a wire list; false if there are too many.
bool collect(ByteSpan wire, uint16_t* out, size_t& n) {
  n = 0;
  for (size_t i = 0; i + 1 < wire.size(); i += 2) {
    uint16_t v = load_be16(wire.data() + i);
    if (is_grease(v)) continue;
    if (n == kJa4MaxListValues) return false;
    out[n++] = v;
  }
  return true;
}

bool is_alnum(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

void two_digits(size_t n, char* out) {
  if (n > 99) n = 99;
  out[0] = static_cast<char>('0' + n / 10);
  out[1] = static_cast<char>('0' + n % 10);
}

}  // namespace

bool is_grease(uint16_t value) {
  // RFC 8701: 0x0a0a, 0x1a1a, ..., 0xfafa: both bytes equal, low nibble 0xa.
  return (value & 0x0f0f) == 0x0a0a && (value >> 8) == (value & 0xff);
}

const char* ja4_version_code(uint16_t version) {
  switch (version) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
  }
}

bool compute_ja4(const Ja4Input& in, std::array<char, kJa4Length + 1>& out, Ja4Cache* cache) {
  out[0] = '\0';
  uint16_t ciphers[kJa4MaxListValues];
  uint16_t exts[kJa4MaxListValues];
  uint16_t sigs[kJa4MaxListValues];
  size_t n_ciphers = 0, n_sigs = 0, n_exts = 0, n_exts_hashed = 0;
  if (!collect(in.ciphers, ciphers, n_ciphers)) return false;
  if (!collect(in.signature_algorithms, sigs, n_sigs)) return false;
  for (size_t i = 0; i < in.extension_count; ++i) {
    uint16_t type = in.extensions[i];
    if (is_grease(type)) continue;
    ++n_exts;  // counted with SNI and ALPN, hashed without
    if (type == 0x0000 || type == 0x0010) continue;
    if (n_exts_hashed == kJa4MaxListValues) return false;
    exts[n_exts_hashed++] = type;
  }

  // The text each hash is taken of: two lists of up to kJa4MaxListValues "xxxx," items.
  char text[2 * 5 * kJa4MaxListValues + 1];
  char* p = out.data();
  *p++ = in.protocol;
  std::memcpy(p, ja4_version_code(in.version), 2);
  p += 2;
  *p++ = in.has_sni ? 'd' : 'i';
  two_digits(n_ciphers, p);
  p += 2;
  two_digits(n_exts, p);
  p += 2;

  // ALPN: first and last character of the first value; if either end is not alphanumeric, the
  // first and last hex digit of the value instead.
  ByteSpan alpn = in.first_alpn;
  if (alpn.empty()) {
    *p++ = '0';
    *p++ = '0';
  } else {
    uint8_t first = alpn.front(), last = alpn.back();
    if (is_alnum(first) && is_alnum(last)) {
      *p++ = static_cast<char>(first);
      *p++ = static_cast<char>(last);
    } else {
      *p++ = kHex[first >> 4];
      *p++ = kHex[last & 0xf];
    }
  }

  *p++ = '_';
  if (n_ciphers == 0) {
    std::memset(p, '0', 12);  // the spec's marker for an empty list, not the hash of ""
  } else {
    std::sort(ciphers, ciphers + n_ciphers);
    digest_lists(ciphers, n_ciphers, nullptr, 0, text, p, cache);
  }
  p += 12;

  *p++ = '_';
  if (n_exts_hashed == 0) {
    std::memset(p, '0', 12);
  } else {
    std::sort(exts, exts + n_exts_hashed);
    digest_lists(exts, n_exts_hashed, sigs, n_sigs, text, p, cache);
  }
  p += 12;
  *p = '\0';
  return true;
}

}  // namespace sluice
