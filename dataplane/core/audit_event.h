// What a worker reports about a flow: one event when its first flight is judged (verdict) and
// one when it ends (totals). Plain data of fixed size, so it can be copied into a ring without
// allocating; the management side turns it into JSON, syslog, Kafka.
#pragma once

#include <array>
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

struct AuditEvent {
  AuditKind kind = AuditKind::kVerdict;
  uint16_t worker = 0;
  uint64_t flow_id = 0;  // unique per worker: (worker << 48) | sequence

  Endpoint client;
  Endpoint server;
  uint8_t transport = 0;  // IPPROTO_TCP / IPPROTO_UDP
  uint16_t vlan = 0;

  uint64_t start_ns = 0;        // time of the flow's first packet (capture or wall clock)
  uint64_t last_packet_ns = 0;  // time of its latest packet so far
  uint64_t event_ns = 0;        // time of this event (an idle close comes well after the last packet)

  // Verdict-time fields.
  FirstFlightKind first_flight = FirstFlightKind::kNone;
  Verdict verdict = Verdict::kPass;
  HandoffOutcome handoff = HandoffOutcome::kNone;
  bool audit = true;  // the deciding rule's audit flag: false keeps the flow out of audit exports
  std::array<char, kMaxRuleName + 1> rule{};  // the rule that decided ("no_policy" without one)
  std::array<char, kMaxRuleName + 1> list{};  // the list that matched; empty when a default decided
  ClientHelloInfo hello;                       // valid when carries_client_hello(first_flight)
  uint32_t quic_version = 0;                   // UDP: the QUIC version of the client's Initials
  std::array<char, kMaxSniLength + 1> http_host{};  // valid when first_flight == kHttp
  uint16_t http_host_length = 0;

  // Both kinds: what was seen so far. Close adds totals.
  AnomalySet anomalies;
  uint64_t packets_to_server = 0;
  uint64_t packets_to_client = 0;
  uint64_t bytes_to_server = 0;
  uint64_t bytes_to_client = 0;
  CloseReason close_reason = CloseReason::kNone;

  std::string_view rule_view() const { return {rule.data()}; }
  std::string_view list_view() const { return {list.data()}; }
  std::string_view http_host_view() const { return {http_host.data(), http_host_length}; }
  // The name the client gave for its server: the Host header of plain HTTP, the SNI of TLS;
  // empty when there is none.
  std::string_view server_name() const {
    if (http_host_length > 0) return http_host_view();
    return carries_client_hello(first_flight) ? hello.sni_view() : std::string_view();
  }
};

static_assert(std::is_trivially_copyable_v<AuditEvent>, "events are copied into DPDK rings");

// Where a worker hands its events. Implementations: a DPDK ring toward the management core, a
// vector in tests. publish() must not block; it returns false when the event was lost.
class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual bool publish(const AuditEvent& event) = 0;
};

}  // namespace sluice
