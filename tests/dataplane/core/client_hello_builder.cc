#include "tests/dataplane/core/client_hello_builder.h"

#include <algorithm>

namespace sluice {
namespace {

void put8(Bytes& out, uint8_t v) { out.push_back(v); }
void put16(Bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& out, uint32_t v) {
  out.push_back(static_cast<uint8_t>(v >> 16));
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

void put_extension(Bytes& out, uint16_t type, const Bytes& body) {
  put16(out, type);
  put16(out, static_cast<uint16_t>(body.size()));
  append(out, body);
}

Bytes key_share_body(bool grease) {
  Bytes shares;
  if (grease) {  // Chrome sends a one-byte GREASE key share first
    put16(shares, grease_value(3));
    put16(shares, 1);
    put8(shares, 0);
  }
  put16(shares, 0x001d);  // x25519
  put16(shares, 32);
  for (int i = 0; i < 32; ++i) put8(shares, static_cast<uint8_t>(i * 7));
  Bytes body;
  put16(body, static_cast<uint16_t>(shares.size()));
  append(body, shares);
  return body;
}

Bytes ech_outer_body() {
  // ECHClientHello outer: type 0, cipher suite (HKDF-SHA256, AES-128-GCM), config id,
  // enc (32 bytes), payload. The content is opaque to a passive reader.
  Bytes body;
  put8(body, 0);
  put16(body, 0x0001);
  put16(body, 0x0001);
  put8(body, 0x42);
  put16(body, 32);
  body.insert(body.end(), 32, 0xe1);
  put16(body, 144);
  body.insert(body.end(), 144, 0xe2);
  return body;
}

}  // namespace

uint16_t grease_value(unsigned index) {
  uint8_t nibble = static_cast<uint8_t>(index % 16);
  uint8_t byte = static_cast<uint8_t>((nibble << 4) | 0x0a);
  return static_cast<uint16_t>((byte << 8) | byte);
}

Bytes sni_extension_body(const std::vector<std::string>& host_names) {
  Bytes list;
  for (const auto& name : host_names) {
    put8(list, 0);  // host_name
    put16(list, static_cast<uint16_t>(name.size()));
    list.insert(list.end(), name.begin(), name.end());
  }
  Bytes body;
  put16(body, static_cast<uint16_t>(list.size()));
  append(body, list);
  return body;
}

Bytes alpn_extension_body(const std::vector<std::string>& protocols) {
  Bytes list;
  for (const auto& p : protocols) {
    put8(list, static_cast<uint8_t>(p.size()));
    list.insert(list.end(), p.begin(), p.end());
  }
  Bytes body;
  put16(body, static_cast<uint16_t>(list.size()));
  append(body, list);
  return body;
}

Bytes supported_versions_body(const std::vector<uint16_t>& versions) {
  Bytes body;
  put8(body, static_cast<uint8_t>(versions.size() * 2));
  for (uint16_t v : versions) put16(body, v);
  return body;
}

Bytes u16_values(const std::vector<uint16_t>& values) {
  Bytes out;
  for (uint16_t v : values) put16(out, v);
  return out;
}

Bytes u16_list_body(const std::vector<uint16_t>& values) {
  Bytes body;
  put16(body, static_cast<uint16_t>(values.size() * 2));
  const Bytes wire = u16_values(values);
  body.insert(body.end(), wire.begin(), wire.end());
  return body;
}

Bytes build_client_hello_message(const HelloSpec& spec) {
  Bytes body;
  put16(body, spec.legacy_version);
  body.insert(body.end(), spec.random.begin(), spec.random.end());
  put8(body, static_cast<uint8_t>(spec.session_id.size()));
  append(body, spec.session_id);

  std::vector<uint16_t> ciphers = spec.ciphers;
  if (spec.grease) ciphers.insert(ciphers.begin(), grease_value(0));
  put16(body, static_cast<uint16_t>(ciphers.size() * 2));
  for (uint16_t c : ciphers) put16(body, c);

  put8(body, static_cast<uint8_t>(spec.compression_methods.size()));
  append(body, spec.compression_methods);

  if (!spec.no_extensions) {
    Bytes ext;
    if (spec.grease) put_extension(ext, grease_value(1), {});
    if (spec.sni) put_extension(ext, 0x0000, sni_extension_body({*spec.sni}));
    if (spec.standard_extras) {
      put_extension(ext, 0x0017, {});            // extended_master_secret
      put_extension(ext, 0xff01, Bytes{0x00});   // renegotiation_info
    }
    if (!spec.supported_groups.empty()) {
      std::vector<uint16_t> groups = spec.supported_groups;
      if (spec.grease) groups.insert(groups.begin(), grease_value(3));
      put_extension(ext, 0x000a, u16_list_body(groups));
    }
    if (spec.standard_extras) {
      put_extension(ext, 0x000b, Bytes{0x01, 0x00});  // ec_point_formats: uncompressed
      put_extension(ext, 0x0023, {});                 // session_ticket
    }
    if (!spec.alpn.empty()) put_extension(ext, 0x0010, alpn_extension_body(spec.alpn));
    if (spec.standard_extras) put_extension(ext, 0x0005, Bytes{0x01, 0, 0, 0, 0});
    if (!spec.signature_algorithms.empty())
      put_extension(ext, 0x000d, u16_list_body(spec.signature_algorithms));
    if (spec.standard_extras) {
      put_extension(ext, 0x0033, key_share_body(spec.grease));
      put_extension(ext, 0x002d, Bytes{0x01, 0x01});  // psk_key_exchange_modes: psk_dhe_ke
    }
    if (!spec.supported_versions.empty()) {
      std::vector<uint16_t> versions = spec.supported_versions;
      if (spec.grease) versions.insert(versions.begin(), grease_value(5));
      put_extension(ext, 0x002b, supported_versions_body(versions));
    }
    for (const auto& e : spec.extra_extensions) put_extension(ext, e.type, e.data);
    if (spec.ech) put_extension(ext, 0xfe0d, ech_outer_body());
    if (spec.grease) put_extension(ext, grease_value(7), Bytes{0x00});

    // Message so far: 4 header + body + 2 extensions length + extensions.
    size_t size = 4 + body.size() + 2 + ext.size();
    if (spec.pad_message_to > 0 && size < spec.pad_message_to) {
      size_t pad = spec.pad_message_to - size;
      pad = pad > 4 ? pad - 4 : 0;  // the padding extension's own header
      put_extension(ext, 0x0015, Bytes(pad, 0));
    }
    put16(body, static_cast<uint16_t>(ext.size()));
    append(body, ext);
  }

  Bytes msg;
  put8(msg, 1);
  put24(msg, static_cast<uint32_t>(body.size()));
  append(msg, body);
  return msg;
}

Bytes wrap_in_records(const Bytes& payload, uint16_t record_version, size_t max_record_payload,
                      uint8_t content_type) {
  if (max_record_payload == 0) max_record_payload = 1;
  Bytes out;
  size_t pos = 0;
  do {
    size_t n = std::min(max_record_payload, payload.size() - pos);
    put8(out, content_type);
    put16(out, record_version);
    put16(out, static_cast<uint16_t>(n));
    out.insert(out.end(), payload.begin() + pos, payload.begin() + pos + n);
    pos += n;
  } while (pos < payload.size());
  return out;
}

Bytes wrap_in_records_sized(const Bytes& payload, const std::vector<size_t>& sizes,
                            uint16_t record_version, uint8_t content_type) {
  Bytes out;
  size_t pos = 0;
  auto record = [&](size_t n) {
    n = std::min(n, payload.size() - pos);
    put8(out, content_type);
    put16(out, record_version);
    put16(out, static_cast<uint16_t>(n));
    out.insert(out.end(), payload.begin() + pos, payload.begin() + pos + n);
    pos += n;
  };
  for (size_t n : sizes) record(n);
  if (pos < payload.size()) record(payload.size() - pos);
  return out;
}

Bytes build_client_hello_records(const HelloSpec& spec, size_t max_record_payload) {
  return wrap_in_records(build_client_hello_message(spec), spec.record_version,
                         max_record_payload);
}

Bytes build_sslv2_client_hello(const Sslv2HelloSpec& spec) {
  Bytes body;
  put8(body, 1);  // SSL2_MT_CLIENT_HELLO
  put16(body, spec.version);
  put16(body, static_cast<uint16_t>(spec.cipher_specs.size() * 3));
  put16(body, static_cast<uint16_t>(spec.session_id.size()));
  put16(body, static_cast<uint16_t>(spec.challenge.size()));
  for (uint32_t c : spec.cipher_specs) put24(body, c);
  append(body, spec.session_id);
  append(body, spec.challenge);
  Bytes out;
  put16(out, static_cast<uint16_t>(0x8000 | body.size()));
  append(out, body);
  return out;
}

}  // namespace sluice
