#include "control/audit_json.h"

#include <arpa/inet.h>

#include <ctime>

#include "control/json_writer.h"
#include "dataplane/core/quic_version.h"

namespace sluice {
namespace {

std::string_view transport_name(uint8_t protocol) {
  return protocol == 6 ? "tcp" : protocol == 17 ? "udp" : "other";
}

std::string_view ip_text(const IpAddress& ip, char (&buf)[INET6_ADDRSTRLEN]) {
  const char* s = ip.is_v4() ? inet_ntop(AF_INET, ip.bytes.data() + 12, buf, sizeof(buf))
                             : inet_ntop(AF_INET6, ip.bytes.data(), buf, sizeof(buf));
  return s ? std::string_view(s) : std::string_view("?");
}

void add_time(JsonWriter& w, std::string& scratch, std::string_view key, uint64_t ns) {
  scratch.clear();
  append_rfc3339_micros(scratch, ns);
  w.field(key, scratch);
}

void add_endpoints(JsonWriter& w, const AuditEvent& e) {
  char buf[INET6_ADDRSTRLEN];
  w.field("client_ip", ip_text(e.client.ip, buf));
  w.field("client_port", uint64_t{e.client.port});
  w.field("server_ip", ip_text(e.server.ip, buf));
  w.field("server_port", uint64_t{e.server.port});
  w.field("transport", transport_name(e.transport));
  if (e.vlan != 0) w.field("vlan", uint64_t{e.vlan});
  if (e.quic_version != 0) {
    char version[12];
    w.field("quic_version", quic_version_name(e.quic_version, version));
  }
}

// The judged fields. Names from the hello are attacker-controlled bytes: the writer escapes
// them, so a record is always one valid line.
void add_first_flight(JsonWriter& w, const AuditEvent& v) {
  w.field("first_flight", first_flight_name(v.first_flight));
  const bool tls = carries_client_hello(v.first_flight);
  if (tls && v.hello.sni_length > 0) {
    w.field("sni", v.hello.sni_view());
  } else {
    w.field_null("sni");
  }
  if (v.first_flight == FirstFlightKind::kHttp || v.http_host_length > 0) {
    if (v.http_host_length > 0) {
      w.field("http_host", v.http_host_view());
    } else {
      w.field_null("http_host");
    }
  }
  w.begin_array("alpn");
  if (tls) for_each_alpn(v.hello, [&](std::string_view name) { w.element(name); });
  w.end_array();
  w.begin_array("tls_versions");
  if (tls) {
    std::array<char, 8> buf;
    for (uint8_t i = 0; i < v.hello.version_count; ++i)
      w.element(tls_version_name(v.hello.versions[i], buf));
  }
  w.end_array();
  w.field("ech", tls && v.hello.ech);
  if (tls && v.hello.ja4[0] != '\0') {
    w.field("ja4", v.hello.ja4_view());
  } else {
    w.field_null("ja4");
  }
}

// The rule that decided and the list that matched (null when a default decided, or no policy).
void add_rule(JsonWriter& w, const AuditEvent& v) {
  w.field("rule", v.rule_view());
  if (v.list[0] != '\0') {
    w.field("list", v.list_view());
  } else {
    w.field_null("list");
  }
}

void add_anomalies(JsonWriter& w, AnomalySet set) {
  w.begin_array("anomalies");
  set.for_each([&](Anomaly a) { w.element(anomaly_name(a)); });
  w.end_array();
}

void add_totals(JsonWriter& w, const AuditEvent& e) {
  w.field("packets_to_server", e.packets_to_server);
  w.field("packets_to_client", e.packets_to_client);
  w.field("bytes_to_server", e.bytes_to_server);
  w.field("bytes_to_client", e.bytes_to_client);
  // First to last packet: the close may be reported long after (idle timeout, end of capture).
  w.field_double("duration_ms", static_cast<double>(e.last_packet_ns - e.start_ns) / 1e6, 3);
}

}  // namespace

std::string rfc3339_micros(uint64_t unix_ns) {
  std::string out;
  append_rfc3339_micros(out, unix_ns);
  return out;
}

void append_rfc3339_micros(std::string& out, uint64_t unix_ns) {
  const time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000ULL);
  const unsigned micros = static_cast<unsigned>((unix_ns / 1000) % 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, micros);
  out.append(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

void append_judgement(std::string& out, const AuditEvent& verdict) {
  JsonWriter w(out);
  add_first_flight(w, verdict);
  w.field("verdict", verdict_name(verdict.verdict));
  if (verdict.handoff != HandoffOutcome::kNone)
    w.field("handoff", handoff_outcome_name(verdict.handoff));
  add_rule(w, verdict);
}

void append_flow_record(std::string& out, std::string_view judgement, const AuditEvent& close) {
  std::string time;
  JsonWriter w(out);
  w.begin_object();
  add_time(w, time, "ts", close.start_ns);
  w.field("flow_id", close.flow_id);
  add_endpoints(w, close);
  w.raw_members(judgement);
  // The close event's anomalies include the verdict's: a flow's anomalies only accumulate.
  add_anomalies(w, close.anomalies);
  add_totals(w, close);
  w.field("close_reason", close_reason_name(close.close_reason));
  w.end_object();
}

void append_event_record(std::string& out, const AuditEvent& e) {
  std::string time;
  JsonWriter w(out);
  w.begin_object();
  add_time(w, time, "ts", e.event_ns);
  w.field("event", e.kind == AuditKind::kVerdict ? "verdict" : "close");
  w.field("flow_id", e.flow_id);
  add_time(w, time, "flow_start", e.start_ns);
  add_endpoints(w, e);
  if (e.kind == AuditKind::kVerdict) {
    add_first_flight(w, e);
  } else {
    w.field("first_flight", first_flight_name(e.first_flight));
  }
  w.field("verdict", verdict_name(e.verdict));
  if (e.handoff != HandoffOutcome::kNone) w.field("handoff", handoff_outcome_name(e.handoff));
  if (e.kind == AuditKind::kVerdict) add_rule(w, e);
  add_anomalies(w, e.anomalies);
  if (e.kind == AuditKind::kClose) {
    add_totals(w, e);
    w.field("close_reason", close_reason_name(e.close_reason));
  }
  w.end_object();
}

}  // namespace sluice
