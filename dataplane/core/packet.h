// L2-L4 parsing of one frame: Ethernet, 802.1Q/802.1ad (QinQ), IPv4 with options, IPv6 with
// extension headers, TCP with options, UDP. Pure function over a byte span: no allocation, no
// state, so it is fuzzed directly (tests/fuzz/packet_fuzz.cc).
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/ip_address.h"
#include "dataplane/core/stats.h"

namespace sluice {

enum TcpFlag : uint8_t {
  kTcpFin = 0x01,
  kTcpSyn = 0x02,
  kTcpRst = 0x04,
  kTcpPsh = 0x08,
  kTcpAck = 0x10,
  kTcpUrg = 0x20,
  kTcpEce = 0x40,
  kTcpCwr = 0x80,
};

struct TcpOptions {
  uint16_t mss = 0;           // 0: absent
  int8_t window_scale = -1;   // -1: absent; otherwise the shift (clamped to 14 as RFC 7323 says)
  bool sack_permitted = false;
  bool has_timestamps = false;
  uint32_t ts_val = 0;
  uint32_t ts_ecr = 0;
  bool fast_open = false;     // TFO option (kind 34, or experimental 254/0xF989) present
  bool fast_open_cookie = false;  // ... and it carries a cookie (not just a cookie request)
  bool signature = false;     // MD5 (19) or TCP-AO (29): a receiver without the key drops it
};

// How far the L4 checksum could be trusted.
enum class ChecksumState : uint8_t {
  kUnchecked,       // validation disabled, or a UDP datagram without a checksum
  kValid,
  kInvalid,
  kOffloadPartial,  // holds only the pseudo-header sum: captured on a host with TX offload
};

struct IpFragmentInfo {
  bool is_fragment = false;
  uint32_t id = 0;           // IPv4: 16-bit id; IPv6: 32-bit Identification
  uint16_t offset = 0;       // in bytes
  bool more_fragments = false;
  uint8_t next_protocol = 0; // protocol carried by the fragmented datagram
};

struct ParsedPacket {
  // L2
  uint8_t vlan_count = 0;
  uint16_t vlan_ids[2] = {0, 0};  // outer first
  // L3
  uint8_t ip_version = 0;  // 4 or 6
  IpAddress src;
  IpAddress dst;
  uint8_t ttl = 0;         // IPv4 TTL or IPv6 hop limit
  uint16_t l3_offset = 0;  // offset of the IP header in the frame
  uint16_t l4_offset = 0;  // offset of the TCP/UDP header in the frame (or reassembled buffer)
  IpFragmentInfo fragment;
  ByteSpan l3_payload;     // for fragments: the fragment's payload (what reassembly stores)
  // L4
  uint8_t l4_protocol = 0;  // 6 TCP, 17 UDP, other values: not parsed further
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t tcp_flags = 0;
  uint16_t window = 0;      // unscaled
  uint16_t urgent_pointer = 0;
  TcpOptions tcp_options;
  ChecksumState l4_checksum = ChecksumState::kUnchecked;
  ByteSpan l4;              // the whole TCP segment / UDP datagram (header and payload)
  ByteSpan payload;         // L4 payload, IP padding removed
};

enum class ParseStatus : uint8_t {
  kOk,          // L4 parsed (TCP or UDP), payload set
  kNotIp,       // ARP, LLDP, ...: counted, forwarded untouched by the bridge
  kOtherL4,     // IP but not TCP/UDP (ICMP, ...)
  kFragment,    // an IP fragment: L3 fields and `fragment` set; hand to IpReassembler
  kMalformed,   // see ParseResult::reason
};

struct ParseResult {
  ParseStatus status = ParseStatus::kMalformed;
  Malformed reason = Malformed::kCount;  // set when status == kMalformed
};

struct ParseOptions {
  bool verify_checksums = true;     // IPv4 header and L4 checksums
  // With false, the L4 checksum is left kUnchecked for the caller to check with
  // check_l4_checksum() only where it matters: most packets of a busy link belong to flows whose
  // first flight is long judged, and summing 1.5 KB for them would be wasted work.
  bool verify_l4_checksums = true;
};

// Classifies the TCP/UDP checksum of a packet parsed with status kOk (its `l4` span).
ChecksumState check_l4_checksum(const ParsedPacket& p);

// Parses an Ethernet frame.
ParseResult parse_frame(ByteSpan frame, const ParseOptions& options, ParsedPacket& out);

// Parses the TCP or UDP header and payload of a datagram rebuilt from IP fragments. L2 and L3
// fields of `out` (addresses, ip_version, l4_protocol) must already be set; they come from the
// fragments, and the checksum is verified over the whole rebuilt datagram.
ParseResult parse_l4(ByteSpan l4, const ParseOptions& options, ParsedPacket& out);

}  // namespace sluice
