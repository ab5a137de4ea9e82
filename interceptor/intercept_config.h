// The configuration of `sluice-intercept run --config FILE` (YAML). Validated completely before
// anything starts; every mistake is reported as `FILE:LINE:COLUMN: reason`, all of them at once.
// Keys, defaults and ranges: deploy/config/REFERENCE.md ("sluice-intercept").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sluice::intercept {

struct UrlRuleConfig {
  std::string name;
  std::vector<std::string> patterns;  // Hyperscan expressions over "host/path"
  std::string defined_at;             // FILE:LINE:COLUMN
};

struct InterceptConfig {
  // The TCP ports sluice-intercept listens on (listen.explicit, listen.transparent).
  std::vector<uint16_t> own_ports() const;

  std::string source;
  uint32_t threads = 2;
  std::string explicit_listen;     // "ADDRESS:PORT" of the CONNECT / HTTP proxy; empty: none
  std::string transparent_listen;  // "ADDRESS:PORT" with IP_TRANSPARENT for TPROXY; empty: none
  // The dataplane handoff (docs/design.md, "Interception handoff"): where sluice's handoff
  // datagrams arrive (intercept.address : intercept.handoff.port of `sluice run`), and where
  // heartbeats go (intercept.handoff.source). Empty handoff_listen: no handoff.
  std::string handoff_listen;
  std::string handoff_dataplane = "169.254.77.1";
  std::string ca_dir;
  std::string policy_config;  // a `sluice run` configuration whose policy section decides
  std::vector<std::string> extra_ca_files;
  uint64_t connect_timeout_ns = 10'000'000'000ULL;
  uint32_t upstream_mark = 0;  // SO_MARK on connections to servers (policy routing); 0: none
  // Whether clients may reach servers on the appliance itself (loopback, its own addresses)
  // through the proxy: off, they reach neither its management API nor its other services.
  // sluice-intercept's own ports are refused either way (a connection to itself would loop).
  bool allow_local_destinations = false;
  uint32_t session_cache_entries = 1000;  // resumable server sessions per loop thread; 0: off
  uint32_t verify_cache_entries = 4096;   // verified server chains per loop thread; 0: off
  uint64_t verify_cache_ttl_ns = 300'000'000'000ULL;  // how long a verified chain is trusted again
  uint32_t max_connections = 10000;
  uint64_t handshake_timeout_ns = 10'000'000'000ULL;
  // A CONNECT to a port where TLS does not belong whose client sends nothing for this long is a
  // protocol whose server speaks first (SMTP, IMAP, FTP): judged by its host and spliced. 0: off.
  uint64_t server_first_wait_ns = 1'000'000'000ULL;
  uint64_t idle_timeout_ns = 300'000'000'000ULL;
  uint64_t max_head_bytes = 32 * 1024;
  uint64_t max_client_hello_bytes = 16 * 1024;
  uint64_t buffer_bytes = 16 * 1024;
  uint32_t cert_cache_entries = 10000;
  std::vector<UrlRuleConfig> url_rules;
  std::string audit_file;  // JSON lines; empty: audit to stdout
  uint64_t audit_max_bytes = 256ULL << 20;
  uint32_t audit_keep = 14;
  std::string learning_api;         // "unix:/path" or "http://host:port"; empty: no reports
  std::string learning_token_file;  // bearer token for an http API
  uint32_t learning_queue_size = 1024;
  uint64_t learning_timeout_ns = 5'000'000'000ULL;
  uint64_t learning_bypass_refresh_ns = 5'000'000'000ULL;  // 0: bypass entries not followed
  std::string stats_file;  // written every stats_interval and at exit; empty: none
  uint64_t stats_interval_ns = 10'000'000'000ULL;
};

// Relative paths are resolved against the directory of `name_for_errors` when `base_dir` is set.
absl::StatusOr<InterceptConfig> parse_intercept_config(std::string_view yaml,
                                                       std::string_view name_for_errors,
                                                       const std::string& base_dir = "");
absl::StatusOr<InterceptConfig> load_intercept_config(const std::string& path);

}  // namespace sluice::intercept
