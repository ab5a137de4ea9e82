// What a policy decides for one flow, and the facts it decides on. Plain types shared by the
// worker (dataplane/core/flow_judge.h), the policy compiler and snapshot, and the audit record.
// They live in core so that core never depends on the policy library (policy depends on core).
// The verdict itself is the program-wide one in dataplane/core/verdict.h.
#pragma once

#include <cstdint>
#include <string_view>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/first_flight.h"
#include "dataplane/core/ip_address.h"
#include "dataplane/core/verdict.h"

namespace sluice {

// A verdict plus whether the flow is audited (every flow gets a record at verdict time; `audit`
// says whether the deployment wants it exported, e.g. false for a noisy update service).
struct Action {
  Verdict verdict = Verdict::kPass;
  bool audit = true;
};

// Everything decide() looks at. `server_name` is the normalised SNI (TLS, QUIC) or Host header
// (plain HTTP); empty when there is none. Views only: the caller owns the bytes.
struct FlowFacts {
  IpAddress client_ip;
  IpAddress server_ip;
  uint16_t server_port = 0;
  FirstFlightKind first_flight = FirstFlightKind::kNone;
  std::string_view server_name;
  bool ech = false;
  // The client spoke QUIC (UDP Initial packets), whatever became of its first flight: named
  // (first_flight quic) or not (incomplete, a version that cannot be read).
  bool quic = false;
  std::string_view ja4;  // the client's JA4 fingerprint (TLS, QUIC); empty when not computed
  AnomalySet anomalies;
};

// Kinds whose server name came from the client's own protocol header (SNI or Host): only these
// can match a name.
inline bool names_its_server(FirstFlightKind kind) {
  return kind == FirstFlightKind::kTls || kind == FirstFlightKind::kQuic ||
         kind == FirstFlightKind::kHttp;
}

// The outcome, naming what decided it. The views point into the snapshot that made the decision
// and stay valid as long as it does (the worker copies them into the audit event before it
// leaves its RCU read-side section).
struct Decision {
  Action action;
  std::string_view rule;  // a rule's name or a default's name
  std::string_view list;  // the list or pattern set that matched; empty for defaults
};

}  // namespace sluice
