// The endpoints' bodies from a known sample: every worker counter of stats.h reaches /metrics and
// /v1/stats, rates come from the previous sample, and the reload answers map onto 200/409/422.
#include "control/api/endpoints.h"

#include <cctype>
#include <cstdlib>
#include <set>
#include <sstream>

#include "dataplane/core/anomaly.h"
#include "dataplane/core/verdict.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

ControlSample sample_at(absl::Time at, uint64_t scale) {
  ControlSample s;
  s.at = at;
  for (uint32_t w = 0; w < 2; ++w) {
    WorkerView v;
    v.id = w;
    v.lcore = w + 1;
    v.updates = 10;
    v.stats.rx_packets = 100 * scale * (w + 1);
    v.stats.rx_bytes = 1000 * scale;
    v.stats.audit_dropped = w;
    v.stats.count_malformed(Malformed::kTcpBadChecksum);
    v.stats.flows_by_verdict[static_cast<size_t>(Verdict::kBlock)] = 3;
    v.stats.flows_by_anomaly[static_cast<size_t>(Anomaly::kSniEmpty)] = 1;
    v.active_flows = 7;
    s.total.add(v.stats);
    s.workers.push_back(v);
  }
  SyslogReceiverView receiver;
  receiver.address = "192.0.2.10:514";
  receiver.stats.queued = 40 * scale;
  receiver.stats.dropped = 5;
  receiver.stats.connected = true;
  s.syslog.push_back(receiver);
  PortView p;
  p.name = "inside";
  p.device = "net_null0";
  p.readable = true;
  p.link_up = true;
  p.link_speed_mbps = 10000;
  p.rx_bytes = 1000 * scale;
  s.ports.push_back(p);
  PortView broken;
  broken.name = "outside";
  broken.error = "cannot read the link";
  s.ports.push_back(broken);
  return s;
}

// NAME{key="value",...} NUMBER, or NAME NUMBER (exposition format 0.0.4, as /metrics writes it).
bool sample_line(const std::string& line, std::string& name) {
  // Metric names: [a-zA-Z_:][a-zA-Z0-9_:]* in the exposition format; ours are lower case.
  size_t i = 0;
  while (i < line.size() && (std::islower(static_cast<unsigned char>(line[i])) || line[i] == '_' ||
                             (i > 0 && std::isdigit(static_cast<unsigned char>(line[i])))))
    ++i;
  if (i == 0) return false;
  name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    for (;;) {
      const size_t key = i + 1;
      while (i + 1 < line.size() && (std::islower(static_cast<unsigned char>(line[i + 1])) || line[i + 1] == '_')) ++i;
      if (i + 1 == key || line.compare(i + 1, 2, "=\"") != 0) return false;
      const size_t close = line.find('"', i + 3);
      if (close == std::string::npos) return false;
      i = close + 1;
      if (i < line.size() && line[i] == ',') continue;
      if (i >= line.size() || line[i] != '}') return false;
      ++i;
      break;
    }
  }
  if (i >= line.size() || line[i] != ' ') return false;
  const char* number = line.c_str() + i + 1;
  char* end = nullptr;
  std::strtod(number, &end);
  return end != number && *end == '\0';
}

class EndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
    state_.publish(sample_at(t0, 1));
    state_.publish(sample_at(t0 + absl::Seconds(2), 3));
    sources_.version = "sluice test";
    sources_.mode = "inline";
    sources_.config_path = "/etc/sluice/sluice.yaml";
    sources_.started_at = t0 - absl::Seconds(60);
    sources_.state = &state_;
    sources_.policy = [] {
      PolicyView p;
      p.generation = 4;
      p.source = "/etc/sluice/sluice.yaml";
      p.description = "/etc/sluice/sluice.yaml (load 4)";
      p.summary = "2 rules";
      p.published_at = absl::FromUnixSeconds(1'800'000'000);
      return p;
    };
    sources_.reload_state = [this] { return reload_state_; };
    sources_.reload = [this](std::string origin) -> absl::StatusOr<ReloadResult> {
      if (busy_) return absl::UnavailableError("reload 7 (api) is still building");
      ReloadResult r;
      r.number = 8;
      r.origin = origin;
      r.ok = reload_ok_;
      r.message = reload_ok_ ? "" : "lists/x.txt:3: 'a..b' is not a host name";
      r.generation = 4;
      r.started = absl::FromUnixSeconds(1'800'000'000);
      r.finished = r.started + absl::Milliseconds(250);
      return r;
    };
    add_core_endpoints(router_, sources_, ApiLimits{});
  }

  ApiResponse call(const std::string& method, const std::string& path, std::string body = "") {
    ApiResponse error;
    const ApiRouter::Route* route = router_.find(method, path, error);
    if (route == nullptr) return error;
    ApiRequest r;
    r.method = method;
    r.path = path;
    r.body = std::move(body);
    return route->handler(r);
  }

  ControlState state_;
  ApiSources sources_;
  ReloadState reload_state_;
  bool busy_ = false;
  bool reload_ok_ = true;
  ApiRouter router_;
};

TEST_F(EndpointsTest, StatsHasTotalsWorkersPortsDropsAndRates) {
  const ApiResponse r = call("GET", "/v1/stats");
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["totals"]["rx_packets"], 300 * 3);
  EXPECT_EQ(j["totals"]["malformed_by_reason"]["tcp_bad_checksum"], 2);
  EXPECT_EQ(j["totals"]["flows_by_verdict"]["block"], 6);
  EXPECT_EQ(j["totals"]["flows_by_anomaly"]["sni_empty"], 2);
  EXPECT_EQ(j["drops"]["audit_dropped"], 1);
  EXPECT_EQ(j["drops"]["syslog_dropped"], 5);
  EXPECT_EQ(j["audit"]["syslog"][0]["address"], "192.0.2.10:514");
  EXPECT_EQ(j["audit"]["syslog"][0]["queued"], 120);
  EXPECT_EQ(j["audit"]["syslog"][0]["connected"], true);
  EXPECT_EQ(j["workers"].size(), 2u);
  EXPECT_EQ(j["workers"][1]["counters"]["rx_packets"], 600);
  EXPECT_EQ(j["ports"][1]["error"], "cannot read the link");
  // (900 - 300) packets over 2 s.
  EXPECT_DOUBLE_EQ(j["rates"]["interval_seconds"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(j["rates"]["totals_per_second"]["rx_packets"].get<double>(), 300.0);
  EXPECT_DOUBLE_EQ(j["rates"]["ports"][0]["rx_bits_per_second"].get<double>(), 8 * 1000.0);
  // Every counter of stats.h is there.
  WorkerStats().for_each_counter([&](const char* name, const char*, uint64_t) {
    EXPECT_TRUE(j["totals"].contains(name)) << name;
    EXPECT_TRUE(j["rates"]["totals_per_second"].contains(name)) << name;
  });
}

TEST_F(EndpointsTest, MetricsAreValidExpositionWithEveryCounter) {
  const ApiResponse r = call("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  std::set<std::string> help, type;
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      help.insert(line.substr(7, line.find(' ', 7) - 7));
    } else if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(type.insert(name).second) << "TYPE twice: " << name;
      if (line.ends_with(" counter")) {
        EXPECT_TRUE(name.ends_with("_total")) << line;
      }
    } else {
      std::string name;
      ASSERT_TRUE(sample_line(line, name)) << line;
      EXPECT_TRUE(type.count(name)) << "sample before its TYPE: " << line;
    }
  }
  EXPECT_EQ(help, type);
  WorkerStats().for_each_counter([&](const char* name, const char*, uint64_t) {
    EXPECT_TRUE(type.count(std::string("sluice_") + name + "_total")) << name;
  });
  EXPECT_NE(r.body.find("sluice_rx_packets_total{worker=\"1\"} 600\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("sluice_flows_by_verdict_total{worker=\"0\",verdict=\"block\"} 3\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("sluice_port_link_speed_bits_per_second{port=\"inside\"} 10000000000\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("sluice_policy_loaded_timestamp_seconds 1800000000\n"), std::string::npos)
      << "every digit of a timestamp";
  const std::string later = render_metrics(sources_, sources_.started_at + absl::Milliseconds(62500));
  EXPECT_NE(later.find("sluice_uptime_seconds 62.5\n"), std::string::npos) << later.substr(0, 300);
  EXPECT_EQ(r.body.find("port=\"outside\""), std::string::npos) << "an unreadable port has no samples";
  EXPECT_NE(r.body.find("sluice_policy_generation 4\n"), std::string::npos);
  EXPECT_NE(r.body.find("sluice_syslog_records_dropped_total{receiver=\"192.0.2.10:514\"} 5\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("sluice_syslog_connected{receiver=\"192.0.2.10:514\"} 1\n"),
            std::string::npos);
}

TEST(SampleLine, TheCheckerRefusesWhatIsNotASample) {
  std::string name;
  EXPECT_TRUE(sample_line("sluice_up 1", name));
  EXPECT_TRUE(sample_line("a_total{worker=\"0\",reason=\"x y\"} 1e+10", name));
  EXPECT_EQ(name, "a_total");
  for (const char* bad : {"sluice_up", "sluice_up one", "Sluice 1", "a{worker=0} 1",
                          "a{worker=\"0\" 1", "a{=\"0\"} 1", "a 1 2"})
    EXPECT_FALSE(sample_line(bad, name)) << bad;
}

TEST_F(EndpointsTest, StatusNamesVersionUptimePortsWorkersPolicy) {
  const nlohmann::json j = nlohmann::json::parse(render_status(sources_, sources_.started_at + absl::Seconds(90)));
  EXPECT_EQ(j["version"], "sluice test");
  EXPECT_EQ(j["uptime_seconds"], 90);
  EXPECT_EQ(j["ports"][0]["link_up"], true);
  EXPECT_EQ(j["ports"][0]["link_speed_mbps"], 10000);
  EXPECT_EQ(j["workers"][1]["lcore"], 2);
  EXPECT_EQ(j["policy"]["generation"], 4);
  EXPECT_EQ(j["policy"]["loaded_at"], "2027-01-15T08:00:00.000Z");
}

TEST_F(EndpointsTest, ReloadAnswers200409422And400) {
  ApiResponse r = call("POST", "/v1/policy/reload");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["reload"]["origin"], "api");
  reload_ok_ = false;
  r = call("POST", "/v1/policy/reload", "{}");
  EXPECT_EQ(r.status, 422);
  nlohmann::json j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["error"]["status"], 422);
  EXPECT_NE(j["error"]["message"].get<std::string>().find("lists/x.txt:3:"), std::string::npos);
  busy_ = true;
  r = call("POST", "/v1/policy/reload");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.body.find("still building"), std::string::npos);
  EXPECT_EQ(call("POST", "/v1/policy/reload", "{\"x\":1}").status, 400);
  EXPECT_EQ(call("POST", "/v1/policy/reload", "nope").status, 400);
}

TEST_F(EndpointsTest, StatsBeforeTheFirstSampleIs503) {
  ControlState empty;
  sources_.state = &empty;
  ApiRouter router;
  add_core_endpoints(router, sources_, ApiLimits{});
  ApiResponse error;
  const ApiRouter::Route* route = router.find("GET", "/v1/stats", error);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->handler(ApiRequest{}).status, 503);
}

}  // namespace
}  // namespace sluice
