#include "tests/dataplane/core/quic_initial_builder.h"

#include <openssl/evp.h>

#include <cstring>
#include <stdexcept>

#include "dataplane/core/bytes.h"
#include "dataplane/core/quic_initial_crypto.h"

namespace sluice::test {

Bytes quic_varint(uint64_t v) {
  if (v < 64) return {static_cast<uint8_t>(v)};
  if (v < 16384) return {static_cast<uint8_t>(0x40 | (v >> 8)), static_cast<uint8_t>(v)};
  if (v < (uint64_t{1} << 30)) {
    return {static_cast<uint8_t>(0x80 | (v >> 24)), static_cast<uint8_t>(v >> 16),
            static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  }
  Bytes out(8);
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<uint8_t>(v);
  out[0] |= 0xc0;
  return out;
}

namespace {
void append(Bytes& out, const Bytes& in) { out.insert(out.end(), in.begin(), in.end()); }
}  // namespace

Bytes quic_crypto_frame(uint64_t offset, const Bytes& data) {
  Bytes out = {0x06};
  append(out, quic_varint(offset));
  append(out, quic_varint(data.size()));
  append(out, data);
  return out;
}

Bytes quic_padding(size_t n) { return Bytes(n, 0); }
Bytes quic_ping() { return {0x01}; }
Bytes quic_ack(uint64_t largest) {
  Bytes out = {0x02};
  append(out, quic_varint(largest));
  append(out, quic_varint(0));  // delay
  append(out, quic_varint(0));  // range count
  append(out, quic_varint(0));  // first range
  return out;
}
Bytes quic_frame_of_type(uint64_t type) { return quic_varint(type); }

Bytes build_quic_initial(const QuicInitialSpec& spec) {
  const QuicVersionInfo* info = quic_version_info(spec.version);
  if (info == nullptr) throw std::runtime_error("build_quic_initial: unknown version");
  QuicInitialCrypto crypto;
  QuicInitialKeys keys;
  const Bytes& key_dcid = spec.key_dcid.empty() ? spec.dcid : spec.key_dcid;
  if (!crypto.derive_client_keys(*info, key_dcid, keys))
    throw std::runtime_error("build_quic_initial: key derivation failed");

  const size_t pn_length = (spec.first_byte_low_bits & 0x03) + 1;
  Bytes header = {static_cast<uint8_t>(0xc0 | (quic_long_type_bits(*info, QuicPacketType::kInitial)
                                               << 4) |
                                       (spec.first_byte_low_bits & 0x0f))};
  header.resize(5);
  store_be32(header.data() + 1, spec.version);
  header.push_back(static_cast<uint8_t>(spec.dcid.size()));
  append(header, spec.dcid);
  header.push_back(static_cast<uint8_t>(spec.scid.size()));
  append(header, spec.scid);
  append(header, quic_varint(spec.token.size()));
  append(header, spec.token);

  Bytes plain = spec.frames;
  // Length field: 2-byte varint (values up to 16383), as clients write it.
  auto packet_size = [&] { return header.size() + 2 + pn_length + plain.size() + 16; };
  if (packet_size() < spec.pad_packet_to) plain.resize(plain.size() + spec.pad_packet_to - packet_size(), 0);
  // The sample must exist: 4 + 16 bytes after the packet number starts.
  if (pn_length + plain.size() < 4) plain.resize(4 - pn_length, 0);
  const uint64_t length = pn_length + plain.size() + 16;
  header.push_back(static_cast<uint8_t>(0x40 | (length >> 8)));
  header.push_back(static_cast<uint8_t>(length));
  const size_t pn_offset = header.size();
  for (size_t i = 0; i < pn_length; ++i)
    header.push_back(static_cast<uint8_t>(spec.packet_number >> (8 * (pn_length - 1 - i))));

  uint8_t nonce[12];
  std::memcpy(nonce, keys.iv, 12);
  for (size_t i = 0; i < 4; ++i) nonce[11 - i] ^= static_cast<uint8_t>(spec.packet_number >> (8 * i));
  Bytes cipher(plain.size() + 16);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int n = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, keys.key, nonce) == 1 &&
            EVP_EncryptUpdate(ctx, nullptr, &n, header.data(), static_cast<int>(header.size())) == 1 &&
            EVP_EncryptUpdate(ctx, cipher.data(), &n, plain.data(), static_cast<int>(plain.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx, cipher.data() + n, &n) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, cipher.data() + plain.size()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!ok) throw std::runtime_error("build_quic_initial: sealing failed");

  Bytes packet = header;
  append(packet, cipher);
  uint8_t mask[5];
  if (!crypto.header_mask(keys.hp, packet.data() + pn_offset + 4, mask))
    throw std::runtime_error("build_quic_initial: header mask failed");
  packet[0] ^= mask[0] & 0x0f;
  for (size_t i = 0; i < pn_length; ++i) packet[pn_offset + i] ^= mask[1 + i];
  return packet;
}

Bytes build_quic_long_packet(uint32_t version, QuicPacketType type, const Bytes& dcid,
                             size_t payload_length) {
  const QuicVersionInfo* info = quic_version_info(version);
  Bytes out = {static_cast<uint8_t>(0xc0 | (quic_long_type_bits(*info, type) << 4) | 0x03)};
  out.resize(5);
  store_be32(out.data() + 1, version);
  out.push_back(static_cast<uint8_t>(dcid.size()));
  append(out, dcid);
  out.push_back(0);  // no SCID
  append(out, quic_varint(payload_length));
  for (size_t i = 0; i < payload_length; ++i) out.push_back(static_cast<uint8_t>(i * 37 + 11));
  return out;
}

Bytes quic_client_hello(const std::string& sni, const std::vector<std::string>& alpn,
                        size_t pad_message_to) {
  HelloSpec spec;
  spec.sni = sni;
  spec.alpn = alpn;
  spec.supported_versions = {0x0304};
  spec.session_id.clear();  // QUIC clients send an empty legacy_session_id
  spec.ciphers = {0x1301, 0x1302, 0x1303};
  spec.extra_extensions.push_back({0x0039, Bytes{0x01, 0x04, 0x80, 0x00, 0x75, 0x30}});
  spec.pad_message_to = pad_message_to;
  return build_client_hello_message(spec);
}

std::vector<Bytes> quic_crypto_frames(const Bytes& stream, size_t chunk) {
  std::vector<Bytes> frames;
  for (size_t off = 0; off < stream.size(); off += chunk) {
    const size_t n = std::min(chunk, stream.size() - off);
    frames.push_back(quic_crypto_frame(off, Bytes(stream.begin() + off, stream.begin() + off + n)));
  }
  return frames;
}

Bytes from_hex(const std::string& hex) {
  Bytes out;
  int high = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

}  // namespace sluice::test
