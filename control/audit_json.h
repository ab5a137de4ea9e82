// Audit records as JSON, one object per line. Control path: formats into a reused string.
#pragma once

#include <cstdint>
#include <string>

#include "dataplane/core/audit_event.h"

namespace sluice {

// RFC 3339 UTC with microseconds: 2026-11-27T15:33:46.123456Z.
void append_rfc3339_micros(std::string& out, uint64_t unix_ns);

// One record for a whole flow: what was judged (from the verdict event) and the totals at its
// end (from the close event). This is what `sluice replay` prints. Appends to `out`, no newline.
void append_flow_record(std::string& out, const AuditEvent& verdict, const AuditEvent& close);

// One record per event, for live export where the verdict record must not wait for the close.
void append_event_record(std::string& out, const AuditEvent& event);

}  // namespace sluice
