#include "dataplane/core/sni_name.h"

namespace sluice {
namespace {

constexpr size_t kMaxHostName = 253;
constexpr size_t kMaxLabel = 63;

char lower(uint8_t c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); }

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

bool is_valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostName) return false;
  size_t label = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!label_char(c) || (label == 0 && c == '-') || ++label > kMaxLabel) return false;
  }
  return label > 0 && name.back() != '-';
}

size_t lower_host_name(ByteSpan raw, char* out, size_t cap) {
  const size_t n = raw.size();
  if (n == 0 || n > cap) return 0;
  for (size_t i = 0; i < n; ++i) out[i] = lower(raw[i]);
  return n > 1 && out[n - 1] == '.' ? n - 1 : n;
}

void store_sni(ByteSpan raw, ClientHelloInfo& info) {
  if (raw.empty()) {
    info.anomalies.add(Anomaly::kSniEmpty);
    return;
  }
  // Lower-case into the output first: a valid name is at most 254 bytes with its dot and fits.
  const size_t n = raw.size();
  const size_t stripped = lower_host_name(raw, info.sni.data(), kMaxSniLength);
  if (stripped != 0 && is_valid_host_name({info.sni.data(), stripped})) {
    info.sni[stripped] = '\0';
    info.sni_length = static_cast<uint16_t>(stripped);
    info.sni_valid = true;
    return;
  }
  info.sni_valid = false;
  info.anomalies.add(Anomaly::kSniInvalid);
  constexpr char kHex[] = "0123456789abcdef";
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = lower(raw[i]);
    bool plain = c >= '!' && c <= '~' && c != '\\';
    size_t need = plain ? 1 : 4;
    if (out + need > kMaxSniLength) break;
    if (plain) {
      info.sni[out++] = c;
    } else {
      uint8_t b = static_cast<uint8_t>(c);
      info.sni[out++] = '\\';
      info.sni[out++] = 'x';
      info.sni[out++] = kHex[b >> 4];
      info.sni[out++] = kHex[b & 0xf];
    }
  }
  info.sni[out] = '\0';
  info.sni_length = static_cast<uint16_t>(out);
}

}  // namespace sluice
