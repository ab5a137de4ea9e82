#include "dataplane/config/run_config.h"
#include "tests/dataplane/config/minimal_config.h"

#include <yaml-cpp/yaml.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace sluice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::filesystem::path kSourceDir = std::filesystem::path(__FILE__).parent_path();
const std::filesystem::path kDataDir = kSourceDir / "../../data/config";
const std::filesystem::path kDeployDir = kSourceDir / "../../../deploy/config";

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The error message for `yaml`, which must be refused.
std::string error_of(const std::string& yaml) {
  absl::StatusOr<RunConfig> c = parse_run_config(yaml, "test.yaml");
  EXPECT_FALSE(c.ok()) << "accepted:\n" << yaml;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

TEST(RunConfig, MinimalConfigTakesTheDocumentedDefaults) {
  absl::StatusOr<RunConfig> c = parse_run_config(test::kMinimalConfig, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  // Values from deploy/config/REFERENCE.md.
  EXPECT_TRUE(c->eal.huge_pages);
  EXPECT_EQ(c->eal.memory_mb, 0u);
  EXPECT_TRUE(c->eal.pci);
  EXPECT_EQ(c->eal.file_prefix, "sluice");
  EXPECT_TRUE(c->eal.extra_args.empty());
  EXPECT_EQ(c->mode, RunMode::kInline);
  EXPECT_EQ(c->lcores.management, 0u);
  EXPECT_THAT(c->lcores.workers, ElementsAre(1u));
  EXPECT_TRUE(c->lcores.cpus.empty());
  EXPECT_FALSE(c->lcores.idle_backoff.enabled);
  EXPECT_EQ(c->lcores.idle_backoff.empty_polls, 100u);
  EXPECT_EQ(c->lcores.idle_backoff.max_sleep_ns, 1'000'000u);
  EXPECT_EQ(c->queues.rx_descriptors, 1024);
  EXPECT_EQ(c->queues.tx_descriptors, 1024);
  EXPECT_EQ(c->queues.burst, 32);
  EXPECT_EQ(c->mempool.mbufs, 65535u);
  EXPECT_EQ(c->mempool.cache, 256u);
  EXPECT_EQ(c->mempool.data_room, 2176);
  EXPECT_EQ(c->inspector.flow_capacity, 65536u);
  EXPECT_EQ(c->inspector.timeouts.handshake_ns, 10'000'000'000u);
  EXPECT_EQ(c->inspector.timeouts.first_flight_ns, 10'000'000'000u);
  EXPECT_EQ(c->inspector.timeouts.established_ns, 300'000'000'000u);
  EXPECT_EQ(c->inspector.timeouts.closing_ns, 10'000'000'000u);
  EXPECT_EQ(c->inspector.timeouts.udp_ns, 60'000'000'000u);
  EXPECT_EQ(c->inspector.first_flight_buffers, 4096u);
  EXPECT_EQ(c->inspector.first_flight_byte_cap, 16384u);
  EXPECT_EQ(c->inspector.first_flight_time_cap_ns, 5'000'000'000u);
  EXPECT_EQ(c->inspector.checksum_mode, ChecksumMode::kOn);
  EXPECT_EQ(c->inspector.ip_reassembly.max_datagrams, 256u);
  EXPECT_EQ(c->inspector.ip_reassembly.max_datagram_bytes, 20480u);
  EXPECT_EQ(c->inspector.ip_reassembly.max_fragments, 64u);
  EXPECT_EQ(c->inspector.ip_reassembly.timeout_ns, 30'000'000'000u);
  EXPECT_TRUE(c->policy.rules.empty());
  EXPECT_EQ(c->policy.defaults.no_sni, Verdict::kPass);
  EXPECT_EQ(c->policy.defaults.non_tls_443, Verdict::kPass);
  EXPECT_EQ(c->policy.defaults.ech, Verdict::kPass);
  EXPECT_EQ(c->policy.defaults.incomplete, Verdict::kPass);
  EXPECT_TRUE(c->policy.defaults.anomalies.empty());
  EXPECT_EQ(c->policy.defaults.final, Verdict::kPass);
  EXPECT_EQ(c->policy.intercept_fallback, Verdict::kPass);
  EXPECT_EQ(c->policy.block_response, BlockResponse::kReset);
  EXPECT_EQ(c->policy.quic.verdict, Verdict::kPass);
  EXPECT_TRUE(c->policy.quic.clients.empty());
  EXPECT_FALSE(c->policy.quic.fallback_for_intercept);
  EXPECT_EQ(c->audit.ring_size, 16384u);
  EXPECT_TRUE(c->audit.files.empty());
  EXPECT_TRUE(c->stats.telemetry);
  EXPECT_TRUE(c->stats.print_on_exit);
  EXPECT_EQ(c->stats.log_interval_ns, 0u);
}

// Chromium's hellos all carry an ECH extension (GREASE): an `ech` default left out must not
// pass every browser flow that `final` would intercept or block.
TEST(RunConfig, AnEchDefaultLeftOutFollowsFinal) {
  for (const char* final_verdict : {"intercept", "block", "pass"}) {
    absl::StatusOr<RunConfig> c = parse_run_config(
        std::string(test::kMinimalConfig) + "policy:\n  defaults:\n    final: " + final_verdict + "\n",
        "test.yaml");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->policy.defaults.ech, c->policy.defaults.final) << final_verdict;
  }
  absl::StatusOr<RunConfig> c = parse_run_config(
      std::string(test::kMinimalConfig) + "policy:\n  defaults:\n    ech: pass\n    final: block\n",
      "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->policy.defaults.ech, Verdict::kPass);
  EXPECT_EQ(c->policy.defaults.final, Verdict::kBlock);
}

TEST(RunConfig, FileSinkDefaults) {
  absl::StatusOr<RunConfig> c = parse_run_config(
      std::string(test::kMinimalConfig) + "audit:\n  sinks:\n    - {type: file, path: /tmp/a.jsonl}\n",
      "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->audit.files.size(), 1u);
  EXPECT_EQ(c->audit.files[0].path, "/tmp/a.jsonl");
  EXPECT_EQ(c->audit.files[0].max_bytes, 256u << 20);
  EXPECT_EQ(c->audit.files[0].max_age_ns, 86'400'000'000'000u);
  EXPECT_EQ(c->audit.files[0].keep, 14u);
}

TEST(RunConfig, BypassStateFile) {
  absl::StatusOr<RunConfig> c = parse_run_config(test::kMinimalConfig, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bypass.state_file, "/var/lib/sluice/bypass.json");
  EXPECT_EQ(c->bypass.max_entries, 10000u);
  ConfigParseOptions options;
  options.base_dir = "/etc/sluice";
  c = parse_run_config(std::string(test::kMinimalConfig) +
                           "bypass: {state_file: state/bypass.json, max_entries: 50}\n",
                       "test.yaml", options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->bypass.state_file, "/etc/sluice/state/bypass.json") << "relative to the config";
  EXPECT_EQ(c->bypass.max_entries, 50u);
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "bypass: {state_file: /var/lib/}\n"),
            "test.yaml:11:22: bypass.state_file: expected a file name, not a directory");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "bypass: {max_entries: 0}\n"),
            "test.yaml:11:23: bypass.max_entries: 0 is out of range (1 to 1000000)");
  EXPECT_TRUE(c->bypass.learning.enabled) << "learning is on by default";
  EXPECT_EQ(c->bypass.learning.failures, 3u);
  auto learned = parse_run_config(std::string(test::kMinimalConfig) +
                       "bypass: {learning: {failures: 5, distinct_clients: 2, window: 2m, ttl: 168h, max_tracked: 20}}\n", "test.yaml");
  ASSERT_TRUE(learned.ok()) << learned.status();
  EXPECT_EQ(learned->bypass.learning.failures, 5u);
  EXPECT_EQ(learned->bypass.learning.window_ns, 120'000'000'000ULL);
  EXPECT_EQ(learned->bypass.learning.ttl_ns, 7 * 86'400'000'000'000ULL);
  EXPECT_EQ(learned->bypass.learning.max_tracked, 20u);
  EXPECT_EQ(learned->bypass.learning.distinct_clients, 2u);
  EXPECT_EQ(c->bypass.learning.distinct_clients, 1u) << "one client may teach it by default";
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) +
                     "bypass: {learning: {failures: 2, distinct_clients: 3}}\n"),
            "test.yaml:11:52: bypass.learning.distinct_clients: at most bypass.learning.failures "
            "(2): each client counted must have reported a failure");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "bypass: {learning: {ttl: 0s}}\n"),
            "test.yaml:11:26: bypass.learning.ttl: 0s is out of range (1m to 8760h)");
}

// `intercept`: a net_tap port in no pair, the appliance address, the handoff channel.
TEST(RunConfig, InterceptSection) {
  const std::string ports = R"(ports:
  - name: in
    device: "0000:3b:00.0"
  - name: out
    device: "0000:3b:00.1"
  - name: tap
    device: "net_tap0,iface=sluice0"
pairs:
  - inside: in
    outside: out
lcores:
  workers: [1]
)";
  absl::StatusOr<RunConfig> c = parse_run_config(ports, "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->intercept.enabled) << "no section: no interception";

  c = parse_run_config(ports + "intercept: {port: tap, address: 10.0.0.250}\n", "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->intercept.enabled);
  EXPECT_EQ(c->intercept.port, 2u);
  EXPECT_EQ(c->intercept.outside, 1u) << "the first pair's outside";
  EXPECT_EQ(c->intercept.address, (std::array<uint8_t, 4>{10, 0, 0, 250}));
  EXPECT_EQ(c->intercept.handoff_source, (std::array<uint8_t, 4>{169, 254, 77, 1}));
  EXPECT_EQ(c->intercept.handoff_port, 7301);
  EXPECT_EQ(c->intercept.liveness_ns, 2'000'000'000u);
  EXPECT_FALSE(c->intercept.has_address6) << "no address6: IPv6 flows are not handed over";

  c = parse_run_config(ports + "intercept:\n  port: tap\n  outside: out\n  address: 10.0.0.250\n"
                               "  address6: fd00:5c::250\n"
                               "  handoff: {source: 192.0.2.1, port: 9000, liveness: 500ms}\n",
                       "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->intercept.handoff_source, (std::array<uint8_t, 4>{192, 0, 2, 1}));
  EXPECT_EQ(c->intercept.handoff_port, 9000);
  EXPECT_EQ(c->intercept.liveness_ns, 500'000'000u);
  EXPECT_TRUE(c->intercept.has_address6);
  EXPECT_EQ(c->intercept.address6,
            (std::array<uint8_t, 16>{0xfd, 0, 0, 0x5c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x50}));
  EXPECT_EQ(error_of(ports + "intercept: {port: tap, address: 10.0.0.250, address6: 10.0.0.251}\n"),
            "test.yaml:13:55: intercept.address6: '10.0.0.251' is not an IPv6 address (e.g. "
            "fd00:5c::250)");
  EXPECT_EQ(error_of(ports + "intercept: {port: tap, address: 10.0.0.250, address6: \"fe80::1\"}\n"),
            "test.yaml:13:55: intercept.address6: 'fe80::1' cannot be the appliance's address: "
            "give a global or unique-local unicast address on the outside segment");

  EXPECT_EQ(error_of(ports + "intercept: {port: out, address: 10.0.0.250}\n"),
            "test.yaml:13:19: intercept.port: port 'out' is not a net_tap vdev (device: "
            "\"net_tap0,iface=sluice0\")\n"
            "test.yaml:13:19: intercept.port: port 'out' is in a pair; the TAP must be in none");
  EXPECT_EQ(error_of(ports + "intercept: {port: tap, address: 10.0.0.256}\n"),
            "test.yaml:13:33: intercept.address: '10.0.0.256' is not an IPv4 address (a.b.c.d)");
  EXPECT_EQ(error_of(ports + "intercept: {port: tap}\n"),
            "test.yaml:13:12: intercept: missing required key 'address'");
  EXPECT_EQ(error_of(ports + "intercept: {port: tap, outside: in, address: 10.0.0.250}\n"),
            "test.yaml:13:33: intercept.outside: port 'in' is not the outside of a pair");
  EXPECT_EQ(error_of(ports + "intercept: {port: tap, address: 169.254.77.1}\n"),
            "test.yaml:13:33: intercept.address: must differ from intercept.handoff.source "
            "(the dataplane's end of the channel)");
  EXPECT_EQ(error_of(ports + "intercept: {port: tap, address: 10.0.0.250, handoff: {liveness: 1ms}}\n"),
            "test.yaml:13:65: intercept.handoff.liveness: 1ms is out of range (100ms to 1h)");
}

TEST(RunConfig, SyslogSinkDefaultsAndValues) {
  absl::StatusOr<RunConfig> c = parse_run_config(
      std::string(test::kMinimalConfig) +
          "audit:\n  sinks:\n"
          "    - {type: syslog, address: \"192.0.2.10:514\"}\n"
          "    - type: syslog\n      address: \"[2001:db8::10]:6514\"\n      facility: authpriv\n"
          "      hostname: gw1.school.example\n      buffer_size: 1MiB\n"
          "      backoff_min: 50ms\n      backoff_max: 5s\n      resend_window: 0\n"
          "    - {type: syslog, address: \"192.0.2.11:514\", enabled: false}\n",
      "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->audit.syslog.size(), 2u);  // the disabled one is left out
  const SyslogExportOptions& d = c->audit.syslog[0];
  EXPECT_EQ(d.address.text, "192.0.2.10:514");
  EXPECT_EQ(d.address.storage.ss_family, AF_INET);
  EXPECT_EQ(d.facility, 16);  // local0
  EXPECT_EQ(d.hostname, "");  // the machine's name
  EXPECT_EQ(d.buffer_bytes, 64u << 20);
  EXPECT_EQ(d.backoff_min_ns, 100'000'000u);
  EXPECT_EQ(d.backoff_max_ns, 30'000'000'000u);
  EXPECT_EQ(d.resend_window_ns, 2'000'000'000u);
  const SyslogExportOptions& e = c->audit.syslog[1];
  EXPECT_EQ(e.address.storage.ss_family, AF_INET6);
  EXPECT_EQ(e.facility, 10);
  EXPECT_EQ(e.hostname, "gw1.school.example");
  EXPECT_EQ(e.buffer_bytes, 1u << 20);
  EXPECT_EQ(e.backoff_min_ns, 50'000'000u);
  EXPECT_EQ(e.backoff_max_ns, 5'000'000'000u);
  EXPECT_EQ(e.resend_window_ns, 0u);
}

TEST(RunConfigErrors, SyslogSinkMistakes) {
  const std::string base = std::string(test::kMinimalConfig) + "audit:\n  sinks:\n";
  EXPECT_EQ(error_of(base + "    - {type: syslog}\n"),
            "test.yaml:13:7: audit.sinks[0]: missing required key 'address'");
  EXPECT_THAT(error_of(base + "    - {type: syslog, address: \"siem.example:514\"}\n"),
              HasSubstr("test.yaml:13:31: audit.sinks[0].address: 'siem.example:514' is not a "
                        "syslog receiver address: the host must be a numeric IPv4 or IPv6 "
                        "address"));
  EXPECT_THAT(error_of(base + "    - {type: syslog, address: \"10.0.0.5\"}\n"),
              HasSubstr("audit.sinks[0].address: '10.0.0.5' is not a syslog receiver address: "
                        "the port is missing"));
  EXPECT_EQ(error_of(base + "    - {type: syslog, address: \"10.0.0.5:514\", facility: local9}\n"),
            "test.yaml:13:57: audit.sinks[0].facility: 'local9' is not a syslog facility (kern, "
            "user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, "
            "alert, clock, local0 ... local7)");
  EXPECT_EQ(error_of(base + "    - {type: syslog, address: \"10.0.0.5:514\", hostname: \"a b\"}\n"),
            "test.yaml:13:57: audit.sinks[0].hostname: a syslog HOSTNAME is 1 to 255 printable "
            "ASCII characters without spaces");
  EXPECT_EQ(error_of(base + "    - {type: syslog, address: \"10.0.0.5:514\", buffer_size: 1KiB}\n"),
            "test.yaml:13:60: audit.sinks[0].buffer_size: 1KiB is out of range (65536 to "
            "17179869184 bytes)");
  EXPECT_EQ(error_of(base + "    - {type: syslog, address: \"10.0.0.5:514\", backoff_min: 10s, "
                            "backoff_max: 1s}\n"),
            "test.yaml:13:7: audit.sinks[0]: backoff_min (10s) is longer than backoff_max (1s)");
  EXPECT_EQ(error_of(base + "    - {type: syslog, address: \"10.0.0.5:514\"}\n"
                            "    - {type: syslog, address: \"10.0.0.5:514\"}\n"),
            "test.yaml:14:31: audit.sinks[1].address: '10.0.0.5:514' is already the address of "
            "another syslog sink");
  EXPECT_EQ(error_of(base + "    - {type: syslog, address: \"10.0.0.5:514\", port: 514}\n"),
            "test.yaml:13:47: unknown key 'audit.sinks[0].port' (known here: type, address, "
            "facility, hostname, buffer_size, backoff_min, backoff_max, resend_window, enabled)");
}

TEST(RunConfig, RuleDefaults) {
  absl::StatusOr<RunConfig> c = parse_run_config(
      std::string(test::kMinimalConfig) +
          "policy:\n  rules:\n    - {name: r, kind: domains, files: [x], action: block}\n",
      "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->policy.rules.size(), 1u);
  EXPECT_TRUE(c->policy.rules[0].audit);
  EXPECT_TRUE(c->policy.rules[0].clients.empty());
  EXPECT_EQ(c->policy.rules[0].defined_at, "test.yaml:13:7");
}

TEST(RunConfig, FullConfigRoundTrip) {
  ConfigParseOptions options;
  options.base_dir = "/etc/sluice";
  absl::StatusOr<RunConfig> c =
      parse_run_config(read(kDataDir / "full.yaml"), "full.yaml", options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, "full.yaml");

  EXPECT_FALSE(c->eal.huge_pages);
  EXPECT_EQ(c->eal.memory_mb, 2048u);
  EXPECT_FALSE(c->eal.pci);
  EXPECT_EQ(c->eal.file_prefix, "full-test");
  EXPECT_THAT(c->eal.extra_args, ElementsAre("--log-level=lib.eal:debug", "--iova-mode=va"));

  ASSERT_EQ(c->ports.size(), 5u);
  EXPECT_TRUE(c->intercept.enabled);
  EXPECT_EQ(c->intercept.port, 4u);
  EXPECT_EQ(c->intercept.outside, 1u);
  EXPECT_EQ(c->intercept.liveness_ns, 3'000'000'000u);
  EXPECT_EQ(c->ports[0].name, "in0");
  EXPECT_EQ(c->ports[0].kind, PortKind::kVdev);
  EXPECT_EQ(c->ports[0].device, "net_af_packet0,iface=veth1");
  EXPECT_EQ(c->ports[0].driver, "net_af_packet");
  EXPECT_EQ(c->ports[0].vdev_name, "net_af_packet0");
  EXPECT_EQ(c->ports[0].defined_at, "full.yaml:9:5");
  EXPECT_EQ(c->ports[1].driver, "net_tap");
  EXPECT_EQ(c->ports[2].driver, "net_ring");
  EXPECT_EQ(c->ports[3].device, "net_null1,size=64");

  EXPECT_EQ(c->mode, RunMode::kInline);
  ASSERT_EQ(c->pairs.size(), 2u);
  EXPECT_EQ(c->pairs[0].inside, 0u);
  EXPECT_EQ(c->pairs[0].outside, 1u);
  EXPECT_EQ(c->pairs[1].inside, 2u);
  EXPECT_EQ(c->pairs[1].outside, 3u);

  EXPECT_EQ(c->lcores.management, 3u);
  EXPECT_THAT(c->lcores.workers, ElementsAre(5u, 4u));
  EXPECT_EQ(c->lcores.cpus, (std::map<uint32_t, uint32_t>{{3, 0}, {4, 1}, {5, 1}}));
  EXPECT_TRUE(c->lcores.idle_backoff.enabled);
  EXPECT_EQ(c->lcores.idle_backoff.empty_polls, 500u);
  EXPECT_EQ(c->lcores.idle_backoff.max_sleep_ns, 250'000u);

  EXPECT_EQ(c->queues.rx_descriptors, 256);
  EXPECT_EQ(c->queues.tx_descriptors, 128);
  EXPECT_EQ(c->queues.burst, 16);
  EXPECT_EQ(c->mempool.mbufs, 16383u);
  EXPECT_EQ(c->mempool.cache, 128u);
  EXPECT_EQ(c->mempool.data_room, 4096);

  const InspectorConfig& in = c->inspector;
  EXPECT_EQ(in.flow_capacity, 2048u);
  EXPECT_EQ(in.timeouts.handshake_ns, 3'000'000'000u);
  EXPECT_EQ(in.timeouts.first_flight_ns, 7'000'000'000u);
  EXPECT_EQ(in.timeouts.established_ns, 7'200'000'000'000u);
  EXPECT_EQ(in.timeouts.closing_ns, 300'000'000u);
  EXPECT_EQ(in.timeouts.udp_ns, 90'000'000'000u);
  EXPECT_EQ(in.first_flight_buffers, 512u);
  EXPECT_EQ(in.first_flight_byte_cap, 32768u);
  EXPECT_EQ(in.first_flight_time_cap_ns, 1'500'000'000u);
  EXPECT_EQ(in.checksum_mode, ChecksumMode::kAuto);
  EXPECT_EQ(in.ip_reassembly.max_datagrams, 128u);
  EXPECT_EQ(in.ip_reassembly.max_datagram_bytes, 30000u);
  EXPECT_EQ(in.ip_reassembly.max_fragments, 32u);
  EXPECT_EQ(in.ip_reassembly.timeout_ns, 4'000'000'000u);

  const PolicyConfig& p = c->policy;
  ASSERT_EQ(p.rules.size(), 4u);
  EXPECT_EQ(p.rules[0].name, "staff-block");
  EXPECT_EQ(p.rules[0].kind, RuleKind::kHosts);
  EXPECT_THAT(p.rules[0].files, ElementsAre("/etc/sluice/a.hosts", "/abs/b.hosts"));
  EXPECT_EQ(p.rules[0].action, Verdict::kBlock);
  EXPECT_FALSE(p.rules[0].audit);
  ASSERT_EQ(p.rules[0].clients.size(), 3u);
  EXPECT_EQ(p.rules[0].clients[0].text, "10.20.0.0/16");
  EXPECT_EQ(p.rules[0].clients[0].network.to_string(), "10.20.0.0");
  EXPECT_EQ(p.rules[0].clients[0].prefix_length, 96 + 16);
  EXPECT_EQ(p.rules[0].clients[1].prefix_length, 32);
  EXPECT_EQ(p.rules[0].clients[2].prefix_length, 128);
  EXPECT_EQ(p.rules[1].kind, RuleKind::kPatterns);
  EXPECT_EQ(p.rules[1].action, Verdict::kIntercept);
  EXPECT_TRUE(p.rules[1].audit);
  EXPECT_EQ(p.rules[2].kind, RuleKind::kCidrs);
  EXPECT_EQ(p.rules[2].action, Verdict::kPass);
  EXPECT_EQ(p.rules[3].kind, RuleKind::kDomains);
  EXPECT_EQ(p.defaults.no_sni, Verdict::kBlock);
  EXPECT_EQ(p.defaults.non_tls_443, Verdict::kIntercept);
  EXPECT_EQ(p.defaults.ech, Verdict::kBlock);
  EXPECT_EQ(p.defaults.incomplete, Verdict::kBlock);
  EXPECT_EQ(p.defaults.final, Verdict::kBlock);
  ASSERT_EQ(p.defaults.anomalies.size(), 2u);
  EXPECT_EQ(p.defaults.anomalies[0].first, Anomaly::kOverlapConflict);
  EXPECT_EQ(p.defaults.anomalies[0].second, Verdict::kBlock);
  EXPECT_EQ(p.defaults.anomalies[1].first, Anomaly::kTtlDecoy);
  EXPECT_EQ(p.defaults.anomalies[1].second, Verdict::kIntercept);
  EXPECT_EQ(p.intercept_fallback, Verdict::kBlock);
  EXPECT_EQ(p.block_response, BlockResponse::kTlsAlertAndReset);
  EXPECT_EQ(p.quic.verdict, Verdict::kPass);
  EXPECT_TRUE(p.quic.fallback_for_intercept);
  ASSERT_EQ(p.quic.clients.size(), 1u);
  ASSERT_EQ(p.quic.clients[0].subnets.size(), 2u);
  EXPECT_EQ(p.quic.clients[0].subnets[1].text, "2001:db8:40::/48");
  EXPECT_EQ(p.quic.clients[0].verdict, Verdict::kBlock);
  EXPECT_THAT(p.quic.clients[0].defined_at, HasSubstr("full.yaml:"));

  EXPECT_EQ(c->audit.ring_size, 2048u);
  ASSERT_EQ(c->audit.files.size(), 2u);
  EXPECT_EQ(c->audit.files[0].path, "/etc/sluice/logs/audit.jsonl");
  EXPECT_EQ(c->audit.files[0].max_bytes, 10u << 20);
  EXPECT_EQ(c->audit.files[0].max_age_ns, 3'600'000'000'000u);
  EXPECT_EQ(c->audit.files[0].keep, 5u);
  EXPECT_EQ(c->audit.files[1].path, "/var/log/other.jsonl");
  ASSERT_EQ(c->audit.syslog.size(), 1u);
  EXPECT_EQ(c->audit.syslog[0].address.text, "[2001:db8::50]:6514");
  EXPECT_EQ(c->audit.syslog[0].facility, 19);
  EXPECT_EQ(c->audit.syslog[0].hostname, "gw-full");
  EXPECT_EQ(c->audit.syslog[0].buffer_bytes, 8u << 20);
  EXPECT_EQ(c->audit.syslog[0].backoff_min_ns, 250'000'000u);
  EXPECT_EQ(c->audit.syslog[0].backoff_max_ns, 10'000'000'000u);
  EXPECT_EQ(c->audit.syslog[0].resend_window_ns, 5'000'000'000u);

  EXPECT_FALSE(c->stats.telemetry);
  EXPECT_FALSE(c->stats.print_on_exit);
  EXPECT_EQ(c->stats.log_interval_ns, 30'000'000'000u);

  EXPECT_THAT(eal_arguments(*c, "sluice"),
              ElementsAre("sluice", "--lcores=3@0,4@1,5@1", "--main-lcore=3",
                          "--file-prefix=full-test", "--no-huge", "-m", "2048", "--no-pci",
                          "--no-telemetry", "--vdev", "net_af_packet0,iface=veth1", "--vdev",
                          "net_tap0,iface=sluice0", "--vdev", "net_ring0", "--vdev",
                          "net_null1,size=64", "--vdev", "net_tap1,iface=sluice1",
                          "--log-level=lib.eal:debug", "--iova-mode=va"));
}

TEST(RunConfig, MonitorMode) {
  absl::StatusOr<RunConfig> c = parse_run_config(R"(ports:
  - {name: span, device: "0000:3b:00.0"}
  - {name: tx, device: "3B:00.1"}
mode: monitor
monitor:
  mirror: span
  inject: tx
lcores: {management: 0, workers: [1, 2]}
)",
                                                 "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->mode, RunMode::kMonitor);
  EXPECT_EQ(c->monitor.mirror, 0u);
  EXPECT_EQ(c->monitor.inject, 1u);
  EXPECT_TRUE(c->pairs.empty());
  EXPECT_EQ(c->ports[1].device, "0000:3b:00.1");  // normalised
  EXPECT_THAT(eal_arguments(*c, "sluice"),
              ElementsAre("sluice", "-l", "0,1,2", "--main-lcore=0", "--file-prefix=sluice",
                          "-a", "0000:3b:00.0", "-a", "0000:3b:00.1"));
}

TEST(RunConfig, ShippedExamplesParse) {
  for (const char* name : {"sluice-2x10g.yaml", "sluice-test-namespaces.yaml"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<RunConfig> c = parse_run_config(read(kDeployDir / name), name);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_FALSE(c->policy.rules.empty());
    EXPECT_EQ(c->audit.files.size(), 1u);
  }
  absl::StatusOr<RunConfig> box =
      parse_run_config(read(kDeployDir / "sluice-2x10g.yaml"), "sluice-2x10g.yaml");
  ASSERT_TRUE(box.ok());
  EXPECT_EQ(box->ports.size(), 2u) << "a server with two 10 GbE ports: one inline pair";
  EXPECT_EQ(box->pairs.size(), 1u);
  EXPECT_EQ(box->lcores.workers.size(), 2u);
  EXPECT_TRUE(box->eal.huge_pages);
  EXPECT_FALSE(box->lcores.idle_backoff.enabled);
  // The installed /etc/logrotate.d/sluice rotates the audit file: sluice must not as well.
  EXPECT_EQ(box->audit.files[0].max_bytes, 0u);
  EXPECT_EQ(box->audit.files[0].max_age_ns, 0u);

  absl::StatusOr<RunConfig> ns = parse_run_config(read(kDeployDir / "sluice-test-namespaces.yaml"),
                                                  "sluice-test-namespaces.yaml");
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->lcores.workers.size(), 2u);
  EXPECT_TRUE(ns->lcores.idle_backoff.enabled);
  EXPECT_EQ(ns->ports[0].driver, "net_af_packet");
  const std::vector<std::string> args = eal_arguments(*ns, "sluice");
  EXPECT_THAT(args, testing::Contains("--no-huge"));
  EXPECT_THAT(args, testing::Contains("--no-pci"));
  EXPECT_THAT(args, testing::Contains("--lcores=0@0,1@0,2@1"));
}

// Every key used in the full config is documented in the reference (data keys excluded: the
// lcore numbers of lcores.cpus and the anomaly names of policy.defaults.anomalies).
void collect_keys(const YAML::Node& n, std::set<std::string>& keys) {
  if (n.IsSequence()) {
    for (const YAML::Node& item : n) collect_keys(item, keys);
  } else if (n.IsMap()) {
    for (const auto& kv : n) {
      keys.insert(kv.first.Scalar());
      if (kv.first.Scalar() != "cpus" && kv.first.Scalar() != "anomalies")
        collect_keys(kv.second, keys);
    }
  }
}

TEST(RunConfig, ReferenceDocumentsEveryKey) {
  std::set<std::string> keys;
  collect_keys(YAML::LoadFile((kDataDir / "full.yaml").string()), keys);
  const std::string reference = read(kDeployDir / "REFERENCE.md");
  ASSERT_FALSE(reference.empty());
  EXPECT_GT(keys.size(), 50u);
  for (const std::string& key : keys) {
    // Written as `key` or, for nested maps, `parent.key`.
    const bool documented = reference.find("`" + key + "`") != std::string::npos ||
                            reference.find("." + key + "`") != std::string::npos;
    EXPECT_TRUE(documented) << key;
  }
}

// --- Mistakes: each names the line and column and says what to do. ---

TEST(RunConfigErrors, YamlSyntaxErrorHasItsMark) {
  EXPECT_EQ(error_of("ports: [a, b\nlcores: {}\n"),
            "test.yaml:2:7: YAML syntax error: end of sequence flow not found");
  EXPECT_THAT(error_of("ports:\n  - name: a\n   device: b\n"),
              HasSubstr("test.yaml:3:4: YAML syntax error: end of sequence not found"));
}

TEST(RunConfigErrors, EmptyOrNotAMap) {
  EXPECT_THAT(error_of(""), HasSubstr("test.yaml:1:1: the file is empty"));
  EXPECT_THAT(error_of("- a\n- b\n"), HasSubstr("test.yaml:1:1: expected a map of keys"));
  EXPECT_THAT(error_of(std::string(test::kMinimalConfig) + "---\nports: []\n"),
              HasSubstr("test.yaml:12:1: the file holds more than one YAML document"));
}

TEST(RunConfigErrors, UnknownKeyWithSuggestion) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "queues:\n  rx_descriptor: 512\n"),
            "test.yaml:12:3: unknown key 'queues.rx_descriptor'; did you mean 'rx_descriptors'?");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "polcy: {}\n"),
            "test.yaml:11:1: unknown key 'polcy'; did you mean 'policy'?");
  EXPECT_THAT(error_of(std::string(test::kMinimalConfig) + "colour: blue\n"),
              HasSubstr("test.yaml:11:1: unknown key 'colour' (known here: eal, ports,"));
}

TEST(RunConfigErrors, DuplicateKey) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "checksum: on\nchecksum: off\n"),
            "test.yaml:12:1: checksum: given twice (first at line 11)");
}

TEST(RunConfigErrors, WrongTypes) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "queues: 512\n"),
            "test.yaml:11:9: queues: expected a map of keys (rx_descriptors, tx_descriptors, "
            "burst), got '512'");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "flows: {capacity: lots}\n"),
            "test.yaml:11:19: flows.capacity: expected a whole number, got 'lots'");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "flows: {capacity: \"4096\"}\n"),
            "test.yaml:11:19: flows.capacity: expected a whole number, got the quoted string "
            "'4096'");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "stats: {telemetry: yes}\n"),
            "test.yaml:11:20: stats.telemetry: expected true or false, got 'yes'");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "eal: {args: --no-huge}\n"),
            "test.yaml:11:13: eal.args: expected a list of EAL arguments, got '--no-huge'");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "checksum: [on]\n"),
            "test.yaml:11:11: checksum: expected one of on, auto, off, got a list");
}

TEST(RunConfigErrors, OutOfRangeNumbers) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "queues: {rx_descriptors: 1000}\n"),
            "test.yaml:11:26: queues.rx_descriptors: 1000 is not a power of two (DPDK needs one "
            "here); use 512 or 1024");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "queues: {burst: 65}\n"),
            "test.yaml:11:17: queues.burst: 65 is out of range (1 to 64)");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "flows: {capacity: -1}\n"),
            "test.yaml:11:19: flows.capacity: -1 is out of range (1024 to 16777216)");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "flows: {expected: 0}\n"),
            "test.yaml:11:19: flows.expected: 0 is out of range (1 to 4294967296)");
  absl::StatusOr<RunConfig> expected =
      parse_run_config(std::string(test::kMinimalConfig) + "flows: {expected: 500000}\n", "t.yaml");
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(expected->expected_flows, 500000u);
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "mempool: {mbufs: 2047}\n"),
            "test.yaml:11:10: mempool.mbufs: 2047 mbufs cannot fill the queues: 2 ports x 1 "
            "queues x (1024 RX + 1024 TX descriptors) + caches need at least 4928 (8191 is a "
            "good size)");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "first_flight: {byte_cap: 1MiB}\n"),
            "test.yaml:11:26: first_flight.byte_cap: 1MiB is out of range (1024 to 65536 "
            "bytes)");
  EXPECT_THAT(error_of(std::string(test::kMinimalConfig) + "first_flight: {buffers: 100000}\n"),
              HasSubstr("first_flight.buffers: 100000 is more than flows.capacity (65536)"));
}

TEST(RunConfigErrors, BadDurations) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "flows:\n  timeouts:\n    established: 5\n"),
            "test.yaml:13:18: flows.timeouts.established: '5' is not a duration: write a whole "
            "number and a unit (ns, us, ms, s, m, h), e.g. 300ms, 10s, 5m");
  EXPECT_THAT(error_of(std::string(test::kMinimalConfig) + "first_flight: {time_cap: 1.5s}\n"),
              HasSubstr("test.yaml:11:26: first_flight.time_cap: '1.5s' is not a duration: use "
                        "a whole number with a smaller unit (1500ms, not 1.5s)"));
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "first_flight: {time_cap: 5sec}\n"),
            "test.yaml:11:26: first_flight.time_cap: '5sec' has an unknown unit 'sec': use ns, "
            "us, ms, s, m or h");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "flows: {timeouts: {handshake: 2h}}\n"),
            "test.yaml:11:31: flows.timeouts.handshake: 2h is out of range (100ms to 10m)");
}

TEST(RunConfigErrors, DuplicatePortsAndLcores) {
  EXPECT_EQ(error_of(R"(ports:
  - {name: in, device: "0000:3b:00.0"}
  - {name: out, device: "0000:3B:00.0"}
pairs: [{inside: in, outside: out}]
lcores: {workers: [1]}
)"),
            "test.yaml:3:25: ports[1].device: device '0000:3b:00.0' is already port 'in'; each "
            "device can be opened once");
  EXPECT_EQ(error_of(R"(ports:
  - {name: in, device: "net_af_packet0,iface=a"}
  - {name: in, device: "net_af_packet1,iface=b"}
eal: {pci: false, huge_pages: false, memory_mb: 512}
pairs: [{inside: in, outside: in}]
lcores: {workers: [1]}
)"),
            "test.yaml:3:12: ports[1].name: port name 'in' is already used by ports[0]\n"
            "test.yaml:5:31: pairs[0]: inside and outside must be different ports");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "  management: 1\n"),
            "test.yaml:10:13: lcores.workers[0]: lcore 1 is the management lcore; a worker "
            "needs its own");
  EXPECT_EQ(error_of(R"(ports: [{name: a, device: "01:00.0"}, {name: b, device: "01:00.1"}]
pairs: [{inside: a, outside: b}]
lcores: {workers: [1, 2, 1]}
)"),
            "test.yaml:3:26: lcores.workers[2]: lcore 1 is listed twice");
  EXPECT_EQ(error_of(R"(ports: [{name: a, device: "01:00.0"}, {name: b, device: "01:00.1"},
        {name: c, device: "02:00.0"}]
pairs: [{inside: a, outside: b}, {inside: c, outside: a}]
lcores: {workers: [1]}
)"),
            "test.yaml:3:55: pairs[1].outside: port 'a' is already in pairs[0].inside; a port "
            "belongs to one pair");
}

TEST(RunConfigErrors, PairNamesAnUndefinedPort) {
  EXPECT_EQ(error_of(R"(ports:
  - {name: inside0, device: "0000:3b:00.0"}
  - {name: outside0, device: "0000:3b:00.1"}
pairs:
  - inside: inside0
    outside: outside1
lcores: {workers: [1]}
)"),
            "test.yaml:6:14: pairs[0].outside: no port is named 'outside1' (defined: inside0, "
            "outside0)");
  EXPECT_EQ(error_of(R"(ports: [{name: a, device: "01:00.0"}]
mode: monitor
monitor: {mirror: a, inject: b}
lcores: {workers: [1]}
)"),
            "test.yaml:3:30: monitor.inject: no port is named 'b' (defined: a)");
}

TEST(RunConfigErrors, MissingRequiredFields) {
  EXPECT_EQ(error_of("lcores: {workers: [1]}\n"),
            "test.yaml:1:1: missing required key 'ports'\n"
            "test.yaml:1:1: missing required key 'pairs': inline mode bridges at least one "
            "inside/outside pair");
  EXPECT_EQ(error_of(R"(ports:
  - name: a
  - {name: b, device: "01:00.1"}
pairs: [{inside: a}]
lcores: {workers: []}
)"),
            "test.yaml:2:5: ports[0]: missing required key 'device'\n"
            "test.yaml:4:9: pairs[0]: missing required key 'outside'\n"
            "test.yaml:5:19: lcores.workers: at least one worker lcore is needed");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "mode: monitor\n"),
            "test.yaml:6:1: pairs: only used with mode: inline (this config is monitor)\n"
            "test.yaml:11:7: missing required key 'monitor': monitor mode needs a mirror port "
            "and an inject port");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "policy:\n  rules:\n    - {name: r, kind: domains}\n"),
            "test.yaml:13:7: policy.rules[0]: missing required key 'action'\n"
            "test.yaml:13:7: policy.rules[0]: missing required key 'files'");
}

TEST(RunConfigErrors, BadDevices) {
  EXPECT_EQ(error_of(R"(ports: [{name: a, device: "0000:3b:00"},
        {name: b, device: "net_tap,iface=x"}]
pairs: [{inside: a, outside: b}]
lcores: {workers: [1]}
)"),
            "test.yaml:1:27: ports[0].device: '0000:3b:00' is not a PCI address: expected "
            "DDDD:BB:DD.F, e.g. 0000:3b:00.0 (see `dpdk-devbind.py --status`), or a vdev such as "
            "net_af_packet0,iface=X\n"
            "test.yaml:2:27: ports[1].device: 'net_tap,iface=x' is not a vdev: the name must end "
            "with an instance number (expected net_<driver><n>[,key=value...], e.g. "
            "net_af_packet0,iface=veth1)");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) +
                     "eal: {pci: false, huge_pages: false, memory_mb: 1024}\n"),
            "test.yaml:2:5: ports[0]: 'in' is a PCI device but eal.pci is false (--no-pci)\n"
            "test.yaml:4:5: ports[1]: 'out' is a PCI device but eal.pci is false (--no-pci)");
}

TEST(RunConfigErrors, EalOptionsThatSluiceDerives) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) +
                     "eal:\n  args: [\"-l\", \"0-3\", \"--vdev=net_null0\"]\n"),
            "test.yaml:12:10: eal.args[0]: '-l' is set by sluice from 'lcores'; configure it "
            "there instead\n"
            "test.yaml:12:23: eal.args[2]: '--vdev' is set by sluice from 'ports'; configure it "
            "there instead");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "eal: {huge_pages: false}\n"),
            "test.yaml:11:6: eal: memory_mb is required when huge_pages is false (e.g. "
            "memory_mb: 1024); without hugepages DPDK reserves only what -m asks for");
}

TEST(RunConfigErrors, LcoreCpuSharingNeedsBackoff) {
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "  cpus: {0: 0, 1: 0}\n"),
            "test.yaml:11:9: lcores.cpus: lcores 1 and 0 share CPU 0 while polling without "
            "pause; give each its own CPU or set lcores.idle_backoff.enabled: true");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "  cpus: {0: 0, 7: 1}\n"),
            "test.yaml:11:9: lcores.cpus: lcore 1 has no CPU; once cpus is given, every lcore "
            "needs one\n"
            "test.yaml:11:16: lcores.cpus.7: lcore 7 is neither the management lcore nor a "
            "worker");
}

TEST(RunConfigErrors, PolicyMistakes) {
  const std::string base = std::string(test::kMinimalConfig) + "policy:\n";
  EXPECT_EQ(error_of(base + "  rules:\n    - {name: r, kind: domain, files: [x], action: drop}\n"),
            "test.yaml:13:23: policy.rules[0].kind: 'domain' is not one of domains, hosts, "
            "patterns, cidrs; did you mean 'domains'?\n"
            "test.yaml:13:51: policy.rules[0].action: 'drop' is not one of pass, block, "
            "intercept");
  EXPECT_EQ(error_of(base + "  rules:\n    - {name: r, kind: cidrs, files: [x], action: block}\n"
                            "    - {name: r, kind: cidrs, files: [y], action: block}\n"),
            "test.yaml:14:14: policy.rules[1].name: rule name 'r' is already used at "
            "test.yaml:13:7; audit records must name one rule");
  EXPECT_EQ(error_of(base + "  rules:\n    - name: r\n      kind: domains\n      files: [x]\n"
                            "      action: block\n      clients: [10.20.0.1/16, guests]\n"),
            "test.yaml:17:17: policy.rules[0].clients[0]: '10.20.0.1/16' is not an IP prefix: "
            "bits are set after the prefix length; did you mean 10.20.0.0/16?\n"
            "test.yaml:17:31: policy.rules[0].clients[1]: 'guests' is not an IP prefix: expected "
            "an address such as 10.20.0.0/16 or 2001:db8::/32");
  EXPECT_EQ(error_of(base + "  defaults:\n    anomalies: {overlap_conflicts: block}\n"),
            "test.yaml:13:17: unknown anomaly 'overlap_conflicts'; did you mean "
            "'overlap_conflict'?");
  EXPECT_EQ(error_of(base + "  quic: {default: intercept}\n"),
            "test.yaml:12:19: policy.quic.default: must be pass or block: QUIC cannot be "
            "intercepted (see fallback_for_intercept)");
  EXPECT_EQ(error_of(base + "  quic:\n    clients:\n      - {subnets: [10.0.0.1/8], default: block}\n"),
            "test.yaml:14:20: policy.quic.clients[0].subnets[0]: '10.0.0.1/8' is not an IP prefix: "
            "bits are set after the prefix length; did you mean 10.0.0.0/8?");
  EXPECT_EQ(error_of(base + "  quic:\n    clients:\n      - {subnets: [10.0.0.0/8]}\n"),
            "test.yaml:14:9: policy.quic.clients[0]: missing required key 'default'");
  EXPECT_EQ(error_of(base + "  quic: {fallback_for_intercpt: true}\n"),
            "test.yaml:12:10: unknown key 'policy.quic.fallback_for_intercpt'; did you mean "
            "'fallback_for_intercept'?");
  EXPECT_EQ(error_of(base + "  intercept_fallback: intercept\n"),
            "test.yaml:12:23: policy.intercept_fallback: must be pass or block: it is what an "
            "intercept verdict becomes while interception is unavailable");
}

TEST(RunConfigErrors, UnknownAuditSinksAreRefused) {
  const std::string base = std::string(test::kMinimalConfig) + "audit:\n  sinks:\n";
  EXPECT_EQ(error_of(base + "    - {type: kafka}\n"),
            "test.yaml:13:14: audit.sinks[0].type: sink type 'kafka' is not implemented in this "
            "build; 'file' and 'syslog' are (remove this sink, or use a file sink and ship the "
            "file)");
  EXPECT_EQ(error_of(base + "    - {type: fille, path: /tmp/x}\n"),
            "test.yaml:13:14: audit.sinks[0].type: unknown sink type 'fille' (supported: file, "
            "syslog); did you mean 'file'?");
  EXPECT_EQ(error_of(base + "    - {type: file}\n"),
            "test.yaml:13:7: audit.sinks[0]: missing required key 'path'");
  EXPECT_EQ(error_of(base + "    - {type: file, path: /tmp/x, rotate_size: 10}\n"),
            "test.yaml:13:47: audit.sinks[0].rotate_size: 10 is out of range (0 or 1048576 to "
            "1099511627776 bytes)");
  EXPECT_EQ(error_of(base + "    - {type: file, path: /tmp/x, rotate: 1h}\n"),
            "test.yaml:13:34: unknown key 'audit.sinks[0].rotate' (known here: type, path, "
            "rotate_size, rotate_interval, keep)");
  EXPECT_EQ(error_of(std::string(test::kMinimalConfig) + "audit: {ring_size: 5000}\n"),
            "test.yaml:11:20: audit.ring_size: 5000 is not a power of two (DPDK needs one here); "
            "use 4096 or 8192");
}

TEST(RunConfigErrors, AllMistakesAreReportedAtOnce) {
  const std::string message =
      error_of(std::string(test::kMinimalConfig) + "queues: {burst: 0}\nchecksum: maybe\nstats: {x: 1}\n");
  EXPECT_THAT(message, HasSubstr("test.yaml:11:17: queues.burst"));
  EXPECT_THAT(message, HasSubstr("test.yaml:12:11: checksum"));
  EXPECT_THAT(message, HasSubstr("test.yaml:13:9: unknown key 'stats.x'"));
}

// yaml-cpp throws; the parser must turn every throw into a Status. Cut the full config at every
// byte and drop each line in turn: each result is either a config or an error with a location.
TEST(RunConfigErrors, DamagedFilesNeverThrow) {
  const std::string full = read(kDataDir / "full.yaml");
  ASSERT_FALSE(full.empty());
  for (size_t cut = 0; cut < full.size(); ++cut) {
    absl::StatusOr<RunConfig> c = parse_run_config(full.substr(0, cut), "cut.yaml");
    if (!c.ok()) {
      EXPECT_THAT(std::string(c.status().message()), testing::StartsWith("cut.yaml:")) << cut;
    }
  }
  for (size_t start = 0; start < full.size();) {
    const size_t end = full.find('\n', start);
    if (end == std::string::npos) break;
    absl::StatusOr<RunConfig> c =
        parse_run_config(full.substr(0, start) + full.substr(end + 1), "line.yaml");
    if (!c.ok()) {
      EXPECT_THAT(std::string(c.status().message()), testing::StartsWith("line.yaml:")) << start;
    }
    start = end + 1;
  }
}

// load_run_config: the file's own name in messages, relative paths from its directory, and
// policy files that must exist.
class LoadRunConfig : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-config-test-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_ / "lists");
    std::ofstream(dir_ / "lists/block.txt") << "example.com\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& yaml) {
    const std::string path = (dir_ / "sluice.yaml").string();
    std::ofstream(path) << yaml;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadRunConfig, ResolvesRelativePathsAndChecksFiles) {
  const std::string path = write(std::string(test::kMinimalConfig) +
                                 "policy:\n  rules:\n"
                                 "    - {name: r, kind: domains, files: [lists/block.txt], "
                                 "action: block}\n"
                                 "audit:\n  sinks: [{type: file, path: audit.jsonl}]\n");
  absl::StatusOr<RunConfig> c = load_run_config(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->source, path);
  EXPECT_EQ(c->policy.rules[0].files[0], (dir_ / "lists/block.txt").string());
  EXPECT_EQ(c->audit.files[0].path, (dir_ / "audit.jsonl").string());
}

TEST_F(LoadRunConfig, RefusesMissingListFilesAndAuditDirectories) {
  const std::string path = write(std::string(test::kMinimalConfig) +
                                 "policy:\n  rules:\n"
                                 "    - {name: r, kind: domains, files: [lists/nope.txt], "
                                 "action: block}\n"
                                 "audit:\n  sinks: [{type: file, path: no/such/dir/a.jsonl}]\n");
  absl::StatusOr<RunConfig> c = load_run_config(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()),
            path + ":13:40: policy.rules[0].files[0]: cannot read '" +
                (dir_ / "lists/nope.txt").string() + "': No such file or directory\n" + path +
                ":15:30: audit.sinks[0].path: directory '" + (dir_ / "no/such/dir").string() +
                "' does not exist");
}

TEST_F(LoadRunConfig, MissingFile) {
  absl::StatusOr<RunConfig> c = load_run_config((dir_ / "absent.yaml").string());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(c.status().message(), HasSubstr("absent.yaml: cannot open the configuration file"));
}

}  // namespace
}  // namespace sluice
