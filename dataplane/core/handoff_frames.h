// The handoff datagram on the wire: one UDP/IPv4 datagram from the dataplane's end of the
// channel (intercept.handoff.source) to the appliance address, cut into IPv4 fragments that fit
// the TAP's 1500-byte MTU, so the appliance kernel reassembles it and the interceptor reads one
// message per recv(). Built on the packet path: no allocation, the caller's buffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/verdict.h"

namespace sluice {

// Everything a worker needs to hand flows to the interceptor (from the `intercept` section and
// the opened TAP port). Disabled by default.
struct InterceptPath {
  bool enabled = false;
  uint16_t tap_port = UINT16_MAX;           // frames from it are the appliance's
  std::array<uint8_t, 6> tap_mac{};         // destination of every frame into the TAP
  std::array<uint8_t, 6> source_mac{0x02, 0, 0, 0x4d, 0, 0x01};  // the dataplane's end
  std::array<uint8_t, 4> appliance_ip{};    // where handoffs go (the interceptor listens)
  std::array<uint8_t, 4> source_ip{};       // where they come from, and heartbeats go
  // The appliance's IPv6 address (intercept.address6): without it IPv6 flows are not handed
  // over (the appliance namespace has no IPv6 way back to their clients).
  bool ipv6 = false;
  std::array<uint8_t, 16> appliance_ip6{};
  uint16_t port = 7301;
  Verdict fallback = Verdict::kPass;        // when a flow cannot be handed over
};

inline constexpr size_t kEthernetHeader = 14;
inline constexpr size_t kTapMtu = 1500;
inline constexpr size_t kMaxHandoffFrame = kEthernetHeader + kTapMtu;

// Calls emit(ByteSpan frame) -> bool for each fragment of the datagram carrying `message`, in
// order; `frame` is valid during the call. Returns how many were emitted, or 0 when the message
// is too long for one datagram or emit refused one (the datagram is then incomplete and the
// kernel drops what it got after its reassembly timeout).
template <typename Emit>
uint16_t emit_handoff_frames(const InterceptPath& path, uint16_t ip_id, ByteSpan message,
                             Emit&& emit);

// Writes fragment `offset` (bytes into the IP payload) of the datagram; returns the frame length.
// Helper of emit_handoff_frames.
size_t build_handoff_fragment(const InterceptPath& path, uint16_t ip_id, ByteSpan message,
                              size_t offset, uint16_t udp_checksum, uint8_t* out);
// The UDP checksum of the whole datagram (pseudo-header, header, message).
uint16_t handoff_udp_checksum(const InterceptPath& path, ByteSpan message);

inline constexpr size_t kMaxFragmentPayload = (kTapMtu - 20) & ~size_t{7};  // 1480

template <typename Emit>
uint16_t emit_handoff_frames(const InterceptPath& path, uint16_t ip_id, ByteSpan message,
                             Emit&& emit) {
  const size_t ip_payload = 8 + message.size();
  if (ip_payload > 65535 - 20) return 0;
  const uint16_t checksum = handoff_udp_checksum(path, message);
  uint8_t frame[kMaxHandoffFrame];
  uint16_t count = 0;
  for (size_t offset = 0; offset < ip_payload; offset += kMaxFragmentPayload) {
    const size_t n = build_handoff_fragment(path, ip_id, message, offset, checksum, frame);
    if (!emit(ByteSpan(frame, n))) return 0;
    ++count;
  }
  return count;
}

}  // namespace sluice
