#include "tests/dataplane/core/packet_builder.h"

#include <arpa/inet.h>

#include <cstdlib>

namespace sluice::test {
namespace {

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
void set16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

// Unfolded 32-bit one's-complement accumulation; fold() finishes it.
uint32_t sum_bytes(std::span<const uint8_t> bytes, uint32_t sum = 0) {
  size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += static_cast<uint32_t>((bytes[i] << 8) | bytes[i + 1]);
  if (i < bytes.size()) sum += static_cast<uint32_t>(bytes[i] << 8);
  return sum;
}
uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

struct Addrs {
  Bytes src;
  Bytes dst;
};

Bytes parse_ip(const std::string& text, bool v6) {
  Bytes out(v6 ? 16 : 4);
  if (inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), out.data()) != 1) std::abort();
  return out;
}

Addrs addresses(const FrameSpec& f) {
  std::string src = f.src_ip.empty() ? (f.ipv6 ? "2001:db8::1" : "192.0.2.1") : f.src_ip;
  std::string dst = f.dst_ip.empty() ? (f.ipv6 ? "2001:db8::2" : "198.51.100.2") : f.dst_ip;
  return {parse_ip(src, f.ipv6), parse_ip(dst, f.ipv6)};
}

// Folded pseudo-header sum (not complemented) for an L4 datagram of `l4_length` bytes.
uint16_t pseudo_sum(const FrameSpec& f, uint8_t protocol, size_t l4_length) {
  Addrs a = addresses(f);
  uint32_t sum = sum_bytes(a.src);
  sum = sum_bytes(a.dst, sum);
  sum += protocol;
  sum += static_cast<uint32_t>(l4_length & 0xffff) + static_cast<uint32_t>(l4_length >> 16);
  return fold(sum);
}

// Writes the L4 checksum at `at` according to f.l4_checksum.
void finish_l4_checksum(const FrameSpec& f, uint8_t protocol, Bytes& l4, size_t at) {
  set16(l4, at, 0);
  uint16_t pseudo = pseudo_sum(f, protocol, l4.size());
  uint16_t correct = static_cast<uint16_t>(~fold(sum_bytes(l4, pseudo)));
  if (protocol == kProtoUdp && correct == 0) correct = 0xffff;  // 0 means "none" for UDP
  uint16_t value = correct;
  switch (f.l4_checksum) {
    case L4Checksum::kCorrect:
      break;
    case L4Checksum::kCorrupt:
      value = static_cast<uint16_t>(correct ^ 0x0100);
      break;
    case L4Checksum::kOffloadPartial:
      value = pseudo;
      break;
    case L4Checksum::kOffloadPartialInverted:
      value = static_cast<uint16_t>(~pseudo);
      break;
    case L4Checksum::kZero:
      value = 0;
      break;
  }
  set16(l4, at, value);
}

void append_l2(const FrameSpec& f, Bytes& b) {
  b.insert(b.end(), f.dst_mac.begin(), f.dst_mac.end());
  b.insert(b.end(), f.src_mac.begin(), f.src_mac.end());
  for (size_t i = 0; i < f.vlans.size(); ++i) {
    uint16_t tpid = 0x8100;
    if (i < f.vlan_tpids.size()) {
      tpid = f.vlan_tpids[i];
    } else if (f.vlans.size() > 1 && i == 0) {
      tpid = 0x88a8;
    }
    put16(b, tpid);
    put16(b, f.vlans[i]);
  }
  put16(b, f.ipv6 ? 0x86dd : 0x0800);
}

Bytes padded_ipv4_options(const FrameSpec& f) {
  Bytes opts = f.ipv4_options;
  while (opts.size() % 4 != 0) opts.push_back(0);
  return opts;
}

// IPv4 header for a payload of `payload_len` bytes; `frag_field` is flags + offset.
void append_ipv4(const FrameSpec& f, uint8_t protocol, size_t payload_len, uint16_t frag_field,
                 Bytes& b) {
  Bytes opts = padded_ipv4_options(f);
  size_t start = b.size();
  size_t ihl = (20 + opts.size()) / 4;
  b.push_back(static_cast<uint8_t>(0x40 | ihl));
  b.push_back(0);  // DSCP/ECN
  put16(b, static_cast<uint16_t>(ihl * 4 + payload_len));
  put16(b, f.ipv4_id);
  put16(b, frag_field);
  b.push_back(f.ttl);
  b.push_back(protocol);
  put16(b, 0);
  Addrs a = addresses(f);
  b.insert(b.end(), a.src.begin(), a.src.end());
  b.insert(b.end(), a.dst.begin(), a.dst.end());
  b.insert(b.end(), opts.begin(), opts.end());
  uint16_t csum = internet_checksum(std::span<const uint8_t>(b).subspan(start, ihl * 4));
  if (f.corrupt_ipv4_checksum) csum ^= 0x0001;
  set16(b, start + 10, csum);
}

// One extension header with its Next Header set to `next`.
Bytes ipv6_ext_bytes(const Ipv6Ext& e, uint8_t next) {
  Bytes h = {next, 0};
  h.insert(h.end(), e.body.begin(), e.body.end());
  if (e.type == 44) return h;  // fixed 8 bytes; the body is taken as given
  while (h.size() % 8 != 0) h.push_back(0);
  if (e.type == 51) {
    h[1] = static_cast<uint8_t>(h.size() / 4 - 2);  // AH counts 4-octet units minus 2
  } else {
    h[1] = static_cast<uint8_t>(h.size() / 8 - 1);
  }
  return h;
}

// IPv6 header plus `f.ipv6_ext` plus `extra` (e.g. a fragment header), then `protocol`.
void append_ipv6(const FrameSpec& f, uint8_t protocol, size_t payload_len, const Bytes& extra,
                 uint8_t extra_type, Bytes& b) {
  Bytes chain;
  for (size_t i = 0; i < f.ipv6_ext.size(); ++i) {
    uint8_t next = i + 1 < f.ipv6_ext.size() ? f.ipv6_ext[i + 1].type
                                              : (extra.empty() ? protocol : extra_type);
    Bytes h = ipv6_ext_bytes(f.ipv6_ext[i], next);
    chain.insert(chain.end(), h.begin(), h.end());
  }
  chain.insert(chain.end(), extra.begin(), extra.end());
  uint8_t first = !f.ipv6_ext.empty() ? f.ipv6_ext[0].type
                                       : (extra.empty() ? protocol : extra_type);
  put32(b, 0x60000000);
  put16(b, static_cast<uint16_t>(chain.size() + payload_len));
  b.push_back(first);
  b.push_back(f.ttl);
  Addrs a = addresses(f);
  b.insert(b.end(), a.src.begin(), a.src.end());
  b.insert(b.end(), a.dst.begin(), a.dst.end());
  b.insert(b.end(), chain.begin(), chain.end());
}

Bytes tcp_options_bytes(const TcpOptionsSpec& o) {
  Bytes b;
  if (o.mss) {
    b.insert(b.end(), {2, 4});
    put16(b, *o.mss);
  }
  if (o.window_scale) b.insert(b.end(), {1, 3, 3, *o.window_scale});
  if (o.sack_permitted) b.insert(b.end(), {1, 1, 4, 2});
  if (o.timestamps) {
    b.insert(b.end(), {1, 1, 8, 10});
    put32(b, o.timestamps->first);
    put32(b, o.timestamps->second);
  }
  if (o.fast_open_cookie) {
    const Bytes& cookie = *o.fast_open_cookie;
    if (o.fast_open_experimental) {
      b.insert(b.end(), {254, static_cast<uint8_t>(4 + cookie.size()), 0xf9, 0x89});
    } else {
      b.insert(b.end(), {34, static_cast<uint8_t>(2 + cookie.size())});
    }
    b.insert(b.end(), cookie.begin(), cookie.end());
  }
  b.insert(b.end(), o.raw.begin(), o.raw.end());
  while (b.size() % 4 != 0) b.push_back(0);
  return b;
}

Bytes finish_frame(const FrameSpec& f, Bytes b) {
  b.insert(b.end(), f.ethernet_padding, 0);
  return b;
}

}  // namespace

uint16_t internet_checksum(std::span<const uint8_t> bytes) {
  return static_cast<uint16_t>(~fold(sum_bytes(bytes)));
}

size_t l3_offset(const FrameSpec& frame) { return 14 + 4 * frame.vlans.size(); }

size_t l3_header_length(const FrameSpec& frame) {
  if (!frame.ipv6) return 20 + padded_ipv4_options(frame).size();
  size_t n = 40;
  for (const Ipv6Ext& e : frame.ipv6_ext) n += ipv6_ext_bytes(e, 0).size();
  return n;
}

Bytes build_tcp_segment(const TcpSpec& s) {
  Bytes opts = tcp_options_bytes(s.options);
  Bytes b;
  put16(b, s.src_port);
  put16(b, s.dst_port);
  put32(b, s.seq);
  put32(b, s.ack);
  b.push_back(static_cast<uint8_t>(((20 + opts.size()) / 4) << 4));
  b.push_back(s.flags);
  put16(b, s.window);
  put16(b, 0);  // checksum, below
  put16(b, s.urgent_pointer);
  b.insert(b.end(), opts.begin(), opts.end());
  b.insert(b.end(), s.payload.begin(), s.payload.end());
  finish_l4_checksum(s.frame, kProtoTcp, b, 16);
  return b;
}

Bytes build_udp_datagram(const UdpSpec& s) {
  Bytes b;
  put16(b, s.src_port);
  put16(b, s.dst_port);
  put16(b, s.length_override.value_or(static_cast<uint16_t>(8 + s.payload.size())));
  put16(b, 0);
  b.insert(b.end(), s.payload.begin(), s.payload.end());
  finish_l4_checksum(s.frame, kProtoUdp, b, 6);
  return b;
}

Bytes build_ip_frame(const FrameSpec& f, uint8_t protocol, std::span<const uint8_t> l4) {
  Bytes b;
  append_l2(f, b);
  if (f.ipv6) {
    append_ipv6(f, protocol, l4.size(), {}, 0, b);
  } else {
    append_ipv4(f, protocol, l4.size(), f.dont_fragment ? 0x4000 : 0, b);
  }
  b.insert(b.end(), l4.begin(), l4.end());
  return finish_frame(f, std::move(b));
}

Bytes build_tcp_frame(const TcpSpec& spec) {
  return build_ip_frame(spec.frame, kProtoTcp, build_tcp_segment(spec));
}

Bytes build_udp_frame(const UdpSpec& spec) {
  return build_ip_frame(spec.frame, kProtoUdp, build_udp_datagram(spec));
}

Bytes build_ipv4_fragment(const FrameSpec& f, uint8_t protocol, std::span<const uint8_t> data,
                          uint32_t offset, bool more_fragments) {
  Bytes b;
  append_l2(f, b);
  uint16_t field = static_cast<uint16_t>((offset / 8) & 0x1fff);
  if (more_fragments) field |= 0x2000;
  append_ipv4(f, protocol, data.size(), field, b);
  b.insert(b.end(), data.begin(), data.end());
  return finish_frame(f, std::move(b));
}

Bytes build_ipv6_fragment(const FrameSpec& f, uint8_t protocol, std::span<const uint8_t> data,
                          uint32_t offset, bool more_fragments, uint32_t id) {
  Bytes frag = {protocol, 0};
  put16(frag, static_cast<uint16_t>((offset & ~7u) | (more_fragments ? 1 : 0)));
  put32(frag, id);
  Bytes b;
  append_l2(f, b);
  append_ipv6(f, protocol, data.size(), frag, 44, b);
  b.insert(b.end(), data.begin(), data.end());
  return finish_frame(f, std::move(b));
}

namespace {

template <typename MakeFragment>
std::vector<Bytes> split(std::span<const uint8_t> l4, size_t chunk, size_t overlap,
                         bool corrupt_overlap, MakeFragment make) {
  chunk = chunk < 8 ? 8 : chunk & ~size_t{7};
  overlap &= ~size_t{7};
  std::vector<Bytes> out;
  for (size_t start = 0; start < l4.size(); start += chunk) {
    size_t from = start >= overlap && start > 0 ? start - overlap : start;
    size_t end = start + chunk < l4.size() ? start + chunk : l4.size();
    Bytes data(l4.begin() + static_cast<std::ptrdiff_t>(from),
               l4.begin() + static_cast<std::ptrdiff_t>(end));
    if (corrupt_overlap && from < start) data[0] ^= 0xff;
    out.push_back(make(std::span<const uint8_t>(data), static_cast<uint32_t>(from),
                       end < l4.size()));
  }
  return out;
}

}  // namespace

std::vector<Bytes> fragment_ipv4(const FrameSpec& frame, uint8_t protocol,
                                 std::span<const uint8_t> l4, size_t chunk, size_t overlap,
                                 bool corrupt_overlap) {
  return split(l4, chunk, overlap, corrupt_overlap,
               [&](std::span<const uint8_t> data, uint32_t offset, bool more) {
                 return build_ipv4_fragment(frame, protocol, data, offset, more);
               });
}

std::vector<Bytes> fragment_ipv6(const FrameSpec& frame, uint8_t protocol,
                                 std::span<const uint8_t> l4, size_t chunk, uint32_t id,
                                 size_t overlap, bool corrupt_overlap) {
  return split(l4, chunk, overlap, corrupt_overlap,
               [&](std::span<const uint8_t> data, uint32_t offset, bool more) {
                 return build_ipv6_fragment(frame, protocol, data, offset, more, id);
               });
}

Bytes from_hex(std::string_view hex) {
  Bytes out;
  int high = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else if (c == ' ' || c == '\n' || c == '\t' || c == ':') {
      continue;
    } else {
      std::abort();
    }
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) std::abort();
  return out;
}

}  // namespace sluice::test
