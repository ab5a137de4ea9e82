// The configuration of `sluice run --config FILE`: one YAML file that names everything the
// appliance needs before it starts (EAL, ports, lcores, sizes, timeouts, policy sources, audit
// sinks). Parsed with yaml-cpp and validated completely before anything is initialised, so a
// mistake is reported as `FILE:LINE:COLUMN: reason` instead of surfacing as a DPDK failure half
// way through start-up. Every key, default and range is documented in deploy/config/REFERENCE.md;
// keep the two in step.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "control/audit_file.h"
#include "control/syslog_export.h"
#include "dataplane/core/anomaly.h"
#include "dataplane/core/audit_event.h"
#include "dataplane/core/enforcement.h"
#include "dataplane/core/flow_inspector.h"
#include "dataplane/core/ip_address.h"

namespace sluice {

// EAL options. Sluice derives the lcore list (-l / --lcores, --main-lcore) and the devices (-a,
// --vdev) from `lcores` and `ports`, so they cannot disagree; `extra_args` carries anything else
// verbatim (e.g. --socket-mem, --log-level, --iova-mode).
struct EalOptions {
  bool huge_pages = true;            // false: --no-huge (test boxes)
  uint32_t memory_mb = 0;            // -m; 0 leaves DPDK's default (required without hugepages)
  bool pci = true;                   // false: --no-pci (then no port may be a PCI address)
  std::string file_prefix = "sluice";  // --file-prefix: lets two sluice processes coexist
  std::vector<std::string> extra_args;
};

enum class PortKind : uint8_t { kPci, kVdev };

struct PortConfig {
  std::string name;    // what pairs and monitor refer to, and what stats are labelled with
  std::string device;  // PCI address as given (normalised to DDDD:BB:DD.F) or the vdev string
  PortKind kind = PortKind::kPci;
  std::string driver;  // vdev driver (e.g. "net_af_packet"); empty for PCI
  std::string vdev_name;  // vdev instance name (e.g. "net_af_packet0"); empty for PCI
  std::string defined_at;  // "FILE:LINE:COLUMN" of the entry, for later error messages
};

enum class RunMode : uint8_t { kInline, kMonitor };

// Inline mode: each pair is bridged at L2; index into RunConfig::ports.
struct PortPair {
  size_t inside = 0;
  size_t outside = 0;
};

// Monitor mode: read a mirror (SPAN/TAP) port, block by injecting TCP resets on another port.
struct MonitorConfig {
  size_t mirror = 0;  // index into RunConfig::ports
  size_t inject = 0;  // index into RunConfig::ports; may equal mirror if the port can transmit
};

// Adaptive sleep for workers that find their queues empty. Appliances keep pure polling (the
// default); a test box that maps several lcores onto one CPU needs it or tests crawl.
struct IdleBackoff {
  bool enabled = false;
  uint32_t empty_polls = 100;       // consecutive empty polls before the first sleep
  uint64_t max_sleep_ns = 1'000'000;  // sleeps double from 1 us up to this
};

struct LcoreConfig {
  uint32_t management = 0;        // also the EAL main lcore
  std::vector<uint32_t> workers;  // one RX/TX queue per port each
  std::map<uint32_t, uint32_t> cpus;  // lcore -> CPU (becomes --lcores); empty: lcore id = CPU
  IdleBackoff idle_backoff;
};

struct QueueConfig {
  uint16_t rx_descriptors = 1024;  // per RX queue, power of two
  uint16_t tx_descriptors = 1024;  // per TX queue, power of two
  uint16_t burst = 32;             // packets per RX burst, at most FlowInspector::kMaxBurst
};

struct MempoolConfig {
  uint32_t mbufs = 65535;   // per pool (one pool per NUMA socket in use); 2^n - 1 is optimal
  uint32_t cache = 256;     // per-lcore cache, at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)
  uint16_t data_room = 2176;  // bytes per mbuf incl. headroom (RTE_MBUF_DEFAULT_BUF_SIZE)
};

enum class RuleKind : uint8_t {
  kDomains,   // one name per line: the name and its subdomains
  kHosts,     // hosts-file lines ("0.0.0.0 name")
  kPatterns,  // Hyperscan expressions, one per line
  kCidrs,     // destination addresses / CIDRs (for flows without SNI)
};
std::string_view rule_kind_name(RuleKind k);

// An IP prefix. IPv4 is held as ::ffff:a.b.c.d with prefix_length counted in the 128-bit form
// (so 10.0.0.0/8 has prefix_length 104), the same shape as flow keys.
struct IpPrefix {
  IpAddress network;
  uint8_t prefix_length = 0;
  std::string text;  // as written, for messages and audit
};

// One policy rule: a named set of list files with one action. The policy library reads and
// compiles the files; the config only names them (paths resolved against the config's
// directory, existence checked by load_run_config).
struct PolicyRuleConfig {
  std::string name;  // unique, at most kMaxRuleName characters (it goes into audit records)
  RuleKind kind = RuleKind::kDomains;
  std::vector<std::string> files;
  Verdict action = Verdict::kBlock;
  bool audit = true;                  // write audit records for flows this rule decides
  std::vector<IpPrefix> clients;      // empty: every client
  std::string defined_at;             // "FILE:LINE:COLUMN" of the rule
};

// What decides a flow that no rule does.
struct PolicyDefaultsConfig {
  Verdict no_sni = Verdict::kPass;       // TLS without SNI and no cidrs rule matched
  Verdict non_tls_443 = Verdict::kPass;  // not TLS on a TLS port (tunnels, evasion)
  Verdict ech = Verdict::kPass;          // Encrypted Client Hello (outer name only); unset: final's
  Verdict incomplete = Verdict::kPass;   // first flight not complete within its caps
  // Anomalies that decide a flow on their own (e.g. overlap_conflict -> block), in file order.
  std::vector<std::pair<Anomaly, Verdict>> anomalies;
  Verdict final = Verdict::kPass;        // everything else
};

// QUIC (HTTP/3) flows: whether they are allowed at all, per client subnet, and what becomes of
// those a rule would intercept (QUIC cannot be intercepted; blocking it makes browsers use TCP).
struct QuicClientsConfig {
  std::vector<IpPrefix> subnets;
  Verdict verdict = Verdict::kPass;  // pass or block
  std::string defined_at;            // "FILE:LINE:COLUMN"
};
struct QuicPolicyConfig {
  Verdict verdict = Verdict::kPass;        // `default`: pass (judged by name) or block (all QUIC)
  std::vector<QuicClientsConfig> clients;  // per-subnet `default`s, first match wins
  bool fallback_for_intercept = false;     // block QUIC flows a rule would intercept
};

struct PolicyConfig {
  std::vector<PolicyRuleConfig> rules;  // first match wins, in file order
  PolicyDefaultsConfig defaults;
  QuicPolicyConfig quic;
  // Until interception lands, an intercept verdict is carried out as this (and counted).
  Verdict intercept_fallback = Verdict::kPass;
  BlockResponse block_response = BlockResponse::kReset;
};

struct AuditConfig {
  uint32_t ring_size = 16384;  // per-worker ring of events to the management lcore, power of 2
  // JSON-lines files (control/audit_file.h): path, max_bytes (rotate_size), max_age_ns
  // (rotate_interval), keep; buffer_bytes keeps its default.
  std::vector<AuditFileOptions> files;
  // RFC 5424 syslog receivers over TCP (control/syslog_export.h): address (numeric), facility,
  // hostname, buffer_bytes (buffer_size), back-off and resend window. Sinks with
  // `enabled: false` are checked and left out.
  std::vector<SyslogExportOptions> syslog;
};

struct StatsConfig {
  bool telemetry = true;       // counters readable while running (DPDK telemetry socket)
  bool print_on_exit = true;   // counters printed to stderr on exit
  uint64_t log_interval_ns = 0;  // counters logged periodically; 0: never
};

// Bypass entries added while running (the API): where they are kept across restarts, and how
// many there may be.
// Learned bypass (README "Learned bypass"): sluice-intercept reports clients that reject its
// certificate; `failures` reports for one (name, JA4) within `window` add an entry for that key
// that expires after `ttl`.
struct BypassLearningConfig {
  bool enabled = true;
  uint32_t failures = 3;
  uint32_t distinct_clients = 1;            // client addresses among those failures, at least
  uint64_t window_ns = 600'000'000'000ULL;  // 10 minutes
  uint64_t ttl_ns = 86'400'000'000'000ULL;  // a day
  uint32_t max_tracked = 10000;             // (name, JA4) keys counted at once
};

struct BypassConfig {
  std::string state_file = "/var/lib/sluice/bypass.json";  // its directory is created if missing
  uint32_t max_entries = 10000;
  BypassLearningConfig learning;
};

// The REST-lite API (control/api, README "REST-lite API"), served while `sluice run` runs. No
// `api` section: no API.
struct ApiConfig {
  bool enabled = false;
  std::string unix_path;    // empty: no unix socket
  uint32_t unix_mode = 0660;  // never writable by others: connecting needs write permission
  std::string unix_group;   // empty: sluice's own group
  std::string tcp_listen;   // "ADDRESS:PORT"; empty: no TCP listener
  std::string token_file;   // required with tcp_listen; mode 0600 or stricter (checked at start)
  uint64_t max_json_body = 64 * 1024;           // bytes of a JSON request body
  uint64_t max_list_body = 256ULL * 1024 * 1024;  // bytes of an uploaded list
  uint32_t max_connections = 16;                // per listener, each served by its own thread
  uint64_t timeout_ns = 30'000'000'000ULL;      // an idle connection is closed after this
};

// Interception (`intercept:`, docs/design.md "Interception handoff"): a net_tap port into the
// appliance namespace, where sluice-intercept adopts handed-off connections. No section: intercept
// verdicts are carried out as policy.intercept_fallback.
struct InterceptConfig {
  bool enabled = false;
  size_t port = 0;     // index into RunConfig::ports: the net_tap port, in no pair
  size_t outside = 0;  // index: where the appliance's own connections leave (a pair's outside)
  std::array<uint8_t, 4> address{};         // the appliance namespace's IPv4 address
  // Its IPv6 address: IPv6 flows are handed over only when it is set (the namespace then has
  // IPv6 routes back to the clients), and the interceptor reaches IPv6 servers from it.
  bool has_address6 = false;
  std::array<uint8_t, 16> address6{};
  std::array<uint8_t, 4> handoff_source{};  // the dataplane's end of the handoff channel
  uint16_t handoff_port = 7301;             // UDP, both ends
  uint64_t liveness_ns = 2'000'000'000ULL;  // no heartbeat for this long: interceptor absent
};

struct RunConfig {
  std::string source;  // the file it came from
  EalOptions eal;
  std::vector<PortConfig> ports;
  RunMode mode = RunMode::kInline;
  std::vector<PortPair> pairs;  // inline mode
  MonitorConfig monitor;        // monitor mode
  LcoreConfig lcores;
  QueueConfig queues;
  MempoolConfig mempool;
  // Flow table, timeouts, first-flight caps, checksum mode, IP reassembly: the per-worker
  // inspector's own knobs (worker_id and flow_hash_seed are set per worker at start).
  InspectorConfig inspector;
  // flows.expected: the concurrent flows the site expects at its peak, over all workers; 0: not
  // given. Only sizing reads it (`sluice check-host` holds flows.capacity against it).
  uint64_t expected_flows = 0;
  PolicyConfig policy;
  AuditConfig audit;
  StatsConfig stats;
  BypassConfig bypass;
  ApiConfig api;
  InterceptConfig intercept;

  // Index of the port with this name, or ports.size().
  size_t port_index(std::string_view name) const;
};

struct ConfigParseOptions {
  // Directory that relative policy and audit paths are resolved against; empty leaves them as
  // written.
  std::string base_dir;
  // Refuse policy files that cannot be opened for reading (load_run_config does).
  bool check_files = false;
};

// Parses and validates `yaml`. Errors name `name_for_errors` as the file; all errors found are
// reported (one per line), each as `FILE:LINE:COLUMN: reason`.
absl::StatusOr<RunConfig> parse_run_config(std::string_view yaml, std::string_view name_for_errors,
                                           const ConfigParseOptions& options = {});

// Reads, parses and validates the file at `path`; relative paths inside it are taken relative
// to the file's directory, and the policy files must be readable.
absl::StatusOr<RunConfig> load_run_config(const std::string& path);

// The EAL argument vector for this config (program name first): derived lcores, devices,
// memory options, then extra_args.
std::vector<std::string> eal_arguments(const RunConfig& config, const std::string& program);

}  // namespace sluice
