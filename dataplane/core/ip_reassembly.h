// Reassembly of IPv4 and IPv6 fragments. Bounded: a fixed number of datagrams in progress, each
// at most max_datagram_bytes, all memory allocated at construction. Overlapping fragments are
// rejected (the whole datagram is dropped), as are fragments beyond the cap; every drop is counted
// under a named reason. Fragments go on to the server as they come, so a dropped datagram's
// later fragments are dropped too until its timeout, which is the receivers' (Linux's
// ipfrag_time, 30 s): forgetting it sooner would let the rest complete at the server unseen. Attackers split a ClientHello into fragments so that a per-packet matcher
// never sees the name; reassembling lets the first-flight stage judge the whole thing.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/core/bytes.h"
#include "dataplane/core/packet.h"
#include "dataplane/core/stats.h"

namespace sluice {

struct IpReassemblyConfig {
  uint32_t max_datagrams = 256;          // datagrams being reassembled at once
  uint32_t max_datagram_bytes = 20480;   // L4 bytes per datagram (first flight cap + headroom)
  uint32_t max_fragments = 64;           // fragments per datagram
  uint64_t timeout_ns = 30'000'000'000;  // a datagram not completed in this time is dropped
};

class IpReassembler {
 public:
  explicit IpReassembler(const IpReassemblyConfig& config);
  ~IpReassembler();

  enum class Result : uint8_t {
    kIncomplete,  // stored; more fragments needed
    kComplete,    // `out` is now the whole datagram: call parse_l4(l4_bytes, ...)
    kDropped,     // rejected; the reason was counted in `stats`
  };

  // `fragment` must have been parsed with ParseStatus::kFragment. On kComplete, `l4_bytes` points
  // into the reassembler's own storage and stays valid until the next call to add() or expire().
  Result add(const ParsedPacket& fragment, uint64_t now_ns, WorkerStats& stats,
             ByteSpan& l4_bytes);

  // Drops datagrams older than the timeout (counted as fragment_timeout).
  void expire(uint64_t now_ns, WorkerStats& stats);

  uint32_t in_progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
