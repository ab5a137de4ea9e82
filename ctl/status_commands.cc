// sluicectl status | stats | metrics.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "ctl/commands.h"
#include "ctl/table.h"

namespace sluice::ctl {
namespace {

using nlohmann::json;

std::string duration_text(int64_t s) {
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 7200) return absl::StrCat(s / 60, "m");
  if (s < 172800) return absl::StrCat(s / 3600, "h ", (s % 3600) / 60, "m");
  return absl::StrCat(s / 86400, "d ", (s % 86400) / 3600, "h");
}

}  // namespace

int status_command(const Context& ctx) {
  return request(ctx, "GET", "/v1/status", "", [](const json& j) {
    std::cout << "sluice " << json_text(j.at("version")) << ", " << json_text(j.at("mode"))
              << " mode, up " << duration_text(j.at("uptime_seconds").get<int64_t>())
              << " (since " << json_text(j.at("started_at")) << ")\n"
              << "config  " << json_text(j.at("config")) << "\n"
              << "policy  generation " << json_text(j.at("policy").at("generation")) << ", loaded "
              << json_text(j.at("policy").at("loaded_at")) << " from " << json_text(j.at("policy").at("source"))
              << "\n\n";
    Table ports({"PORT", "DEVICE", "LINK", "SPEED"});
    for (const json& p : j.at("ports")) {
      if (p.contains("error")) {
        ports.add({json_text(p.at("name")), json_text(p.at("device")), "unreadable: " + json_text(p.at("error")), ""});
        continue;
      }
      ports.add({json_text(p.at("name")), json_text(p.at("device")), p.at("link_up").get<bool>() ? "up" : "DOWN",
                 p.at("link_speed_mbps").get<uint64_t>() ? absl::StrCat(p.at("link_speed_mbps").get<uint64_t>(), " Mb/s") : "-"});
    }
    std::cout << ports.render() << "\n";
    Table workers({"WORKER", "LCORE", "REPORTING", "ACTIVE FLOWS", "HELD FRAMES"});
    for (const json& w : j.at("workers"))
      workers.add({json_text(w.at("id")), json_text(w.at("lcore")), json_text(w.at("reporting")),
                   json_text(w.at("active_flows")), json_text(w.at("held_frames"))});
    std::cout << workers.render();
  });
}

int stats_command(const Context& ctx) {
  return request(ctx, "GET", "/v1/stats", "", [](const json& j) {
    const json& totals = j.at("totals");
    const json* rates = j.at("rates").is_null() ? nullptr : &j.at("rates").at("totals_per_second");
    std::cout << "sampled " << json_text(j.at("sampled_at")) << "\n\n";
    Table verdicts({"VERDICT", "FLOWS"});
    for (const auto& [v, n] : totals.at("flows_by_verdict").items()) verdicts.add({v, json_text(n)});
    std::cout << verdicts.render() << "\n";
    Table counters({"COUNTER", "TOTAL", "PER SECOND"});
    for (const auto& [name, value] : totals.items()) {
      if (!value.is_number() || value.get<uint64_t>() == 0) continue;
      std::string rate = "-";
      if (rates != nullptr && rates->contains(name)) rate = human_count(rates->at(name).get<double>());
      counters.add({name, json_text(value), rate});
    }
    std::cout << counters.render() << "\n";
    Table drops({"DROPS AND OVERFLOWS", "TOTAL"});
    for (const auto& [name, value] : j.at("drops").items()) drops.add({name, json_text(value)});
    std::cout << drops.render();
    if (!totals.at("flows_by_anomaly").empty()) {
      Table anomalies({"ANOMALY", "FLOWS"});
      for (const auto& [a, n] : totals.at("flows_by_anomaly").items()) anomalies.add({a, json_text(n)});
      std::cout << "\n" << anomalies.render();
    }
    if (!totals.at("malformed_by_reason").empty()) {
      Table malformed({"MALFORMED", "PACKETS"});
      for (const auto& [r, n] : totals.at("malformed_by_reason").items()) malformed.add({r, json_text(n)});
      std::cout << "\n" << malformed.render();
    }
  });
}

int metrics_command(const Context& ctx) {
  absl::StatusOr<ApiReply> reply = ctx.client.call("GET", "/metrics");
  if (!reply.ok()) {
    std::cerr << "sluicectl: " << reply.status().message() << "\n";
    return kExitUnreachable;
  }
  if (reply->status >= 400) {
    std::cerr << "sluicectl: GET /metrics: " << error_message(*reply) << "\n";
    return reply->status >= 500 ? kExitFailed : kExitRefused;
  }
  std::cout << reply->body;  // Prometheus text: the same for people and scripts
  return kExitOk;
}

}  // namespace sluice::ctl
