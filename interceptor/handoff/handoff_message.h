// The handoff message: what the dataplane tells the interceptor about a TCP connection it hands
// over after the ClientHello (docs/design.md, "Interception handoff"), and the interceptor's
// heartbeat back. One UDP datagram each, sent through the TAP into the appliance namespace.
//
// Wire format (big-endian, version 1):
//   0  magic "SLHO" | 4 version (1) | 5 type (1 handoff, 2 heartbeat) | 6 header length (u16)
//   8  total length (u32)
//   handoff only, from offset 12:
//   12 family (4 or 6) | 13 flags (bit 0 SACK permitted, bit 1 timestamps: on both SYNs)
//   14 client window scale (i8, -1 none) | 15 server window scale (i8, -1 none)
//   16 client address (16 bytes; IPv4 as ::ffff:a.b.c.d) | 32 server address (16 bytes)
//   48 client port | 50 server port | 52 client ISN | 56 server ISN | 60 client MSS (u16)
//   62 reserved (u16, 0) | 64 server TSval (latest) | 68 client TSval (latest)
//   72 client window (scaled) | 76 server window (scaled) | 80 flow id (u64)
//   88 ClientHello bytes (total length - header length), at most kMaxHelloBytes
// A decoder takes any header length >= its own (later versions append fields) and refuses
// anything shorter, longer than the datagram, or of another major version.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::handoff {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kPrefixBytes = 12;
inline constexpr size_t kHandoffHeaderBytes = 88;
// The dataplane's first-flight byte cap is at most 64 KiB; a datagram carries what fits.
inline constexpr size_t kMaxHelloBytes = 65535 - 28 - kHandoffHeaderBytes;
inline constexpr size_t kMaxMessageBytes = kHandoffHeaderBytes + kMaxHelloBytes;

enum class MessageType : uint8_t { kHandoff = 1, kHeartbeat = 2 };

struct Address {
  std::array<uint8_t, 16> bytes{};  // IPv4 as ::ffff:a.b.c.d
  uint16_t port = 0;
  bool is_v4() const;
};

// Everything adoption needs, as the dataplane saw it on both SYNs and the segments after them.
// `hello` views the held bytes (owned by whoever decoded or built the message).
struct Handoff {
  Address client;
  Address server;
  uint32_t client_isn = 0;
  uint32_t server_isn = 0;
  uint16_t client_mss = 0;      // 0: the client's SYN carried none
  int8_t client_wscale = -1;    // -1: no window scaling (unless both SYNs carried it)
  int8_t server_wscale = -1;
  bool sack_permitted = false;  // both SYNs
  bool timestamps = false;      // both SYNs
  uint32_t server_tsval = 0;    // the server's latest TSval
  uint32_t client_tsval = 0;    // the client's latest TSval
  uint32_t client_window = 0;   // scaled: bytes the client will accept
  uint32_t server_window = 0;   // scaled: what the server last offered the client
  uint64_t flow_id = 0;
  std::span<const uint8_t> hello;
};

// Writes a handoff message into `out`; returns its length, or 0 when it does not fit or the
// hello is longer than kMaxHelloBytes. No allocation: the dataplane calls it on its packet path.
size_t encode_handoff(const Handoff& h, uint8_t* out, size_t capacity);

// Writes a heartbeat (the 12-byte prefix alone); returns its length, or 0 when it does not fit.
size_t encode_heartbeat(uint8_t* out, size_t capacity);

// The type of a well-formed message, or an error saying what is wrong with it.
absl::StatusOr<MessageType> message_type(std::span<const uint8_t> datagram);

// Decodes a handoff message; `hello` views `datagram`.
absl::StatusOr<Handoff> decode_handoff(std::span<const uint8_t> datagram);

}  // namespace sluice::handoff
