// The /sluice/* telemetry commands through DPDK's real telemetry socket, as dpdk-telemetry.py
// or the live tests read them: connect, read the greeting, send a command, parse the JSON.
#include "dataplane/dpdk/telemetry.h"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/dataplane/dpdk_rcu/test_policy.h"

namespace sluice {
namespace {

using nlohmann::json;

class TelemetryClient {
 public:
  TelemetryClient() {
    const std::string path = absl::StrCat(rte_eal_get_runtime_dir(), "/dpdk_telemetry.v2");
    fd_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ADD_FAILURE() << "connect " << path << ": " << std::strerror(errno)
                    << " (is the EAL running with telemetry?)";
      return;
    }
    greeting_ = receive();
  }
  ~TelemetryClient() {
    if (fd_ >= 0) close(fd_);
  }

  const json& greeting() const { return greeting_; }

  // The command's answer: the value under the command's name in the reply.
  json command(const std::string& cmd) {
    if (send(fd_, cmd.data(), cmd.size(), 0) != static_cast<ssize_t>(cmd.size())) {
      ADD_FAILURE() << "send " << cmd << ": " << std::strerror(errno);
      return nullptr;
    }
    json reply = receive();
    const std::string key = cmd.substr(0, cmd.find(','));
    if (!reply.is_object() || !reply.contains(key)) {
      ADD_FAILURE() << cmd << " answered " << reply.dump();
      return nullptr;
    }
    return reply[key];
  }

 private:
  json receive() {
    std::string buf(64 * 1024, '\0');
    const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) {
      ADD_FAILURE() << "recv: " << (n == 0 ? "closed" : std::strerror(errno));
      return nullptr;
    }
    buf.resize(static_cast<size_t>(n));
    json parsed = json::parse(buf, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << buf;
    return parsed;
  }

  int fd_ = -1;
  json greeting_;
};

std::unique_ptr<TelemetryRegistration> install(TelemetrySources sources) {
  auto r = TelemetryRegistration::install(std::move(sources));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *std::move(r) : nullptr;
}

class TelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Worker 0 and 1 have published; worker 2 has not yet.
    WorkerStats a;
    a.rx_packets = 100;
    a.rx_bytes = 64000;
    a.flows_created = 7;
    a.audit_dropped = 2;
    a.count_malformed(Malformed::kTcpBadChecksum);
    a.count_malformed(Malformed::kIpv4Truncated);
    WorkerStats b;
    b.rx_packets = 50;
    b.flows_evicted = 9;
    b.count_malformed(Malformed::kTcpBadChecksum);
    boxes_[0].publish(a, WorkerGauges{.held_frames = 1, .active_flows = 10, .idle_sleeps = 3});
    boxes_[1].publish(b, WorkerGauges{.held_frames = 2, .active_flows = 20, .idle_sleeps = 4});
  }

  std::array<StatsMailbox, 3> boxes_;
};

TEST_F(TelemetryTest, StatsSumEveryWorkerByCounterName) {
  auto reg = install({.workers = boxes_});
  ASSERT_NE(reg, nullptr);
  TelemetryClient client;
  EXPECT_TRUE(client.greeting().contains("max_output_len")) << client.greeting().dump();

  json stats = client.command("/sluice/stats");
  EXPECT_EQ(stats["rx_packets"], 150);
  EXPECT_EQ(stats["rx_bytes"], 64000);
  EXPECT_EQ(stats["flows_created"], 7);
  EXPECT_EQ(stats["flows_evicted"], 9);
  EXPECT_EQ(stats["audit_dropped"], 2);
  EXPECT_EQ(stats["malformed"], 3);
  EXPECT_EQ(stats["held_frames"], 3);
  EXPECT_EQ(stats["active_flows"], 30);
  EXPECT_EQ(stats["idle_sleeps"], 7);
  EXPECT_EQ(stats["workers"], 3);
  EXPECT_EQ(stats["workers_reporting"], 2);
  // Every counter of the X-macro table is there, zero or not.
  WorkerStats().for_each_counter([&](const char* name, const char*, uint64_t) {
    EXPECT_TRUE(stats.contains(name)) << name << " missing from " << stats.dump();
  });
  const json& reasons = stats["malformed_by_reason"];
  ASSERT_TRUE(reasons.is_object()) << stats.dump();
  EXPECT_EQ(reasons.size(), static_cast<size_t>(Malformed::kCount));
  EXPECT_EQ(reasons["tcp_bad_checksum"], 2);
  EXPECT_EQ(reasons["ipv4_truncated"], 1);
  EXPECT_EQ(reasons["udp_bad_length"], 0);
}

TEST_F(TelemetryTest, WorkersOneByOneOrAll) {
  auto reg = install({.workers = boxes_});
  ASSERT_NE(reg, nullptr);
  TelemetryClient client;

  json all = client.command("/sluice/workers");
  ASSERT_TRUE(all.is_object()) << all.dump();
  EXPECT_EQ(all.size(), 3u);
  EXPECT_EQ(all["0"]["rx_packets"], 100);
  EXPECT_EQ(all["0"]["updates"], 1);
  EXPECT_EQ(all["0"]["malformed/tcp_bad_checksum"], 1);
  EXPECT_EQ(all["0"]["malformed/ipv4_truncated"], 1);
  EXPECT_FALSE(all["0"].contains("malformed/udp_bad_length")) << "zero reasons are left out";
  EXPECT_EQ(all["1"]["rx_packets"], 50);
  EXPECT_EQ(all["1"]["active_flows"], 20);
  // A worker that never published shows only that.
  EXPECT_EQ(all["2"], json({{"updates", 0}}));

  boxes_[1].publish(WorkerStats{}, WorkerGauges{});
  json one = client.command("/sluice/workers,1");
  EXPECT_EQ(one.size(), 1u) << one.dump();
  EXPECT_EQ(one["1"]["updates"], 2);
  EXPECT_EQ(one["1"]["rx_packets"], 0);
  // Out of range or not a number: telemetry's null answer.
  EXPECT_TRUE(client.command("/sluice/workers,3").is_null());
  EXPECT_TRUE(client.command("/sluice/workers,x").is_null());
}

TEST_F(TelemetryTest, PolicyShowsWhatIsRunning) {
  test::TempDir dir;
  auto pub = PolicyPublisher::create(1);
  ASSERT_TRUE(pub.ok()) << pub.status();
  auto reg = install({.workers = boxes_, .policy = pub->get()});
  ASSERT_NE(reg, nullptr);
  TelemetryClient client;

  json none = client.command("/sluice/policy");
  EXPECT_EQ(none["generation"], 0);
  EXPECT_EQ(none["published_at"], "");

  ASSERT_TRUE(
      (*pub)->publish(test::compile_generation(dir.path(), 41), Verdict::kPass, "first").ok());
  // Quotes and backslashes in a description must not break the JSON.
  const std::string description = R"(/etc/sluice/"school" \ reload 2)";
  ASSERT_TRUE(
      (*pub)->publish(test::compile_generation(dir.path(), 42), Verdict::kPass, description).ok());
  json policy = client.command("/sluice/policy");
  EXPECT_EQ(policy["generation"], 2);
  EXPECT_EQ(policy["policy_generation"], 42);
  EXPECT_EQ(policy["description"], description);
  EXPECT_EQ(policy["published"], 2);
  EXPECT_EQ(policy["pending_reclaim"], 0) << "no worker online: the first bundle went at once";
  EXPECT_EQ(policy["reclaimed"], 1);
  ASSERT_TRUE(policy["summary"].is_string());
  EXPECT_NE(policy["summary"].get<std::string>().find("policy generation 42"), std::string::npos);
  absl::Time at;
  std::string error;
  ASSERT_TRUE(
      absl::ParseTime(absl::RFC3339_full, policy["published_at"].get<std::string>(), &at, &error))
      << error << ": " << policy.dump();
  EXPECT_EQ(at, (*pub)->current().published_at);
}

TEST_F(TelemetryTest, PortsComeFromTheCallersHook) {
  auto reg = install({.workers = boxes_});
  ASSERT_NE(reg, nullptr);
  TelemetryClient client;
  EXPECT_EQ(client.command("/sluice/ports"), json::object());

  reg->set_ports_hook([] {
    return std::vector<TelemetryPort>{
        {"inside", {{"ipackets", 5}, {"imissed", 1}}},
        {"0000:01:00.0", {{"rx-nombuf", 2}}},
    };
  });
  json ports = client.command("/sluice/ports");
  EXPECT_EQ(ports["inside"]["ipackets"], 5);
  EXPECT_EQ(ports["inside"]["imissed"], 1);
  EXPECT_EQ(ports["0000_01_00_0"]["rx_nombuf"], 2) << ports.dump();
}

TEST_F(TelemetryTest, OneRegistrationAtATimeAndAnErrorWhenNone) {
  auto reg = install({.workers = boxes_});
  ASSERT_NE(reg, nullptr);
  auto second = TelemetryRegistration::install({.workers = boxes_});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();

  reg.reset();
  TelemetryClient client;
  json stats = client.command("/sluice/stats");
  ASSERT_TRUE(stats.contains("error")) << stats.dump();
  EXPECT_FALSE(stats.contains("rx_packets"));
  EXPECT_TRUE(client.command("/sluice/policy").contains("error"));

  // Installing again works and answers again.
  reg = install({.workers = boxes_});
  ASSERT_NE(reg, nullptr);
  EXPECT_EQ(client.command("/sluice/stats")["rx_packets"], 150);
}

TEST(TelemetryKeyTest, KeepsWhatTelemetryAcceptsOnly) {
  EXPECT_EQ(telemetry_key("rx_packets"), "rx_packets");
  EXPECT_EQ(telemetry_key("malformed/tcp_bad_checksum"), "malformed/tcp_bad_checksum");
  EXPECT_EQ(telemetry_key("0000:01:00.0 rx-nombuf"), "0000_01_00_0_rx_nombuf");
}

}  // namespace
}  // namespace sluice
