// Audit records as JSON, one object per line. Control path: formats into a reused string.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/core/audit_event.h"

namespace sluice {

// RFC 3339 UTC with microseconds: 2026-11-27T15:33:46.123456Z.
void append_rfc3339_micros(std::string& out, uint64_t unix_ns);
// The same, as a string of its own.
std::string rfc3339_micros(uint64_t unix_ns);

// What a verdict event says about the first flight ("first_flight", "sni", ..., "verdict",
// "rule", "list") as JSON members without braces: small enough to keep per open flow until it
// closes.
void append_judgement(std::string& out, const AuditEvent& verdict);

// One record for a whole flow: the judgement (from append_judgement on its verdict event) and
// the totals at its end (from the close event). This is what `sluice replay` prints. Appends to
// `out`, no newline.
void append_flow_record(std::string& out, std::string_view judgement, const AuditEvent& close);

// One record per event, for live export where the verdict record must not wait for the close.
void append_event_record(std::string& out, const AuditEvent& event);

}  // namespace sluice
