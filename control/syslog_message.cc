#include "control/syslog_message.h"

#include <array>
#include <charconv>

#include "control/audit_json.h"
#include "control/json_writer.h"

namespace sluice {
namespace {

// RFC 5424 §6.2.1, in code order.
constexpr std::array<std::string_view, 24> kFacilities = {
    "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};

constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

void append_number(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

void append_param(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += "=\"";
  append_sd_param_value(out, value);
  out += '"';
}

}  // namespace

std::optional<uint8_t> syslog_facility_from_name(std::string_view name) {
  for (size_t i = 0; i < kFacilities.size(); ++i)
    if (kFacilities[i] == name) return static_cast<uint8_t>(i);
  return std::nullopt;
}

std::string_view syslog_facility_names() {
  return "kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, "
         "audit, alert, clock, local0 ... local7";
}

bool valid_syslog_hostname(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name)
    if (c < 33 || c > 126) return false;
  return true;
}

uint8_t syslog_severity(const AuditEvent& event) {
  if (event.kind != AuditKind::kVerdict) return 6;
  switch (event.verdict) {
    case Verdict::kBlock:
      return 4;
    case Verdict::kIntercept:
      return 5;
    case Verdict::kPass:
      return 6;
  }
  return 6;
}

void append_sd_param_value(std::string& out, std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\' || c == ']') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += kReplacement;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (const size_t n = utf8_sequence_length(value, i); n != 0) {
      out.append(value.data() + i, n);
      i += n;
      continue;
    } else {
      out += kReplacement;
    }
    ++i;
  }
}

void append_syslog_frame(std::string& out, std::string& scratch, const SyslogHeader& header,
                         uint32_t sequence_id, const AuditEvent& event, std::string_view json) {
  std::string& m = scratch;
  m.clear();
  m += '<';
  append_number(m, uint64_t{header.facility} * 8 + syslog_severity(event));
  m += ">1 ";
  if (event.event_ns != 0) {
    append_rfc3339_micros(m, event.event_ns);
  } else {
    m += '-';
  }
  m += ' ';
  m += header.hostname.empty() ? std::string_view("-") : std::string_view(header.hostname);
  m += " sluice ";
  if (header.procid != 0) {
    append_number(m, header.procid);
  } else {
    m += '-';
  }
  const bool verdict = event.kind == AuditKind::kVerdict;
  m += verdict ? " verdict " : " close ";
  m += "[meta sequenceId=\"";
  append_number(m, sequence_id);
  m += "\"][";
  m += kSyslogSdId;
  m += " flow_id=\"";
  append_number(m, event.flow_id);
  m += '"';
  append_param(m, "verdict", verdict_name(event.verdict));
  if (verdict) {
    append_param(m, "rule", event.rule_view());
    if (carries_client_hello(event.first_flight) && event.hello.sni_length > 0)
      append_param(m, "sni", event.hello.sni_view());
  }
  m += "] ";
  m += json;

  append_number(out, m.size());
  out += ' ';
  out += m;
}

}  // namespace sluice
