// How a worker carries out verdicts, without DPDK: the inspector decides, the worker loop moves
// the frames. Frames are opaque handles here (an rte_mbuf* in the worker), so the first-flight
// core stays testable on byte spans.
//
// - Audit only (replay): every frame is forwarded as it comes; verdicts are only recorded.
// - Inline (a bridge): a client's first-flight segments are held until the flow is judged. Pass
//   releases them in arrival order; block discards them, resets both ends (optionally after a
//   TLS alert to the client) and drops every later packet of the flow, so the server never
//   receives the ClientHello. Segments the server would not accept (decoys) are dropped while
//   the first flight is held, and so are segments that cannot be held (pool or per-flow cap):
//   only bytes the server will get are judged. A SYN cannot wait, so one that carries data (a
//   TCP Fast Open ClientHello) goes on without it; the client sends the data again after the
//   handshake, where it is held like any first flight.
// - Monitor (a mirror port): nothing is forwarded or held; block injects resets toward both ends
//   on the inject port.
#pragma once

#include <cstdint>

#include "dataplane/core/bytes.h"
#include "dataplane/core/tcp_reply.h"

namespace sluice {

enum class EnforcementMode : uint8_t { kAuditOnly, kInline, kMonitor };

// How a blocked TLS client is told.
enum class BlockResponse : uint8_t { kReset, kTlsAlertAndReset };

// What the NIC found of a received frame's TCP/UDP checksum (RX checksum offload). Where it
// says good, the worker need not read the whole segment again to sum it.
enum class NicChecksum : uint8_t {
  kUnknown,  // anything else (not checked, bad, none): the inspector sums the segment itself
  kGood,
};

// Where a frame came from and how the worker will find it again. `handle` is owned by the
// caller unless the inspector answers PacketAction::kHeld.
struct FrameRef {
  void* handle = nullptr;
  uint16_t port = 0;
  NicChecksum l4_checksum = NicChecksum::kUnknown;
};

// What the inspector asks of the worker loop when a verdict is carried out. Called from inside
// FlowInspector::on_burst / expire / close_some; must not call back into the inspector.
class EnforcementSink {
 public:
  virtual ~EnforcementSink() = default;
  // A held frame goes on now, toward where it was going. Calls come in the order the frames of
  // one flow arrived.
  virtual void release(void* handle) = 0;
  // A held frame is dropped (its flow was blocked, or the flow ended while it was held).
  virtual void discard(void* handle) = 0;
  // A frame the inspector built (a reset or a TLS alert). `client_port` is the port the flow's
  // client frames arrive on; `toward_client` says which end it is for. The bytes are valid only
  // during the call.
  virtual void inject(ByteSpan frame, uint16_t client_port, bool toward_client) = 0;

  // Interception (InspectorConfig::intercept). The defaults drop, for sinks without a TAP.
  // A frame the inspector built (a handoff datagram fragment) goes into the TAP; false when it
  // could not be queued (then the flow is not handed over).
  virtual bool inject_to_interceptor(ByteSpan frame) {
    (void)frame;
    return false;
  }
  // A received client frame of a handed-off flow goes into the TAP: its L2 header (l3_offset
  // bytes) becomes plain Ethernet addressed to the TAP.
  virtual void to_interceptor(void* handle, uint16_t l3_offset) {
    (void)l3_offset;
    discard(handle);
  }
  // A frame out of the TAP goes to its flow's client on `client_port`, its L2 header replaced
  // by the flow's (`client_l2`, taken from a client frame: the MACs are swapped).
  virtual void to_client(void* handle, uint16_t l3_offset, const L2Header& client_l2,
                         uint16_t client_port) {
    (void)l3_offset;
    (void)client_l2;
    (void)client_port;
    discard(handle);
  }
};

}  // namespace sluice
