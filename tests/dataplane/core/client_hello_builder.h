// Builds TLS ClientHellos for tests: handshake messages, record-wrapped first flights (split into
// records of chosen sizes), and SSLv2-compatible hellos. Test-only code: it allocates freely.
//
// Typical use:
//   HelloSpec spec;                       // a TLS 1.3 hello for "example.com", no ALPN
//   spec.sni = "www.Example.com.";
//   spec.alpn = {"h2", "http/1.1"};
//   auto stream = build_client_hello_records(spec, /*max_record_payload=*/100);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

using Bytes = std::vector<uint8_t>;

// A raw extension: type and body, written as-is (the builder adds the 2+2 byte header).
struct HelloExtension {
  uint16_t type = 0;
  Bytes data;
};

// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa. index is taken modulo 16.
uint16_t grease_value(unsigned index);

struct HelloSpec {
  uint16_t record_version = 0x0301;  // record layer version of every record
  uint16_t legacy_version = 0x0303;  // ClientHello.legacy_version
  std::array<uint8_t, 32> random = {0x11, 0x22, 0x33, 0x44};
  Bytes session_id = Bytes(32, 0xab);
  std::vector<uint16_t> ciphers = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030};
  Bytes compression_methods = {0x00};

  // Standard extensions, written in this order when enabled:
  //   [GREASE] server_name, extended_master_secret, renegotiation_info, supported_groups,
  //   ec_point_formats, session_ticket, ALPN, status_request, signature_algorithms, key_share,
  //   psk_key_exchange_modes, supported_versions, <extra_extensions>, [ECH], [GREASE], [padding]
  std::optional<std::string> sni = "example.com";  // nullopt: no server_name extension
  std::vector<std::string> alpn;                   // empty: no ALPN extension
  std::vector<uint16_t> supported_versions = {0x0304, 0x0303};  // empty: extension omitted
  std::vector<uint16_t> signature_algorithms = {0x0403, 0x0804, 0x0401, 0x0503,
                                                0x0805, 0x0501, 0x0806, 0x0601};
  std::vector<uint16_t> supported_groups = {0x001d, 0x0017, 0x0018};  // empty: omitted
  bool standard_extras = true;  // extended_master_secret, renegotiation_info, ec_point_formats,
                                // session_ticket, status_request, key_share, psk modes
  std::vector<HelloExtension> extra_extensions;
  bool ech = false;     // adds an encrypted_client_hello (0xfe0d) outer extension
  bool grease = false;  // Chrome-style GREASE: a cipher, two extensions, a version and a group
  // If nonzero, a padding extension (21) is added so that the whole handshake message
  // (4-byte header included) is at least this many bytes.
  size_t pad_message_to = 0;
  // No extensions block at all (as SSLv3/early TLS 1.0 clients send); overrides all of the above.
  bool no_extensions = false;
};

// Extension bodies, for tests that build their own extension lists.
Bytes sni_extension_body(const std::vector<std::string>& host_names);
Bytes alpn_extension_body(const std::vector<std::string>& protocols);
Bytes supported_versions_body(const std::vector<uint16_t>& versions);
Bytes u16_values(const std::vector<uint16_t>& values);     // the 2-byte values, big-endian
Bytes u16_list_body(const std::vector<uint16_t>& values);  // 2-byte length + 2-byte values

// The handshake message: type 1, 24-bit length, ClientHello body.
Bytes build_client_hello_message(const HelloSpec& spec);

// Splits `payload` into TLS records of at most max_record_payload bytes each.
Bytes wrap_in_records(const Bytes& payload, uint16_t record_version = 0x0301,
                      size_t max_record_payload = 16384, uint8_t content_type = 22);

// Splits `payload` into records of the given sizes in order; whatever is left after the listed
// sizes goes into one last record. Sizes of 0 make empty records.
Bytes wrap_in_records_sized(const Bytes& payload, const std::vector<size_t>& sizes,
                            uint16_t record_version = 0x0301, uint8_t content_type = 22);

// The first flight as a client sends it: build_client_hello_message() wrapped in records.
Bytes build_client_hello_records(const HelloSpec& spec, size_t max_record_payload = 16384);

// An SSLv2-compatible CLIENT-HELLO (RFC 5246 E.2): 2-byte header with the high bit set,
// msg_type 1, version, cipher specs (3 bytes each), session id, challenge.
struct Sslv2HelloSpec {
  uint16_t version = 0x0301;
  std::vector<uint32_t> cipher_specs = {0x00002f, 0x000035, 0x00000a, 0x010080};
  Bytes session_id;
  Bytes challenge = Bytes(16, 0x5a);
};
Bytes build_sslv2_client_hello(const Sslv2HelloSpec& spec);

}  // namespace sluice
