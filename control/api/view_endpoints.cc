#include "control/api/view_endpoints.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/api/json_body.h"
#include "control/audit_json.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

using nlohmann::json;

constexpr size_t kMaxFlowsLimit = 10000;
constexpr size_t kMaxNamesLimit = 1000;

std::string ip_text(const IpAddress& ip) { return ip.to_string(); }

// A positive integer parameter within [1, max], or the default when absent.
bool limit_param(const ApiRequest& r, size_t fallback, size_t max, size_t& out,
                 ApiResponse& error) {
  auto it = r.query.find("limit");
  if (it == r.query.end()) {
    out = fallback;
    return true;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(av(it->second), &v) || v == 0 || v > max) {
    error = error_response(400, absl::StrCat("limit: '", it->second,
                                             "' is not a whole number from 1 to ", max));
    return false;
  }
  out = static_cast<size_t>(v);
  return true;
}

ApiResponse unknown_parameters(const ApiRequest& r, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : r.query) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (!ok) {
      std::string list;
      for (std::string_view k : known) absl::StrAppend(&list, list.empty() ? "" : ", ", av(k));
      return error_response(400, absl::StrCat("unknown parameter '", key, "' (known: ", list, ")"));
    }
  }
  return ApiResponse{0};
}

json flow_json(const LiveFlow& f, uint64_t now_ns) {
  return {{"flow_id", f.flow_id},
          {"worker", f.worker},
          {"client_ip", ip_text(f.client.ip)},
          {"client_port", f.client.port},
          {"server_ip", ip_text(f.server.ip)},
          {"server_port", f.server.port},
          {"transport", f.transport == 6 ? "tcp" : f.transport == 17 ? "udp" : "other"},
          {"vlan", f.vlan},
          {"sni", f.server_name.empty() ? json(nullptr) : json(f.server_name)},
          {"first_flight", first_flight_name(f.first_flight)},
          {"verdict", verdict_name(f.verdict)},
          {"rule", f.rule},
          {"started_at", rfc3339_micros(f.start_ns)},
          {"judged_at", rfc3339_micros(f.verdict_ns)},
          {"age_seconds", now_ns > f.start_ns ? (now_ns - f.start_ns) / 1'000'000'000 : 0}};
}

ApiResponse handle_flows(const LiveFlows& flows, const ApiRequest& r) {
  if (ApiResponse e = unknown_parameters(r, {"limit", "client", "sni", "verdict"}); e.status)
    return e;
  LiveFlowQuery q;
  ApiResponse error;
  if (!limit_param(r, 100, kMaxFlowsLimit, q.limit, error)) return error;
  if (auto it = r.query.find("client"); it != r.query.end()) {
    absl::StatusOr<Cidr> c = parse_cidr(it->second);
    if (!c.ok()) return error_response(400, absl::StrCat("client: ", c.status().message()));
    q.client = *c;
  }
  if (auto it = r.query.find("sni"); it != r.query.end()) {
    absl::StatusOr<NameEntry> n = parse_name_entry(it->second);
    if (!n.ok()) return error_response(400, absl::StrCat("sni: ", n.status().message()));
    q.name = *n;
  }
  if (auto it = r.query.find("verdict"); it != r.query.end()) {
    Verdict v;
    if (!parse_verdict(it->second, v))
      return error_response(400, absl::StrCat("verdict: '", it->second,
                                               "' is not one of pass, block, intercept"));
    q.verdict = v;
  }
  const LiveFlowSample s = flows.sample(q);
  const uint64_t now_ns = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  json list = json::array();
  for (const LiveFlow& f : s.flows) list.push_back(flow_json(f, now_ns));
  const json j = {{"flows", std::move(list)},
                  {"matched", s.matched},
                  {"tracked", s.tracked},
                  {"forgotten", s.forgotten},
                  {"note", "open flows from their verdict to their close, newest verdict first; "
                           "flows still in their first flight are not listed"}};
  return json_response(200, dump_json(j));
}

ApiResponse handle_top(const TopNames& names, const ApiRequest& r) {
  if (ApiResponse e = unknown_parameters(r, {"window", "limit", "by"}); e.status) return e;
  size_t limit = 0;
  ApiResponse error;
  if (!limit_param(r, 20, kMaxNamesLimit, limit, error)) return error;
  absl::Duration window = absl::Minutes(5);
  if (auto it = r.query.find("window"); it != r.query.end()) {
    if (!absl::ParseDuration(it->second, &window) || window <= absl::ZeroDuration())
      return error_response(400, absl::StrCat("window: '", it->second,
                                               "' is not a positive duration such as 1m, 15m, 1h"));
    if (window > names.longest_window())
      return error_response(400, absl::StrCat("window: at most ",
                                               absl::FormatDuration(names.longest_window()),
                                               " is kept"));
  }
  TopNamesOrder order = TopNamesOrder::kFlows;
  if (auto it = r.query.find("by"); it != r.query.end()) {
    if (it->second == "bytes") {
      order = TopNamesOrder::kBytes;
    } else if (it->second != "flows") {
      return error_response(400, absl::StrCat("by: '", it->second, "' is not flows or bytes"));
    }
  }
  const TopNamesResult t = names.top(window, limit, order, absl::Now());
  json rows = json::array();
  for (const TopNameRow& row : t.rows)
    rows.push_back({{"name", row.name}, {"flows", row.flows}, {"blocked", row.blocked},
                    {"bytes", row.bytes}});
  const json j = {{"window_seconds", absl::ToInt64Seconds(t.window)},
                  {"by", order == TopNamesOrder::kFlows ? "flows" : "bytes"},
                  {"names", std::move(rows)},
                  {"other", {{"flows", t.other.flows}, {"blocked", t.other.blocked}, {"bytes", t.other.bytes}}},
                  {"flows_without_name", t.flows_without_name},
                  {"distinct_names", t.names},
                  {"note", "flows count when judged, bytes when the flow closes"}};
  return json_response(200, dump_json(j));
}

}  // namespace

void add_view_endpoints(ApiRouter& router, const LiveFlows& flows, const TopNames& names) {
  router.add("GET", "/v1/flows", 0, [&flows](const ApiRequest& r) { return handle_flows(flows, r); });
  router.add("GET", "/v1/top/sni", 0, [&names](const ApiRequest& r) { return handle_top(names, r); });
}

}  // namespace sluice
