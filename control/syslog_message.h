// Audit records as RFC 5424 syslog messages, framed for TCP by octet counting (RFC 6587 §3.4.1:
// "LEN SP SYSLOG-MSG"). The MSG part is the same JSON record the audit file gets
// (append_event_record); the header and structured data carry what a SIEM routes on without
// parsing JSON, and the sequence id a receiver de-duplicates by (see control/syslog_export.h).
//
//   <PRI>1 TIMESTAMP HOSTNAME sluice PROCID MSGID [meta sequenceId="N"][sluice@32473 ...] JSON
//
// PRI = facility * 8 + severity (block: warning, intercept: notice, pass and close: info);
// TIMESTAMP = the event time, RFC 3339 UTC with microseconds; MSGID = `verdict` or `close`.
// 32473 is the enterprise number RFC 5612 reserves for documentation: the SD-ID is private,
// with no registered number behind it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/core/audit_event.h"

namespace sluice {

// RFC 5424 §7.3.1: sequenceId runs 1..2147483647 and then starts again at 1.
inline constexpr uint32_t kMaxSyslogSequenceId = 2147483647;
inline constexpr std::string_view kSyslogSdId = "sluice@32473";

// What is the same in every message of one exporter.
struct SyslogHeader {
  uint8_t facility = 16;  // local0
  std::string hostname;   // a valid_syslog_hostname(), or "-"
  uint32_t procid = 0;    // the process id; 0 writes "-"
};

// Facility by its RFC 5424 name (kern, user, ..., local0..local7); nullopt if unknown.
std::optional<uint8_t> syslog_facility_from_name(std::string_view name);
// The names syslog_facility_from_name() knows, comma separated, for error messages.
std::string_view syslog_facility_names();

// RFC 5424 HOSTNAME: 1 to 255 printable US-ASCII characters (no space).
bool valid_syslog_hostname(std::string_view name);

// 4 (warning) for block, 5 (notice) for intercept, 6 (info) for pass verdicts and every close.
uint8_t syslog_severity(const AuditEvent& event);

// A PARAM-VALUE (RFC 5424 §6.3.3): '"', '\' and ']' escaped with '\'. The value must be UTF-8:
// control characters and bytes that are not well-formed UTF-8 (server names are the client's
// bytes) become U+FFFD, so one message never spans lines in a receiver's file.
void append_sd_param_value(std::string& out, std::string_view value);

// Appends one framed message: "LEN SP <PRI>1 ... JSON". `json` is the event's audit record
// (append_event_record); `scratch` is reused between calls to build the message before its
// length is known.
void append_syslog_frame(std::string& out, std::string& scratch, const SyslogHeader& header,
                         uint32_t sequence_id, const AuditEvent& event, std::string_view json);

}  // namespace sluice
