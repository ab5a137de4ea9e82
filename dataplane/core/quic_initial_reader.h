// Reads the client's side of a QUIC flow's first flight, datagram by datagram: every coalesced
// packet is recognised (RFC 9000 12.2); Initials are decrypted and their CRYPTO data is
// reassembled by offset into the flow's StreamAssembler (out of order within and across packets,
// duplicated, overlapping; conflicting bytes are reported, never silently resolved). The caller
// then parses the ClientHello from the assembled stream with the TLS code TCP uses.
//
// One reader per worker; its decryption buffer and OpenSSL contexts are allocated once.
#pragma once

#include <cstdint>
#include <vector>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/bytes.h"
#include "dataplane/core/quic_initial_crypto.h"
#include "dataplane/core/stream_assembler.h"

namespace sluice {

// RFC 9000 14.1: a server discards a client Initial in a UDP datagram smaller than this.
inline constexpr size_t kQuicMinInitialDatagram = 1200;

// Per flow, kept in its first-flight slot while the first flight is read.
struct QuicFlightState {
  uint32_t version = 0;     // of the first Initial read; 0 before it
  bool keys_ready = false;  // keys derived from that Initial's DCID (later Initials reuse them:
                            // RFC 9001 5.2, even after the client switches DCID)
  QuicInitialKeys keys;
};

// What one datagram held.
struct QuicDatagramResult {
  bool quic = false;           // a long-header packet of a version we know (or VN) started it
  uint32_t version = 0;        // the version of its first long-header packet
  uint16_t initials = 0;       // Initial packets decrypted
  uint16_t undecryptable = 0;  // Initial packets that failed (bad tag, cut short, bad frames)
  uint16_t other_packets = 0;  // 0-RTT, Handshake, Retry, VN, short-header: recognised, skipped
  bool short_datagram = false; // Initials in a datagram under 1200 bytes: a server drops them,
                               // so they were not read
  AnomalySet anomalies;        // overlap_conflict, first_flight_byte_cap, quic_* ...
};

class QuicInitialReader {
 public:
  QuicInitialReader();

  bool ok() const { return crypto_.ok(); }

  // Reads the packets of one client datagram (the UDP payload).
  QuicDatagramResult read(ByteSpan datagram, QuicFlightState& state, StreamAssembler& crypto);

  // Whether `packet` (an Initial) opens under keys derived from its own DCID, as the first
  // Initial of a connection does (and the first after a Retry). An Initial of a connection whose
  // client has switched to the server's connection ID does not: its keys stay those of the
  // first DCID (RFC 9001 5.2). So a different DCID that opens is another connection.
  bool opens_under_own_keys(const QuicPacketView& packet);

  QuicInitialCrypto& crypto() { return crypto_; }

 private:
  void read_initial(const QuicPacketView& packet, QuicFlightState& state, StreamAssembler& crypto,
                    QuicDatagramResult& result);

  QuicInitialCrypto crypto_;
  QuicInitialKeys trial_keys_;  // opens_under_own_keys()'s, so a flow's own keys stay as they are
  std::vector<uint8_t> plain_;  // one packet, decrypted: at most one UDP payload
};

}  // namespace sluice
