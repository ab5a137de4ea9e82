// Bounds-checked reading of untrusted bytes. Every parser of packet data goes through
// ByteReader so that a short or lying length field can only ever fail a read, never read
// past the end of the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sluice {

using ByteSpan = std::span<const uint8_t>;
using MutableByteSpan = std::span<uint8_t>;

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t load_be24(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 16) | (static_cast<uint32_t>(p[1]) << 8) | p[2];
}
inline uint32_t load_be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  store_be16(p, static_cast<uint16_t>(v >> 16));
  store_be16(p + 2, static_cast<uint16_t>(v));
}

inline std::string_view as_string_view(ByteSpan bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// Sequential big-endian reader. A failed read leaves the reader unchanged and returns false,
// so callers can check once per field and bail out with their own reason.
class ByteReader {
 public:
  explicit ByteReader(ByteSpan bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }
  ByteSpan rest() const { return bytes_.subspan(pos_); }

  bool u8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = bytes_[pos_++];
    return true;
  }
  bool u16(uint16_t& out) {
    if (remaining() < 2) return false;
    out = load_be16(bytes_.data() + pos_);
    pos_ += 2;
    return true;
  }
  bool u24(uint32_t& out) {
    if (remaining() < 3) return false;
    out = load_be24(bytes_.data() + pos_);
    pos_ += 3;
    return true;
  }
  bool u32(uint32_t& out) {
    if (remaining() < 4) return false;
    out = load_be32(bytes_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool bytes(size_t n, ByteSpan& out) {
    if (remaining() < n) return false;
    out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  // Reads a length-prefixed vector (1, 2 or 3 byte length) as used throughout TLS.
  bool vec8(ByteSpan& out) {
    uint8_t n;
    size_t save = pos_;
    if (!u8(n) || !bytes(n, out)) return (pos_ = save), false;
    return true;
  }
  bool vec16(ByteSpan& out) {
    uint16_t n;
    size_t save = pos_;
    if (!u16(n) || !bytes(n, out)) return (pos_ = save), false;
    return true;
  }
  bool vec24(ByteSpan& out) {
    uint32_t n;
    size_t save = pos_;
    if (!u24(n) || !bytes(n, out)) return (pos_ = save), false;
    return true;
  }

 private:
  ByteSpan bytes_;
  size_t pos_ = 0;
};

}  // namespace sluice
