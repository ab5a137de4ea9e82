// ClientHello parsing in three steps, each its own function:
//   1. frame_hello(): walk the TLS records of the first flight until the handshake header and the
//      whole message are there; decides kNotTls / kNeedMore / kMalformed from framing alone.
//   2. the message is taken in place when it lies in one record, else copied into `scratch`.
//   3. parse_hello_body(): the ClientHello fields and extensions, then the JA4 fingerprint.
// Everything is bounded by the input length; nothing allocates.
#include "dataplane/core/tls_client_hello.h"

#include <algorithm>
#include <cstring>

#include "dataplane/core/ja4.h"
#include "dataplane/core/sni_name.h"

namespace sluice {
namespace {

constexpr size_t kRecordHeader = 5;
constexpr size_t kHandshakeHeader = 4;
constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
// Plaintext records carry at most 2^14 bytes; servers answer record_overflow beyond it.
constexpr size_t kMaxPlainRecord = 16384;
// Records after the hello (early data) are protected and may carry up to 2^14 + 2048.
constexpr size_t kMaxCipherRecord = 16384 + 2048;
// OpenSSL gives up after this many empty records in a row; so do we.
constexpr size_t kMaxEmptyRecords = 32;
constexpr uint8_t kContentChangeCipherSpec = 20;
constexpr uint8_t kContentAlert = 21;
// Records some servers ignore before and between the ClientHello's records, so a first flight
// that opens with them is still a hello to those servers, and is read as one (measured with a
// Python client against each server on Debian 12):
//   warning alerts (not close_notify): Go 1.19's crypto/tls (Caddy, Traefik, many back ends)
//     skips up to 16 in a row before each handshake record; OpenSSL 3.0 and GnuTLS 3.7 refuse one;
//   ChangeCipherSpec [1]: GnuTLS 3.7 skips about 200; OpenSSL 3.0 and Go refuse one.
// Skipping more than a server would costs nothing (it refuses a hello we read); fewer would let
// a hello past unread. So one generous bound, which also keeps re-parsing bounded.
constexpr size_t kMaxIgnoredRecordsInARow = 256;

// Whether a record's version (as much of it as `n` bytes hold) may be a first flight's: see
// handshake_header_prefix_ok.
bool record_version_ok(const uint8_t* p, size_t n) { return n < 2 || p[1] < 0x10; }

// Whether the first `n` bytes at `p` are (n == its size), or may still become, a record some
// server ignores before a hello: a warning alert other than close_notify (which ends the
// connection), [21][v][v][0][2][1][d], or a ChangeCipherSpec, [20][v][v][0][1][1].
bool ignored_record_prefix_ok(const uint8_t* p, size_t n) {
  if (n == 0) return true;
  const bool alert = p[0] == kContentAlert;
  if (!alert && p[0] != kContentChangeCipherSpec) return false;
  if (!record_version_ok(p, n)) return false;
  if (n >= 5 && load_be16(p + 3) != (alert ? 2 : 1)) return false;
  if (n >= 6 && p[kRecordHeader] != 1) return false;
  if (n >= 7 && alert && p[kRecordHeader + 1] == 0) return false;
  return true;
}

// The size of the ignored record at `p` (ignored_record_prefix_ok), or 0 if there is none whole.
size_t ignored_record_size(const uint8_t* p, size_t avail) {
  if (avail < kRecordHeader + 1) return 0;
  const size_t size = kRecordHeader + (p[0] == kContentAlert ? 2 : 1);
  return avail >= size && ignored_record_prefix_ok(p, size) ? size : 0;
}
// Extension types remembered for duplicate detection and JA4 (real hellos have ~25).
constexpr size_t kMaxTrackedExtensions = kJa4MaxListValues;

constexpr uint16_t kExtServerName = 0x0000;
constexpr uint16_t kExtSignatureAlgorithms = 0x000d;
constexpr uint16_t kExtAlpn = 0x0010;
constexpr uint16_t kExtSupportedVersions = 0x002b;
constexpr uint16_t kExtEch = 0xfe0d;

// Checks as much of a handshake record header as is available (fewer than 5 bytes at the end of
// the stream are checked byte by byte, so a bad prefix is caught without waiting).
// Servers check little of a first-flight record's version: OpenSSL and BoringSSL only the major
// byte (0x0305 and 0x03ff are accepted), Go's crypto/tls only that it is below 0x1000 (0x0000
// and 0x0fff complete a handshake with a Go 1.19 server). So any version below 0x1000 may be a
// hello; one outside 3.0-3.4 is flagged (tls_record_version).
bool handshake_header_prefix_ok(const uint8_t* p, size_t n) {
  if (n >= 1 && p[0] != kContentHandshake) return false;
  return record_version_ok(p, n);
}

// True if `rest` (the bytes after the hello's last record) reads as a sequence of TLS records,
// the last of which may be cut short: ChangeCipherSpec and early data follow a hello legally.
bool looks_like_records(ByteSpan rest) {
  size_t pos = 0;
  while (pos < rest.size()) {
    const uint8_t* p = rest.data() + pos;
    size_t n = std::min(rest.size() - pos, kRecordHeader);
    if (p[0] < 20 || p[0] > 24) return false;
    if (!record_version_ok(p, n)) return false;
    if (n < kRecordHeader) return true;
    size_t len = load_be16(p + 3);
    if (len > kMaxCipherRecord) return false;
    pos += kRecordHeader + len;
  }
  return true;
}

}  // namespace

size_t leading_ignored_record_bytes(ByteSpan stream) {
  size_t pos = 0;
  while (const size_t size = ignored_record_size(stream.data() + pos, stream.size() - pos)) pos += size;
  return pos;
}

namespace {

// Where the handshake message is, once framing has found all of it.
struct Framing {
  size_t records = 0;         // records read, up to the one completing the message
  size_t message_length = 0;  // handshake header + body
  size_t end = 0;             // stream offset just past the record completing the message
  size_t spare = 0;           // payload bytes after the message in that record
  bool in_place = false;      // the whole message lies in one record's payload...
  size_t offset = 0;          // ...starting at this stream offset
  // The flight opened as clients send a hello: a handshake record of version 3.x first. Other
  // starts (another record version, ignored records first) are read for the servers that take
  // them, but one that then fails to frame is more likely another protocol than a broken hello.
  bool classic_start = false;
};

HelloStatus frame_hello(ByteSpan stream, Framing& f, ClientHelloInfo& info) {
  uint8_t header[kHandshakeHeader] = {};
  size_t payload = 0;  // handshake bytes seen so far
  size_t empty_run = 0;
  size_t ignored_run = 0;
  size_t pos = 0;
  for (;;) {
    size_t avail = stream.size() - pos;
    const uint8_t* p = stream.data() + pos;
    if (const size_t ignored = ignored_record_size(p, avail)) {
      info.anomalies.add(Anomaly::kTlsIgnoredRecords);
      if (++ignored_run > kMaxIgnoredRecordsInARow) return HelloStatus::kMalformed;
      pos += ignored;
      continue;
    }
    if (avail < kRecordHeader + 2 && ignored_record_prefix_ok(p, avail)) return HelloStatus::kNeedMore;
    if (avail < kRecordHeader) {
      if (handshake_header_prefix_ok(p, avail)) return HelloStatus::kNeedMore;
      return pos == 0 ? HelloStatus::kNotTls : HelloStatus::kMalformed;
    }
    if (!handshake_header_prefix_ok(p, kRecordHeader)) {
      // Another content type (a fatal alert, CCS, data) before the hello is complete.
      return pos == 0 ? HelloStatus::kNotTls : HelloStatus::kMalformed;
    }
    if (f.records == 0) {
      f.classic_start = p[1] == 3 && ignored_run == 0;
      info.record_version = load_be16(p + 1);
      if (p[1] != 3 || p[2] > 4) info.anomalies.add(Anomaly::kTlsRecordVersion);
    }
    size_t len = load_be16(p + 3);
    if (len > kMaxPlainRecord) return HelloStatus::kMalformed;
    ++f.records;
    if (f.records > 1) info.anomalies.add(Anomaly::kTlsRecordFragmented);
    if (len == 0) {
      if (++empty_run > kMaxEmptyRecords) return HelloStatus::kMalformed;
      pos += kRecordHeader;
      continue;
    }
    empty_run = 0;
    ignored_run = 0;
    size_t have = std::min(len, avail - kRecordHeader);
    const uint8_t* data = p + kRecordHeader;
    if (payload == 0) f.offset = pos + kRecordHeader;
    // Gather the handshake header, which itself may be split across records.
    for (size_t i = 0; i < have && payload + i < kHandshakeHeader; ++i) {
      header[payload + i] = data[i];
    }
    bool had_header = payload >= kHandshakeHeader;
    payload += have;
    if (payload > 0 && header[0] != kHandshakeClientHello) return HelloStatus::kMalformed;
    if (!had_header && payload >= kHandshakeHeader) {
      f.message_length = kHandshakeHeader + load_be24(header + 1);
      f.in_place = f.offset == pos + kRecordHeader && f.message_length <= len;
    }
    // The server reads whole records, so the record completing the hello must be complete too.
    if (have < len) return HelloStatus::kNeedMore;
    pos += kRecordHeader + len;
    if (payload >= kHandshakeHeader && payload >= f.message_length) {
      f.end = pos;
      f.spare = payload - f.message_length;
      return HelloStatus::kComplete;
    }
  }
}

// Copies the handshake payload of the records framed above into `out` (message_length bytes).
void gather_message(ByteSpan stream, const Framing& f, uint8_t* out) {
  size_t pos = 0, copied = 0;
  while (copied < f.message_length) {
    size_t len = load_be16(stream.data() + pos + 3);
    if (stream[pos] != kContentHandshake) {  // a record frame_hello skipped
      pos += kRecordHeader + len;
      continue;
    }
    size_t n = std::min(len, f.message_length - copied);
    std::memcpy(out + copied, stream.data() + pos + kRecordHeader, n);
    copied += n;
    pos += kRecordHeader + len;
  }
}

// --- extensions -----------------------------------------------------------------------------

bool parse_server_name(ByteSpan data, ClientHelloInfo& info) {
  // An empty extension body is what servers send back; from a client it names nothing.
  if (data.empty()) {
    info.anomalies.add(Anomaly::kSniEmpty);
    return true;
  }
  ByteReader r(data);
  ByteSpan list;
  if (!r.vec16(list) || !r.empty()) return false;
  ByteReader entries(list);
  size_t host_names = 0;
  while (!entries.empty()) {
    uint8_t type;
    ByteSpan name;
    // RFC 6066 defines only host_name; other types are assumed to share its framing.
    if (!entries.u8(type) || !entries.vec16(name)) return false;
    if (type != 0) continue;
    // Servers (OpenSSL, BoringSSL) use the first host_name; so do we.
    if (host_names++ == 0) store_sni(name, info);
  }
  if (host_names > 1) info.anomalies.add(Anomaly::kSniMultiple);
  if (host_names == 0) info.anomalies.add(Anomaly::kSniEmpty);
  return true;
}

bool parse_alpn(ByteSpan data, ClientHelloInfo& info, ByteSpan& first) {
  ByteReader r(data);
  ByteSpan list;
  if (!r.vec16(list) || !r.empty() || list.empty()) return false;
  ByteReader names(list);
  bool truncated = false;
  while (!names.empty()) {
    ByteSpan name;
    if (!names.vec8(name) || name.empty()) return false;  // RFC 7301: no empty names
    if (first.empty()) first = name;
    // Keep whole names only, so the stored list is always valid wire format.
    if (!truncated && info.alpn_length + 1 + name.size() <= kMaxAlpnBytes) {
      info.alpn[info.alpn_length] = static_cast<uint8_t>(name.size());
      std::memcpy(info.alpn.data() + info.alpn_length + 1, name.data(), name.size());
      info.alpn_length = static_cast<uint16_t>(info.alpn_length + 1 + name.size());
    } else {
      truncated = true;
    }
  }
  return true;
}

bool parse_supported_versions(ByteSpan data, ClientHelloInfo& info, uint16_t& highest) {
  ByteReader r(data);
  ByteSpan list;
  if (!r.vec8(list) || !r.empty() || list.empty() || list.size() % 2 != 0) return false;
  for (size_t i = 0; i < list.size(); i += 2) {
    uint16_t v = load_be16(list.data() + i);
    if (is_grease(v)) continue;
    if (v > highest) highest = v;
    if (info.version_count < kMaxTlsVersions) info.versions[info.version_count++] = v;
  }
  return true;
}

bool parse_u16_list(ByteSpan data, ByteSpan& list) {
  ByteReader r(data);
  return r.vec16(list) && r.empty() && list.size() % 2 == 0;
}

// --- the hello ------------------------------------------------------------------------------

bool has_duplicates(const uint16_t* types, size_t n) {
  uint16_t sorted[kMaxTrackedExtensions];
  std::copy(types, types + n, sorted);
  std::sort(sorted, sorted + n);
  return std::adjacent_find(sorted, sorted + n) != sorted + n;
}

bool parse_hello_body(ByteSpan body, char ja4_protocol, ClientHelloInfo& info, Ja4Cache* ja4_cache) {
  ByteReader r(body);
  ByteSpan random, session_id, ciphers, compression, extensions;
  if (!r.u16(info.legacy_version) || !r.bytes(32, random)) return false;
  if (!r.vec8(session_id) || session_id.size() > 32) return false;
  if (!r.vec16(ciphers) || ciphers.empty() || ciphers.size() % 2 != 0) return false;
  if (!r.vec8(compression) || compression.empty()) return false;
  // Hellos from before RFC 3546 may end here, without an extensions block.
  if (!r.empty() && (!r.vec16(extensions) || !r.empty())) return false;

  uint16_t types[kMaxTrackedExtensions];
  size_t n_types = 0;
  bool too_many = false;
  bool seen_sni = false, seen_alpn = false, seen_versions = false, seen_sigs = false;
  ByteSpan first_alpn, signature_algorithms;
  uint16_t highest_version = 0;

  ByteReader ext(extensions);
  while (!ext.empty()) {
    uint16_t type;
    ByteSpan data;
    if (!ext.u16(type) || !ext.vec16(data)) return false;
    if (n_types < kMaxTrackedExtensions) {
      types[n_types++] = type;
    } else {
      too_many = true;
    }
    // A repeated extension is flagged by has_duplicates(); its content is ignored, as the first
    // one is the one that counts for every field below.
    switch (type) {
      case kExtServerName:
        if (!seen_sni && !parse_server_name(data, info)) return false;
        seen_sni = true;
        break;
      case kExtAlpn:
        if (!seen_alpn && !parse_alpn(data, info, first_alpn)) return false;
        seen_alpn = true;
        break;
      case kExtSupportedVersions:
        if (!seen_versions && !parse_supported_versions(data, info, highest_version)) return false;
        seen_versions = true;
        break;
      case kExtSignatureAlgorithms:
        if (!seen_sigs && !parse_u16_list(data, signature_algorithms)) return false;
        seen_sigs = true;
        break;
      case kExtEch:
        info.ech = true;
        break;
      default:
        break;
    }
  }
  if (has_duplicates(types, n_types)) info.anomalies.add(Anomaly::kDuplicateExtension);

  // A supported_versions of only GREASE offers nothing: fall back to the legacy version.
  if (info.version_count == 0) {
    info.versions[0] = info.legacy_version;
    info.version_count = 1;
    highest_version = info.legacy_version;
  }

  if (!too_many) {
    Ja4Input ja4;
    ja4.protocol = ja4_protocol;
    ja4.version = highest_version;
    ja4.has_sni = seen_sni;
    ja4.ciphers = ciphers;
    ja4.extensions = types;
    ja4.extension_count = n_types;
    ja4.signature_algorithms = signature_algorithms;
    ja4.first_alpn = first_alpn;
    compute_ja4(ja4, info.ja4, ja4_cache);
  }
  return true;
}

HelloStatus malformed(ClientHelloInfo& info) {
  info.anomalies.add(Anomaly::kTlsMalformed);
  return HelloStatus::kMalformed;
}

// --- SSLv2-compatible hello (RFC 5246 E.2) --------------------------------------------------

HelloStatus parse_sslv2_hello(ByteSpan stream, ClientHelloInfo& info) {
  const uint8_t* p = stream.data();
  size_t n = stream.size();
  // The 2-byte header (high bit set) is followed by msg_type 1 and a version: 0x0002 for pure
  // SSLv2, 0x03xx for a client that can do better. Check whatever prefix is there.
  if (n >= 3 && p[2] != 1) return HelloStatus::kNotTls;
  if (n >= 4 && p[3] != 0 && p[3] != 3) return HelloStatus::kNotTls;
  if (n >= 5) {
    uint16_t v = load_be16(p + 3);
    if (v != 0x0002 && (v < 0x0300 || v > 0x0304)) return HelloStatus::kNotTls;
  }
  if (n < 2) return HelloStatus::kNeedMore;
  size_t len = (static_cast<size_t>(p[0] & 0x7f) << 8) | p[1];
  if (len < 9) return HelloStatus::kNotTls;  // too short to be a hello at all
  if (n < 2 + len) return HelloStatus::kNeedMore;

  ByteReader r(stream.subspan(2, len));
  uint8_t type = 0;
  uint16_t version = 0, cipher_len = 0, session_len = 0, challenge_len = 0;
  // Cannot fail: len >= 9 was checked above.
  r.u8(type);
  r.u16(version);
  r.u16(cipher_len);
  r.u16(session_len);
  r.u16(challenge_len);
  info.sslv2 = true;
  info.anomalies.add(Anomaly::kSslv2Hello);
  info.record_version = 0x0002;
  info.legacy_version = version;
  info.versions[0] = version;
  info.version_count = 1;
  if (cipher_len == 0 || cipher_len % 3 != 0 || session_len > 32 || challenge_len < 16 ||
      challenge_len > 32 || size_t{cipher_len} + session_len + challenge_len != r.remaining()) {
    return malformed(info);
  }
  if (n > 2 + len) info.anomalies.add(Anomaly::kHelloAfterData);  // nothing may follow it
  return HelloStatus::kComplete;
}

}  // namespace

HelloStatus parse_client_hello(ByteSpan stream, MutableByteSpan scratch, ClientHelloInfo& info,
                               Ja4Cache* ja4_cache) {
  info = ClientHelloInfo{};
  if (stream.empty()) return HelloStatus::kNeedMore;
  if (stream[0] & 0x80) return parse_sslv2_hello(stream, info);

  Framing f;
  HelloStatus framed = frame_hello(stream, f, info);
  if (framed == HelloStatus::kMalformed) return f.classic_start ? malformed(info) : HelloStatus::kNotTls;
  if (framed != HelloStatus::kComplete) return framed;

  ByteSpan message;
  if (f.in_place) {
    message = stream.subspan(f.offset, f.message_length);
  } else {
    // Cannot happen while scratch is as large as the first-flight cap (the message is shorter
    // than the stream); with a smaller scratch the hello stays unjudged until the caller's cap.
    if (f.message_length > scratch.size()) return HelloStatus::kNeedMore;
    gather_message(stream, f, scratch.data());
    message = ByteSpan(scratch.data(), f.message_length);
  }

  if (!parse_hello_body(message.subspan(kHandshakeHeader), 't', info, ja4_cache))
    return malformed(info);

  // Handshake bytes after the hello in its record, or bytes after it that are not records.
  if (f.spare > 0 || !looks_like_records(stream.subspan(f.end))) {
    info.anomalies.add(Anomaly::kHelloAfterData);
  }
  return HelloStatus::kComplete;
}

HelloStatus parse_quic_client_hello(ByteSpan crypto_stream, ClientHelloInfo& info,
                                    Ja4Cache* ja4_cache) {
  info = ClientHelloInfo{};
  if (crypto_stream.empty()) return HelloStatus::kNeedMore;
  if (crypto_stream[0] != kHandshakeClientHello) return malformed(info);
  if (crypto_stream.size() < kHandshakeHeader) return HelloStatus::kNeedMore;
  const size_t message_length = kHandshakeHeader + load_be24(crypto_stream.data() + 1);
  if (crypto_stream.size() < message_length) return HelloStatus::kNeedMore;
  if (!parse_hello_body(crypto_stream.subspan(kHandshakeHeader, message_length - kHandshakeHeader),
                        'q', info, ja4_cache))
    return malformed(info);
  // A client sends nothing after its hello in the Initial CRYPTO stream.
  if (crypto_stream.size() > message_length) info.anomalies.add(Anomaly::kHelloAfterData);
  return HelloStatus::kComplete;
}

std::string_view tls_version_name(uint16_t version, std::array<char, 8>& buf) {
  switch (version) {
    case 0x0304: return "TLSv1.3";
    case 0x0303: return "TLSv1.2";
    case 0x0302: return "TLSv1.1";
    case 0x0301: return "TLSv1.0";
    case 0x0300: return "SSLv3";
    case 0x0002: return "SSLv2";
    default: break;
  }
  constexpr char kHex[] = "0123456789abcdef";
  buf = {'0', 'x', kHex[(version >> 12) & 0xf], kHex[(version >> 8) & 0xf],
         kHex[(version >> 4) & 0xf], kHex[version & 0xf], '\0', '\0'};
  return {buf.data(), 6};
}

}  // namespace sluice
