#include "control/api/endpoints.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "control/api/json_body.h"
#include "control/api/list_upload.h"
#include "dataplane/core/anomaly.h"
#include "dataplane/core/verdict.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

using nlohmann::json;

json time_json(absl::Time t) {
  if (t == absl::InfinitePast()) return nullptr;
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// Every counter of `s` by name, the per-reason breakdowns as nested objects (zeros left out of
// the breakdowns, kept for the plain counters so a client can rely on every key).
json counters_json(const WorkerStats& s) {
  json out = json::object();
  s.for_each_counter([&](const char* name, const char*, uint64_t v) { out[name] = v; });
  json malformed = json::object();
  for (size_t i = 0; i < s.malformed_by_reason.size(); ++i)
    if (s.malformed_by_reason[i] != 0)
      malformed[std::string(malformed_name(static_cast<Malformed>(i)))] = s.malformed_by_reason[i];
  json verdicts = json::object();
  for (size_t i = 0; i < s.flows_by_verdict.size(); ++i)
    verdicts[std::string(verdict_name(static_cast<Verdict>(i)))] = s.flows_by_verdict[i];
  json anomalies = json::object();
  for (size_t i = 0; i < static_cast<size_t>(Anomaly::kCount); ++i)
    if (s.flows_by_anomaly[i] != 0)
      anomalies[std::string(anomaly_name(static_cast<Anomaly>(i)))] = s.flows_by_anomaly[i];
  out["malformed_by_reason"] = std::move(malformed);
  out["flows_by_verdict"] = std::move(verdicts);
  out["flows_by_anomaly"] = std::move(anomalies);
  return out;
}

json port_json(const PortView& p) {
  json j = {{"name", p.name}, {"device", p.device}};
  if (!p.readable) {
    j["error"] = p.error;
    return j;
  }
  j["link_up"] = p.link_up;
  j["link_speed_mbps"] = p.link_speed_mbps;
  j["full_duplex"] = p.full_duplex;
  j["rx_packets"] = p.rx_packets;
  j["tx_packets"] = p.tx_packets;
  j["rx_bytes"] = p.rx_bytes;
  j["tx_bytes"] = p.tx_bytes;
  j["rx_missed"] = p.rx_missed;
  j["rx_errors"] = p.rx_errors;
  j["tx_errors"] = p.tx_errors;
  j["rx_no_mbuf"] = p.rx_no_mbuf;
  return j;
}


json policy_json(const ApiSources& s) {
  const PolicyView p = s.policy();
  const ReloadState r = s.reload_state();
  json building = nullptr;
  if (r.building)
    building = {{"number", r.building_number},
                {"origin", r.building_origin},
                {"since", time_json(r.building_since)}};
  // The lists as the configuration names them now (the names PUT /v1/policy/lists/NAME takes).
  json lists = json::array();
  json lists_error = nullptr;
  if (absl::StatusOr<std::vector<ConfiguredList>> l = configured_lists(s.config_path); l.ok()) {
    for (const ConfiguredList& c : *l)
      lists.push_back({{"name", c.name}, {"path", c.path}, {"format", c.format}});
  } else {
    lists_error = std::string(l.status().message());
  }
  return {{"generation", p.generation},
          {"source", p.source},
          {"configured_lists", std::move(lists)},
          {"configured_lists_error", std::move(lists_error)},
          {"description", p.description},
          {"summary", p.summary},
          {"loaded_at", time_json(p.published_at)},
          {"reloads", {{"succeeded", r.succeeded}, {"failed", r.failed}}},
          {"reload_building", std::move(building)},
          {"last_reload", reload_json(r.last)}};
}

json syslog_json(const std::vector<SyslogReceiverView>& receivers) {
  json out = json::array();
  for (const SyslogReceiverView& r : receivers) {
    const SyslogExportStats& s = r.stats;
    out.push_back({{"address", r.address},
                   {"connected", s.connected},
                   {"queued", s.queued},
                   {"dropped", s.dropped},
                   {"acknowledged", s.acknowledged},
                   {"resent", s.resent},
                   {"released_early", s.released_early},
                   {"connects", s.connects},
                   {"connect_failures", s.connect_failures},
                   {"disconnects", s.disconnects},
                   {"buffered_records", s.buffered_records},
                   {"buffered_bytes", s.buffered_bytes},
                   {"unacknowledged_records", s.unacknowledged_records}});
  }
  return out;
}

// Drops and overflows: everything that lost a packet, an event or a flow, in one place.
json drops_json(const ControlSample& s) {
  const WorkerStats& t = s.total;
  uint64_t rx_missed = 0, rx_no_mbuf = 0, rx_errors = 0, tx_errors = 0, syslog_dropped = 0;
  for (const SyslogReceiverView& r : s.syslog) syslog_dropped += r.stats.dropped;
  for (const PortView& p : s.ports) {
    rx_missed += p.rx_missed;
    rx_no_mbuf += p.rx_no_mbuf;
    rx_errors += p.rx_errors;
    tx_errors += p.tx_errors;
  }
  return {{"audit_dropped", t.audit_dropped},
          {"audit_write_errors", s.audit_write_errors},
          {"syslog_dropped", syslog_dropped},
          {"tx_dropped", t.tx_dropped},
          {"dispatch_dropped", t.dispatch_dropped},
          {"flow_table_full", t.flow_table_full},
          {"flows_evicted", t.flows_evicted},
          {"first_flight_buffers_exhausted", t.first_flight_buffers_exhausted},
          {"hold_exhausted", t.hold_exhausted},
          {"hold_flow_cap", t.hold_flow_cap},
          {"malformed", t.malformed},
          {"port_rx_missed", rx_missed},
          {"port_rx_no_mbuf", rx_no_mbuf},
          {"port_rx_errors", rx_errors},
          {"port_tx_errors", tx_errors}};
}

double per_second(uint64_t now, uint64_t before, double seconds) {
  return now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

ApiResponse not_ready() {
  return error_response(503, "no sample yet: the management loop samples once a second; retry");
}

ApiResponse handle_reload(const ApiSources& s, const ApiRequest& request) {
  absl::StatusOr<json> body = parse_json_object(request.body);
  if (!body.ok()) return error_response(400, body.status().message());
  for (const auto& [key, value] : body->items())
    return error_response(400, absl::StrCat("unknown field '", key,
                                            "': POST /v1/policy/reload takes an empty object {}"));
  absl::StatusOr<ReloadResult> r = s.reload("api");
  if (!r.ok()) return error_response(409, r.status().message());
  json j = {{"reload", reload_json(*r)}, {"policy", policy_json(s)}};
  if (!r->ok) {
    j["error"] = {{"status", 422},
                  {"message", absl::StrCat("the new policy was refused and the running one "
                                           "stays; fix this and reload again: ",
                                           r->message)}};
    return json_response(422, dump_json(j));
  }
  return json_response(200, dump_json(j));
}

// ---- Prometheus ----

class Metrics {
 public:
  // One family: HELP and TYPE once, then its samples.
  void family(absl::string_view name, absl::string_view type, absl::string_view help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void sample(absl::string_view name, absl::string_view labels, double value) {
    // StrCat keeps 6 significant digits; a Unix timestamp needs more than that.
    absl::StrAppend(&out_, name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}",
                    " ", absl::StrFormat("%.15g", value), "\n");
  }
  void sample(absl::string_view name, absl::string_view labels, uint64_t value) {
    absl::StrAppend(&out_, name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}",
                    " ", value, "\n");
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Label values are config names (letters, digits, _ - .) and fixed words; escape anyway.
std::string label(std::string_view key, std::string_view value) {
  std::string out = std::string(key) + "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace

nlohmann::json reload_json(const ReloadResult& r) {
  if (r.number == 0) return nullptr;
  json j = {{"number", r.number},
            {"origin", r.origin},
            {"ok", r.ok},
            {"generation", r.generation},
            {"started_at", time_json(r.started)},
            {"finished_at", time_json(r.finished)},
            {"seconds", absl::ToDoubleSeconds(r.finished - r.started)}};
  if (!r.ok) j["error"] = r.message;
  return j;
}

std::string render_status(const ApiSources& s, absl::Time now) {
  const auto [latest, previous] = s.state->read();
  json ports = json::array();
  for (const PortView& p : latest.ports) {
    json j = {{"name", p.name}, {"device", p.device}};
    if (p.readable) {
      j["link_up"] = p.link_up;
      j["link_speed_mbps"] = p.link_speed_mbps;
      j["full_duplex"] = p.full_duplex;
    } else {
      j["error"] = p.error;
    }
    ports.push_back(std::move(j));
  }
  json workers = json::array();
  for (const WorkerView& w : latest.workers)
    workers.push_back({{"id", w.id},
                       {"lcore", w.lcore},
                       {"reporting", w.updates != 0},
                       {"active_flows", w.active_flows},
                       {"held_frames", w.held_frames}});
  const PolicyView p = s.policy();
  json j = {{"version", s.version},
            {"mode", s.mode},
            {"config", s.config_path},
            {"started_at", time_json(s.started_at)},
            {"uptime_seconds", absl::ToInt64Seconds(now - s.started_at)},
            {"sampled_at", time_json(latest.at)},
            {"ports", std::move(ports)},
            {"workers", std::move(workers)},
            {"policy",
             {{"generation", p.generation},
                  {"source", p.source},
              {"loaded_at", time_json(p.published_at)}}}};
  return dump_json(j);
}

std::string render_stats(const ControlSample& latest, const ControlSample& previous) {
  json workers = json::array();
  for (const WorkerView& w : latest.workers)
    workers.push_back({{"id", w.id},
                       {"lcore", w.lcore},
                       {"reporting", w.updates != 0},
                       {"active_flows", w.active_flows},
                       {"held_frames", w.held_frames},
                       {"idle_sleeps", w.idle_sleeps},
                       {"counters", counters_json(w.stats)}});
  json ports = json::array();
  for (const PortView& p : latest.ports) ports.push_back(port_json(p));

  // Rates over the interval between the two samples the loop took last (about a second).
  json rates = nullptr;
  const double seconds = absl::ToDoubleSeconds(latest.at - previous.at);
  if (previous.at != absl::InfinitePast() && seconds > 0) {
    rates = json::object();
    rates["interval_seconds"] = seconds;
    json totals = json::object();
    std::vector<uint64_t> before;
    previous.total.for_each_counter([&](const char*, const char*, uint64_t v) { before.push_back(v); });
    size_t i = 0;
    latest.total.for_each_counter([&](const char* name, const char*, uint64_t v) {
      totals[name] = per_second(v, before[i++], seconds);
    });
    rates["totals_per_second"] = std::move(totals);
    json port_rates = json::array();
    for (const PortView& p : latest.ports) {
      for (const PortView& q : previous.ports) {
        if (q.name != p.name || !p.readable || !q.readable) continue;
        port_rates.push_back({{"name", p.name},
                              {"rx_packets_per_second", per_second(p.rx_packets, q.rx_packets, seconds)},
                              {"tx_packets_per_second", per_second(p.tx_packets, q.tx_packets, seconds)},
                              {"rx_bits_per_second", 8 * per_second(p.rx_bytes, q.rx_bytes, seconds)},
                              {"tx_bits_per_second", 8 * per_second(p.tx_bytes, q.tx_bytes, seconds)},
                              {"rx_missed_per_second", per_second(p.rx_missed, q.rx_missed, seconds)}});
      }
    }
    rates["ports"] = std::move(port_rates);
  }
  json j = {{"sampled_at", time_json(latest.at)},
            {"totals", counters_json(latest.total)},
            {"drops", drops_json(latest)},
            {"audit", {{"records", latest.audit_records},
                       {"write_errors", latest.audit_write_errors},
                       {"syslog", syslog_json(latest.syslog)}}},
            {"rates", std::move(rates)},
            {"workers", std::move(workers)},
            {"ports", std::move(ports)}};
  return dump_json(j);
}

std::string render_policy(const ApiSources& s) { return dump_json(policy_json(s)); }

std::string render_metrics(const ApiSources& s, absl::Time now) {
  const ControlSample latest = s.state->read().first;
  Metrics m;
  m.family("sluice_up", "gauge", "1 while sluice run serves this endpoint");
  m.sample("sluice_up", "", uint64_t{1});
  m.family("sluice_uptime_seconds", "gauge", "seconds since sluice run started");
  m.sample("sluice_uptime_seconds", "", absl::ToDoubleSeconds(now - s.started_at));

  // Worker counters: the one list in dataplane/core/stats.h, each per worker.
  std::vector<std::vector<uint64_t>> values(latest.workers.size());
  for (size_t w = 0; w < latest.workers.size(); ++w)
    latest.workers[w].stats.for_each_counter(
        [&](const char*, const char*, uint64_t v) { values[w].push_back(v); });
  size_t index = 0;
  WorkerStats().for_each_counter([&](const char* name, const char* help, uint64_t) {
    const std::string metric = absl::StrCat("sluice_", name, "_total");
    m.family(metric, "counter", help);
    for (size_t w = 0; w < latest.workers.size(); ++w)
      m.sample(metric, label("worker", std::to_string(latest.workers[w].id)), values[w][index]);
    ++index;
  });
  // The per-reason arrays of each worker: one labelled sample per non-zero entry (every verdict).
  const auto by_kind = [&](const char* metric, const char* help, const char* key, size_t count,
                           bool skip_zero, auto name_of, auto value_of) {
    m.family(metric, "counter", help);
    for (const WorkerView& w : latest.workers)
      for (size_t i = 0; i < count; ++i)
        if (!skip_zero || value_of(w.stats, i) != 0)
          m.sample(metric,
                   absl::StrCat(label("worker", std::to_string(w.id)), ",", label(key, name_of(i))),
                   value_of(w.stats, i));
  };
  by_kind("sluice_malformed_packets_by_reason_total", "packets dropped as malformed, by reason",
          "reason", WorkerStats{}.malformed_by_reason.size(), true,
          [](size_t i) { return malformed_name(static_cast<Malformed>(i)); },
          [](const WorkerStats& st, size_t i) { return st.malformed_by_reason[i]; });
  by_kind("sluice_flows_by_verdict_total", "flows judged, by the verdict carried out", "verdict",
          WorkerStats{}.flows_by_verdict.size(), false,
          [](size_t i) { return verdict_name(static_cast<Verdict>(i)); },
          [](const WorkerStats& st, size_t i) { return st.flows_by_verdict[i]; });
  by_kind("sluice_flows_by_anomaly_total", "flows closed, by each anomaly they carried", "anomaly",
          static_cast<size_t>(Anomaly::kCount), true,
          [](size_t i) { return anomaly_name(static_cast<Anomaly>(i)); },
          [](const WorkerStats& st, size_t i) { return st.flows_by_anomaly[i]; });
  m.family("sluice_active_flows", "gauge", "flows in the worker's flow table");
  for (const WorkerView& w : latest.workers)
    m.sample("sluice_active_flows", label("worker", std::to_string(w.id)), w.active_flows);
  m.family("sluice_held_frames", "gauge", "first-flight frames held right now");
  for (const WorkerView& w : latest.workers)
    m.sample("sluice_held_frames", label("worker", std::to_string(w.id)), w.held_frames);
  m.family("sluice_idle_sleeps_total", "counter", "times a worker backed off with empty queues");
  for (const WorkerView& w : latest.workers)
    m.sample("sluice_idle_sleeps_total", label("worker", std::to_string(w.id)), w.idle_sleeps);

  // Ports.
  struct PortMetric {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const PortView&);
  };
  static constexpr PortMetric kPortMetrics[] = {
      {"sluice_port_link_up", "gauge", "1 when the port's link is up",
       [](const PortView& p) { return p.link_up ? 1.0 : 0.0; }},
      {"sluice_port_link_speed_bits_per_second", "gauge", "link speed (0: unknown)",
       [](const PortView& p) { return p.link_speed_mbps * 1e6; }},
      {"sluice_port_rx_packets_total", "counter", "packets the port received",
       [](const PortView& p) { return static_cast<double>(p.rx_packets); }},
      {"sluice_port_tx_packets_total", "counter", "packets the port sent",
       [](const PortView& p) { return static_cast<double>(p.tx_packets); }},
      {"sluice_port_rx_bytes_total", "counter", "bytes the port received",
       [](const PortView& p) { return static_cast<double>(p.rx_bytes); }},
      {"sluice_port_tx_bytes_total", "counter", "bytes the port sent",
       [](const PortView& p) { return static_cast<double>(p.tx_bytes); }},
      {"sluice_port_rx_missed_packets_total", "counter",
       "packets the port dropped because its RX queues were full",
       [](const PortView& p) { return static_cast<double>(p.rx_missed); }},
      {"sluice_port_rx_errors_total", "counter", "erroneous packets received",
       [](const PortView& p) { return static_cast<double>(p.rx_errors); }},
      {"sluice_port_tx_errors_total", "counter", "packets the port failed to send",
       [](const PortView& p) { return static_cast<double>(p.tx_errors); }},
      {"sluice_port_rx_no_mbuf_total", "counter", "RX buffer allocation failures (pool empty)",
       [](const PortView& p) { return static_cast<double>(p.rx_no_mbuf); }},
  };
  for (const PortMetric& pm : kPortMetrics) {
    m.family(pm.name, pm.type, pm.help);
    for (const PortView& p : latest.ports)
      if (p.readable) m.sample(pm.name, label("port", p.name), pm.value(p));
  }

  // Audit and policy.
  m.family("sluice_audit_records_total", "counter", "audit events the management side exported");
  m.sample("sluice_audit_records_total", "", latest.audit_records);
  m.family("sluice_audit_write_errors_total", "counter", "failed writes to an audit sink");
  m.sample("sluice_audit_write_errors_total", "", latest.audit_write_errors);
  const auto per_receiver = [&](const char* name, const char* type, const char* help,
                                auto value) {
    if (latest.syslog.empty()) return;
    m.family(name, type, help);
    for (const SyslogReceiverView& r : latest.syslog)
      m.sample(name, label("receiver", r.address), value(r.stats));
  };
  per_receiver("sluice_syslog_records_queued_total", "counter", "audit records accepted for a syslog receiver",
               [](const SyslogExportStats& x) { return x.queued; });
  per_receiver("sluice_syslog_records_dropped_total", "counter", "audit records refused: the syslog buffer was full",
               [](const SyslogExportStats& x) { return x.dropped; });
  per_receiver("sluice_syslog_records_resent_total", "counter", "audit records sent again after a lost connection",
               [](const SyslogExportStats& x) { return x.resent; });
  per_receiver("sluice_syslog_disconnects_total", "counter", "syslog connections lost",
               [](const SyslogExportStats& x) { return x.disconnects; });
  per_receiver("sluice_syslog_buffered_records", "gauge", "audit records held for a syslog receiver",
               [](const SyslogExportStats& x) { return x.buffered_records; });
  per_receiver("sluice_syslog_connected", "gauge", "1 while connected to the syslog receiver",
               [](const SyslogExportStats& x) { return uint64_t{x.connected}; });
  const PolicyView p = s.policy();
  const ReloadState r = s.reload_state();
  m.family("sluice_policy_generation", "gauge", "policies published since start (1: the first)");
  m.sample("sluice_policy_generation", "", p.generation);
  m.family("sluice_policy_loaded_timestamp_seconds", "gauge",
           "when the running policy was published (Unix time)");
  m.sample("sluice_policy_loaded_timestamp_seconds", "",
           p.published_at == absl::InfinitePast() ? 0.0 : absl::ToDoubleSeconds(p.published_at - absl::UnixEpoch()));
  m.family("sluice_policy_reloads_total", "counter", "policy reloads, by result");
  m.sample("sluice_policy_reloads_total", "result=\"ok\"", r.succeeded);
  m.sample("sluice_policy_reloads_total", "result=\"failed\"", r.failed);
  return m.take();
}

void add_core_endpoints(ApiRouter& router, const ApiSources& s, const ApiLimits& limits) {
  router.add("GET", "/v1/status", 0, [s](const ApiRequest&) {
    return json_response(200, render_status(s, absl::Now()));
  });
  router.add("GET", "/v1/stats", 0, [s](const ApiRequest&) {
    const auto [latest, previous] = s.state->read();
    if (latest.at == absl::InfinitePast()) return not_ready();
    return json_response(200, render_stats(latest, previous));
  });
  router.add("GET", "/metrics", 0, [s](const ApiRequest&) {
    ApiResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(s, absl::Now());
    return r;
  });
  router.add("GET", "/v1/policy", 0, [s](const ApiRequest&) {
    return json_response(200, render_policy(s));
  });
  router.add("POST", "/v1/policy/reload", limits.max_json_body,
             [s](const ApiRequest& request) { return handle_reload(s, request); });
}

}  // namespace sluice
