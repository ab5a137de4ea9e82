// Adoption: turns a handoff message into a connected socket in the appliance namespace that
// owns the client's TCP connection as if it had accepted it (docs/design.md, "Interception
// handoff"). TCP_REPAIR lets a socket take a connection's state without a packet on the wire;
// IP_TRANSPARENT lets it bind the server's address. Needs CAP_NET_ADMIN (repair) and
// CAP_NET_RAW or CAP_NET_ADMIN (transparent), and the appliance namespace's policy routing
// (deploy/appliance/sluice-appliance-netns.sh) for the client's later segments to reach it.
#pragma once

#include "absl/status/statusor.h"
#include "interceptor/handoff/handoff_message.h"

namespace sluice::handoff {

// Returns a connected, non-blocking, close-on-exec TCP socket whose local address is the
// server's and whose receive queue holds `h.hello`; the caller owns it. In order (each step
// fails with the step and errno named, and the socket closed):
//   1. a socket filter that drops every segment (SO_ATTACH_FILTER), so that nothing the client
//      sends meanwhile (a retransmitted hello) reaches the half-built connection: the client
//      resends it; IP_TRANSPARENT (IPV6_TRANSPARENT), TCP_REPAIR on, bind() to the server's
//      address and port (no SO_REUSEADDR: it would cancel the forced reuse repair mode gives
//      bind()); TCP_MAXSEG = the client's MSS (connect() sizes segments from it);
//   2. send queue seq = server ISN + 1, receive queue seq = client ISN + 1, connect() to the
//      client (nothing is sent in repair mode);
//   3. TCP_REPAIR_OPTIONS: MSS = the client's, window scale = client | server << 16 when both
//      SYNs had it, SACK-permitted and timestamps when both had them; TCP_TIMESTAMP = the
//      server's latest TSval + 1 (the client's PAWS check wants nothing older);
//   4. TCP_REPAIR_WINDOW: snd_wl1 = rcv_wup = client ISN + 1, snd_wnd = max_window = the
//      client's window, rcv_wnd = the server's;
//   5. the ClientHello sent into the receive queue (it becomes received data), TCP_REPAIR off,
//      the filter detached: a hello resent from now on is an old duplicate, acknowledged.
absl::StatusOr<int> adopt(const Handoff& h);

}  // namespace sluice::handoff
