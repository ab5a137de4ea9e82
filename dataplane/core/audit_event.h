// What a worker reports about a flow: one event when its first flight is judged (verdict) and
// one when it ends (totals). Plain data of fixed size, so it can be copied into a ring without
// allocating; the management side turns it into JSON, syslog, Kafka.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/first_flight.h"
#include "dataplane/core/flow_key.h"
#include "dataplane/core/tls_client_hello.h"
#include "dataplane/core/verdict.h"

namespace sluice {

enum class CloseReason : uint8_t { kNone, kFin, kRst, kIdle, kEvicted, kShutdown, kReused, kBlocked };
std::string_view close_reason_name(CloseReason r);

enum class AuditKind : uint8_t { kVerdict, kClose };

// What became of an intercept verdict when interception is configured (`intercept:`): handed
// to the interceptor, or carried out as policy.intercept_fallback and why. kNone otherwise.
enum class HandoffOutcome : uint8_t {
  kNone,
  kHandedOff,          // the interceptor got the connection; the server leg was reset
  kInterceptorAbsent,  // no heartbeat from the interceptor within intercept.handoff.liveness
  kNotAdoptable,       // not TCP over IPv4, handshake not seen whole, or no bytes held
  kNoBuffer,           // the handoff datagram could not be built or sent (counted)
};
std::string_view handoff_outcome_name(HandoffOutcome h);

inline constexpr size_t kMaxRuleName = 47;

// Laid out for the ring (AuditRing): what both kinds carry comes first, and a close event is
// published as that prefix alone; a verdict's hello ends with its server name, so the unused
// tail of the name and of the Host header is not copied either (wire_size()).
struct AuditEvent {
  AuditKind kind = AuditKind::kVerdict;
  CloseReason close_reason = CloseReason::kNone;  // close events
  uint16_t worker = 0;
  uint64_t flow_id = 0;  // unique per worker: (worker << 48) | sequence

  Endpoint client;
  Endpoint server;
  uint8_t transport = 0;  // IPPROTO_TCP / IPPROTO_UDP
  uint16_t vlan = 0;

  uint64_t start_ns = 0;        // time of the flow's first packet (capture or wall clock)
  uint64_t last_packet_ns = 0;  // time of its latest packet so far
  uint64_t event_ns = 0;        // time of this event (an idle close comes well after the last packet)

  // What the flow was judged: set in both kinds.
  FirstFlightKind first_flight = FirstFlightKind::kNone;
  Verdict verdict = Verdict::kPass;
  HandoffOutcome handoff = HandoffOutcome::kNone;
  bool audit = true;  // the deciding rule's audit flag: false keeps the flow out of audit exports
  uint32_t quic_version = 0;  // UDP: the QUIC version of the client's Initials

  // Both kinds: what was seen so far. Close adds totals.
  AnomalySet anomalies;
  uint64_t packets_to_server = 0;
  uint64_t packets_to_client = 0;
  uint64_t bytes_to_server = 0;
  uint64_t bytes_to_client = 0;

  // Verdict events only; a close event names nothing (the management side knows the flow's
  // name from its verdict) and is published without these.
  std::array<char, kMaxRuleName + 1> rule{};  // the rule that decided ("no_policy" without one)
  std::array<char, kMaxRuleName + 1> list{};  // the list that matched; empty when a default decided
  uint16_t http_host_length = 0;
  ClientHelloInfo hello;  // valid when carries_client_hello(first_flight); its name comes last
  std::array<char, kMaxSniLength + 1> http_host{};  // valid when first_flight == kHttp

  std::string_view rule_view() const { return {rule.data()}; }
  std::string_view list_view() const { return {list.data()}; }
  std::string_view http_host_view() const { return {http_host.data(), http_host_length}; }
  // The name the client gave for its server: the Host header of plain HTTP, the SNI of TLS;
  // empty when there is none.
  std::string_view server_name() const {
    if (http_host_length > 0) return http_host_view();
    return carries_client_hello(first_flight) ? hello.sni_view() : std::string_view();
  }
  // The bytes of this event that carry anything: a close event ends before `rule`, a verdict
  // after the last byte of its Host header or else of its server name. The rest reads as it
  // would in a default AuditEvent once AuditRing::drain has copied the event out.
  size_t wire_size() const;
};

static_assert(std::is_trivially_copyable_v<AuditEvent>, "events are copied into DPDK rings");
static_assert(std::is_standard_layout_v<AuditEvent>, "wire_size() measures it with offsetof");

// A ring slot (AuditRing): whole cache lines, so that an event's first byte starts a line.
inline constexpr size_t kAuditSlotBytes = (sizeof(AuditEvent) + 63) & ~size_t{63};

inline size_t AuditEvent::wire_size() const {
  if (kind == AuditKind::kClose) return offsetof(AuditEvent, rule);
  if (http_host_length > 0)
    return offsetof(AuditEvent, http_host) + std::min<size_t>(http_host_length, kMaxSniLength);
  return offsetof(AuditEvent, hello) + offsetof(ClientHelloInfo, sni) +
         std::min<size_t>(hello.sni_length, kMaxSniLength);
}

// Where a worker hands its events. Implementations: a DPDK ring toward the management core, a
// vector in tests. publish() must not block; it returns false when the event was lost.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual bool publish(const AuditEvent& event) = 0;
};

}  // namespace sluice
