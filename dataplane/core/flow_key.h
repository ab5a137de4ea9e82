// The identity of a flow, the same for both directions: endpoints are stored in a canonical
// order so a packet and its reply find the same entry, and the hash is symmetric so both
// directions can be dispatched to the same worker without RSS.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/core/ip_address.h"

namespace sluice {

struct Endpoint {
  IpAddress ip;
  uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

struct FlowKey {
  Endpoint lo;  // the smaller endpoint
  Endpoint hi;
  uint16_t vlan = 0;  // innermost VLAN id: the same 5-tuple on two VLANs is two flows
  uint8_t protocol = 0;

  // Builds the key of a packet from src to dst; `src_is_lo` says which side src became.
  static FlowKey make(const Endpoint& src, const Endpoint& dst, uint8_t protocol, uint16_t vlan,
                      bool& src_is_lo) {
    FlowKey k;
    assign(k, src.ip, src.port, dst.ip, dst.port, protocol, vlan, src_is_lo);
    return k;
  }

  // The same, in place and by whole words: every packet runs this, and a key assembled from
  // narrow stores and then read back as words (by the hash, by a copy) stalls on each read.
  static void assign(FlowKey& k, const IpAddress& src, uint16_t src_port, const IpAddress& dst,
                     uint16_t dst_port, uint8_t protocol, uint16_t vlan, bool& src_is_lo) {
    uint64_t s[2], d[2];
    std::memcpy(s, src.bytes.data(), 16);
    std::memcpy(d, dst.bytes.data(), 16);
    // Any fixed total order makes keys canonical; native 64-bit words are the cheapest to compare.
    const bool dst_less = d[0] != s[0] ? d[0] < s[0] : d[1] != s[1] ? d[1] < s[1] : dst_port < src_port;
    src_is_lo = !dst_less;
    const uint64_t lo[2] = {src_is_lo ? s[0] : d[0], src_is_lo ? s[1] : d[1]};
    const uint64_t hi[2] = {src_is_lo ? d[0] : s[0], src_is_lo ? d[1] : s[1]};
    std::memcpy(k.lo.ip.bytes.data(), lo, 16);
    std::memcpy(k.hi.ip.bytes.data(), hi, 16);
    k.lo.port = src_is_lo ? src_port : dst_port;
    k.hi.port = src_is_lo ? dst_port : src_port;
    k.vlan = vlan;
    k.protocol = protocol;
  }

  // Compared as 64-bit words: this runs for every packet, and the defaulted comparison goes
  // through memcmp per array.
  friend bool operator==(const FlowKey& a, const FlowKey& b) {
    uint64_t x[4], y[4];
    std::memcpy(x, a.lo.ip.bytes.data(), 16);
    std::memcpy(x + 2, a.hi.ip.bytes.data(), 16);
    std::memcpy(y, b.lo.ip.bytes.data(), 16);
    std::memcpy(y + 2, b.hi.ip.bytes.data(), 16);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0 &&
           a.lo.port == b.lo.port && a.hi.port == b.hi.port && a.vlan == b.vlan &&
           a.protocol == b.protocol;
  }
};

// Symmetric by construction (the key is canonical). Keyed by a per-process random seed so that
// nobody can compute, offline, 5-tuples that share a bucket. Every packet pays for it, so the
// key's five words are mixed by three independent 64x64->128-bit multiplies (which run side by
// side, not one after another) and one more to spread the result over all 64 bits.
// The 64x64->128 multiply folded to 64 bits: the mixing step of the keyed hashes here and of
// the QUIC DCID tags (flow_inspector.cc).
inline uint64_t mum(uint64_t a, uint64_t b) {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t hash_flow_key(const FlowKey& k, uint64_t seed = 0) {
  uint64_t w[4];
  std::memcpy(w, k.lo.ip.bytes.data(), 16);
  std::memcpy(w + 2, k.hi.ip.bytes.data(), 16);
  const uint64_t rest = (uint64_t{k.vlan} << 48) | (uint64_t{k.lo.port} << 32) |
                        (uint64_t{k.hi.port} << 16) | k.protocol;
  const uint64_t s = seed ^ 0x243f6a8885a308d3ULL;
  const uint64_t h = mum(w[0] ^ (s + 0xa0761d6478bd642fULL), w[1] ^ (s + 0xe7037ed1a0b428dbULL)) ^
                     mum(w[2] ^ (s + 0x8ebc6af09c88c6e3ULL), w[3] ^ (s + 0x589965cc75374cc3ULL)) ^
                     mum(rest ^ (s + 0x1d8e4e27c47d124fULL), (s ^ 0x9e3779b97f4a7c15ULL) | 1);
  return mum(h ^ 0xff51afd7ed558ccdULL, (s + 0xc4ceb9fe1a85ec53ULL) | 1);  // odd: never zero
}

}  // namespace sluice
