// sluicectl top: a view that refreshes until interrupted — flows per second by verdict, packet
// rates, drops, the top server names of the last minute and the anomalies seen.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "ctl/commands.h"
#include "ctl/table.h"

namespace sluice::ctl {
namespace {

using nlohmann::json;

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

absl::Time sample_time(const json& stats) {
  absl::Time t = absl::InfinitePast();
  std::string err;
  absl::ParseTime(absl::RFC3339_full, stats.at("sampled_at").get<std::string>(), &t, &err);
  return t;
}

std::map<std::string, uint64_t> counts(const json& object) {
  std::map<std::string, uint64_t> out;
  for (const auto& [k, v] : object.items()) out[k] = v.get<uint64_t>();
  return out;
}

// Per-second change of each count between two samples.
std::map<std::string, double> rates(const std::map<std::string, uint64_t>& now,
                                    const std::map<std::string, uint64_t>& before, double seconds) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : now) {
    const auto it = before.find(k);
    const uint64_t b = it == before.end() ? 0 : it->second;
    out[k] = seconds > 0 && v >= b ? (v - b) / seconds : 0;
  }
  return out;
}

}  // namespace

int top_command(const Context& ctx, const TopOptions& o) {
  struct sigaction sa = {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const bool tty = isatty(STDOUT_FILENO);
  json previous;
  std::map<std::string, double> verdict_rates, anomaly_rates;
  for (int frame = 0; !g_interrupted && (o.iterations == 0 || frame < o.iterations); ++frame) {
    absl::StatusOr<ApiReply> stats = ctx.client.call("GET", "/v1/stats");
    absl::StatusOr<ApiReply> names = ctx.client.call(
        "GET", with_query("/v1/top/sni", {{"window", o.window}, {"limit", "10"}}));
    for (const auto* r : {&stats, &names}) {
      if (!r->ok()) {
        std::cerr << "sluicectl: " << r->status().message() << "\n";
        return kExitUnreachable;
      }
      if ((*r)->status >= 400) {
        std::cerr << "sluicectl: " << error_message(**r) << "\n";
        return (*r)->status >= 500 ? kExitFailed : kExitRefused;
      }
    }
    const json s = json::parse(stats->body, nullptr, false);
    const json n = json::parse(names->body, nullptr, false);
    std::string out;
    try {
      const json& totals = s.at("totals");
      if (!previous.is_null()) {
        const double seconds = absl::ToDoubleSeconds(sample_time(s) - sample_time(previous));
        if (seconds > 0) {
          verdict_rates = rates(counts(totals.at("flows_by_verdict")),
                                counts(previous.at("totals").at("flows_by_verdict")), seconds);
          anomaly_rates = rates(counts(totals.at("flows_by_anomaly")),
                                counts(previous.at("totals").at("flows_by_anomaly")), seconds);
        }
      }
      absl::StrAppend(&out, "sluice top: every ", o.interval_seconds, " s, Ctrl-C to stop   ",
                      s.at("sampled_at").get<std::string>(), "\n\n");
      absl::StrAppend(&out, "flows/s  ");
      for (const char* v : {"pass", "block", "intercept"})
        absl::StrAppend(&out, v, " ", previous.is_null() ? "-" : human_count(verdict_rates[v]), "   ");
      absl::StrAppend(&out, "\n");
      if (!s.at("rates").is_null()) {
        const json& r = s.at("rates").at("totals_per_second");
        absl::StrAppend(&out, "packets/s  rx ", human_count(r.value("rx_packets", 0.0)), "   tx ",
                        human_count(r.value("tx_packets", 0.0)), "   new flows ",
                        human_count(r.value("flows_created", 0.0)), "\n");
      }
      uint64_t dropped = 0;
      for (const auto& [k, v] : s.at("drops").items())
        if (k != "flows_evicted") dropped += v.get<uint64_t>();
      absl::StrAppend(&out, "drops and overflows since start: ", dropped,
                      dropped ? "  (sluicectl stats lists them)" : "", "\n\n");
      Table t({"NAME", "FLOWS", "BLOCKED", "BYTES"});
      for (const json& row : n.at("names"))
        t.add({row.at("name").get<std::string>(), std::to_string(row.at("flows").get<uint64_t>()),
               std::to_string(row.at("blocked").get<uint64_t>()),
               human_bytes(row.at("bytes").get<double>())});
      absl::StrAppend(&out, "top names, last ", n.at("window_seconds").get<int64_t>(), " s\n",
                      t.empty() ? "(none yet)\n" : t.render(), "\n");
      Table a({"ANOMALY", "FLOWS", "PER SECOND"});
      for (const auto& [k, v] : counts(totals.at("flows_by_anomaly")))
        a.add({k, std::to_string(v), previous.is_null() ? "-" : human_count(anomaly_rates[k])});
      absl::StrAppend(&out, a.empty() ? "no anomalies\n" : a.render());
    } catch (const json::exception& e) {
      std::cerr << "sluicectl: unexpected answer from sluice (" << e.what() << ")\n";
      return kExitFailed;
    }
    if (tty) std::cout << "\033[H\033[2J";
    std::cout << out << (tty ? "" : "\n") << std::flush;
    previous = s;
    const auto until = std::chrono::steady_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(o.interval_seconds * 1000));
    while (!g_interrupted && std::chrono::steady_clock::now() < until &&
           (o.iterations == 0 || frame + 1 < o.iterations))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return kExitOk;
}

}  // namespace sluice::ctl
