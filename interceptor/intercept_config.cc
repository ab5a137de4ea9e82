#include "interceptor/intercept_config.h"

#include <arpa/inet.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "dataplane/config/config_values.h"
#include "dataplane/policy/absl_text.h"

namespace sluice::intercept {
namespace {

class Parser {
 public:
  Parser(std::string_view file, std::string base_dir) : file_(file), base_dir_(std::move(base_dir)) {}

  void error(const YAML::Node& n, std::string_view key, std::string_view reason) {
    const YAML::Mark m = n.Mark();
    errors_.push_back(absl::StrCat(av(file_), ":", m.line + 1, ":", m.column + 1, ": ", av(key),
                                   ": ", av(reason)));
  }
  const std::vector<std::string>& errors() const { return errors_; }

  // Refuses keys not in `keys`, suggesting the nearest one.
  bool map(const YAML::Node& n, std::string_view path, std::initializer_list<absl::string_view> keys) {
    if (!n.IsMap()) {
      error(n, path, "must be a mapping (key: value lines)");
      return false;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.as<std::string>();
      bool known = false;
      for (absl::string_view k : keys) known = known || k == key;
      if (!known) {
        absl::string_view near = config::closest_match(key, keys);
        error(kv.first, path.empty() ? key : absl::StrCat(av(path), ".", key),
              near.empty() ? absl::StrCat("unknown key (known: ", absl::StrJoin(keys, ", "), ")")
                           : absl::StrCat("unknown key; did you mean `", near, "`?"));
      }
    }
    return true;
  }

  bool string(const YAML::Node& n, std::string_view path, std::string& out) {
    if (!n) return false;
    if (!n.IsScalar() || n.Scalar().empty()) {
      error(n, path, "must be a non-empty string");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  void path(const YAML::Node& n, std::string_view key, std::string& out) {
    if (string(n, key, out)) out = resolve(out);
  }

  std::string resolve(const std::string& p) const {
    if (base_dir_.empty() || p.empty() || p[0] == '/') return p;
    return (std::filesystem::path(base_dir_) / p).string();
  }

  template <typename T>
  void number(const YAML::Node& n, std::string_view path, T& out, uint64_t min, uint64_t max) {
    if (!n) return;
    uint64_t v = 0;
    try {
      if (!n.IsScalar() || n.Scalar().empty() || n.Scalar()[0] == '-') throw YAML::Exception(n.Mark(), "");
      v = n.as<uint64_t>();
    } catch (const YAML::Exception&) {
      error(n, path, "must be a whole number");
      return;
    }
    if (v < min || v > max) {
      error(n, path, absl::StrCat("must be between ", min, " and ", max));
      return;
    }
    out = static_cast<T>(v);
  }

  void duration(const YAML::Node& n, std::string_view path, uint64_t& out, uint64_t min_ns) {
    std::string text;
    if (!string(n, path, text)) return;
    absl::StatusOr<uint64_t> v = config::parse_duration_ns(text);
    if (!v.ok()) {
      error(n, path, sv(v.status().message()));
    } else if (*v < min_ns) {
      error(n, path, absl::StrCat("must be at least ", config::format_duration(min_ns)));
    } else {
      out = *v;
    }
  }

  void bytes(const YAML::Node& n, std::string_view path, uint64_t& out, uint64_t min, uint64_t max) {
    std::string text;
    if (!string(n, path, text)) return;
    absl::StatusOr<uint64_t> v = config::parse_byte_size(text);
    if (!v.ok()) {
      error(n, path, sv(v.status().message()));
    } else if (*v < min || *v > max) {
      error(n, path, absl::StrCat("must be between ", min, " and ", max, " bytes"));
    } else {
      out = *v;
    }
  }

  void boolean(const YAML::Node& n, std::string_view path, bool& out) {
    std::string text;
    if (!string(n, path, text)) return;
    if (text == "true") {
      out = true;
    } else if (text == "false") {
      out = false;
    } else {
      error(n, path, "must be true or false");
    }
  }

  void listen_address(const YAML::Node& n, std::string_view path, std::string& out) {
    if (!string(n, path, out)) return;
    const size_t colon = out.rfind(':');
    uint64_t port = 0;
    if (colon == std::string::npos || colon == 0 ||
        !absl::SimpleAtoi(absl::string_view(out).substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      error(n, path, "must be ADDRESS:PORT, e.g. 127.0.0.1:3128 or [::]:3128");
      out.clear();
    }
  }

  void parse(const YAML::Node& root, InterceptConfig& c);

 private:
  std::string_view file_;
  std::string base_dir_;
  std::vector<std::string> errors_;
};

void Parser::parse(const YAML::Node& root, InterceptConfig& c) {
  if (!root.IsDefined() || root.IsNull()) {
    errors_.push_back(absl::StrCat(av(file_), ":1:1: the file is empty (need at least ca_dir and a listener)"));
    return;
  }
  if (!map(root, "", {"threads", "listen", "handoff", "ca_dir", "policy_config", "upstream",
                      "limits", "url_rules", "audit", "learning", "stats"})) {
    return;
  }
  number(root["threads"], "threads", c.threads, 1, 64);
  if (const YAML::Node l = root["listen"]; l && map(l, "listen", {"explicit", "transparent"})) {
    listen_address(l["explicit"], "listen.explicit", c.explicit_listen);
    listen_address(l["transparent"], "listen.transparent", c.transparent_listen);
  }
  if (const YAML::Node h = root["handoff"]; h && map(h, "handoff", {"listen", "dataplane"})) {
    if (!h["listen"]) {
      error(h, "handoff.listen",
            "required: ADDRESS:PORT where sluice's handoffs arrive (intercept.address and "
            "intercept.handoff.port of the sluice run configuration, e.g. 10.0.0.250:7301)");
    }
    listen_address(h["listen"], "handoff.listen", c.handoff_listen);
    if (h["dataplane"] && string(h["dataplane"], "handoff.dataplane", c.handoff_dataplane)) {
      in_addr a{};
      if (inet_pton(AF_INET, c.handoff_dataplane.c_str(), &a) != 1)
        error(h["dataplane"], "handoff.dataplane",
              "must be an IPv4 address: intercept.handoff.source of the sluice run configuration");
    }
  }
  if (!root["ca_dir"]) {
    error(root, "ca_dir", "required: the directory `sluice-intercept ca init --dir` wrote");
  } else {
    path(root["ca_dir"], "ca_dir", c.ca_dir);
  }
  path(root["policy_config"], "policy_config", c.policy_config);
  if (const YAML::Node u = root["upstream"];
      u && map(u, "upstream", {"extra_ca_files", "connect_timeout", "mark", "session_cache_entries",
                               "verify_cache_entries", "verify_cache_ttl", "allow_local_destinations"})) {
    boolean(u["allow_local_destinations"], "upstream.allow_local_destinations", c.allow_local_destinations);
    if (const YAML::Node f = u["extra_ca_files"]; f) {
      if (!f.IsSequence()) {
        error(f, "upstream.extra_ca_files", "must be a list of PEM files");
      } else {
        for (size_t i = 0; i < f.size(); ++i) {
          std::string p;
          path(f[i], absl::StrCat("upstream.extra_ca_files[", i, "]"), p);
          if (!p.empty()) c.extra_ca_files.push_back(p);
        }
      }
    }
    duration(u["connect_timeout"], "upstream.connect_timeout", c.connect_timeout_ns, 100'000'000);
    number(u["mark"], "upstream.mark", c.upstream_mark, 1, 0xffffffffULL);
    number(u["session_cache_entries"], "upstream.session_cache_entries", c.session_cache_entries, 0,
           1'000'000);
    number(u["verify_cache_entries"], "upstream.verify_cache_entries", c.verify_cache_entries, 0,
           1'000'000);
    duration(u["verify_cache_ttl"], "upstream.verify_cache_ttl", c.verify_cache_ttl_ns, 1'000'000'000);
  }
  if (const YAML::Node l = root["limits"];
      l && map(l, "limits", {"max_connections", "handshake_timeout", "server_first_wait", "idle_timeout", "max_head_bytes",
                             "max_client_hello_bytes", "buffer_bytes", "cert_cache_entries"})) {
    number(l["max_connections"], "limits.max_connections", c.max_connections, 1, 1'000'000);
    duration(l["handshake_timeout"], "limits.handshake_timeout", c.handshake_timeout_ns, 100'000'000);
    duration(l["server_first_wait"], "limits.server_first_wait", c.server_first_wait_ns, 0);
    duration(l["idle_timeout"], "limits.idle_timeout", c.idle_timeout_ns, 1'000'000'000);
    bytes(l["max_head_bytes"], "limits.max_head_bytes", c.max_head_bytes, 1024, 1 << 20);
    bytes(l["max_client_hello_bytes"], "limits.max_client_hello_bytes", c.max_client_hello_bytes,
          2048, 64 * 1024);
    bytes(l["buffer_bytes"], "limits.buffer_bytes", c.buffer_bytes, 4096, 16 << 20);
    number(l["cert_cache_entries"], "limits.cert_cache_entries", c.cert_cache_entries, 1, 10'000'000);
  }
  if (const YAML::Node r = root["url_rules"]; r) {
    if (!r.IsSequence()) {
      error(r, "url_rules", "must be a list of {name, patterns}");
    } else {
      for (size_t i = 0; i < r.size(); ++i) {
        const std::string at = absl::StrCat("url_rules[", i, "]");
        if (!map(r[i], at, {"name", "patterns"})) continue;
        UrlRuleConfig rule;
        const YAML::Mark m = r[i].Mark();
        rule.defined_at = absl::StrCat(av(file_), ":", m.line + 1, ":", m.column + 1);
        if (!r[i]["name"]) error(r[i], at, "needs a name (it goes into the audit record)");
        string(r[i]["name"], at + ".name", rule.name);
        const YAML::Node p = r[i]["patterns"];
        if (!p || !p.IsSequence() || p.size() == 0) {
          error(p ? p : r[i], at + ".patterns", "must be a non-empty list of Hyperscan expressions");
        } else {
          for (size_t j = 0; j < p.size(); ++j) {
            std::string pattern;
            if (string(p[j], absl::StrCat(at, ".patterns[", j, "]"), pattern)) rule.patterns.push_back(pattern);
          }
        }
        c.url_rules.push_back(std::move(rule));
      }
    }
  }
  if (const YAML::Node a = root["audit"]; a && map(a, "audit", {"file", "max_bytes", "keep"})) {
    path(a["file"], "audit.file", c.audit_file);
    bytes(a["max_bytes"], "audit.max_bytes", c.audit_max_bytes, 0, 1ULL << 40);
    number(a["keep"], "audit.keep", c.audit_keep, 0, 1000);
  }
  if (const YAML::Node l = root["learning"];
      l && map(l, "learning", {"api", "token_file", "queue_size", "timeout", "bypass_refresh"})) {
    if (string(l["api"], "learning.api", c.learning_api)) {
      if (c.learning_api.rfind("unix:", 0) == 0) {
        c.learning_api = "unix:" + resolve(c.learning_api.substr(5));
      } else if (c.learning_api.rfind("http://", 0) != 0 && c.learning_api.rfind("https://", 0) != 0) {
        error(l["api"], "learning.api", "must be unix:/path/to/api.sock or http://HOST:PORT");
        c.learning_api.clear();
      }
    }
    path(l["token_file"], "learning.token_file", c.learning_token_file);
    number(l["queue_size"], "learning.queue_size", c.learning_queue_size, 1, 1'000'000);
    duration(l["timeout"], "learning.timeout", c.learning_timeout_ns, 100'000'000);
    // 0 turns following off; anything shorter than 100 ms would only load the API.
    uint64_t refresh = c.learning_bypass_refresh_ns;
    duration(l["bypass_refresh"], "learning.bypass_refresh", refresh, 0);
    if (refresh != 0 && refresh < 100'000'000) {
      error(l["bypass_refresh"], "learning.bypass_refresh", "must be 0 (off) or at least 100ms");
    } else {
      c.learning_bypass_refresh_ns = refresh;
    }
  }
  if (const YAML::Node s = root["stats"]; s && map(s, "stats", {"file", "interval"})) {
    path(s["file"], "stats.file", c.stats_file);
    duration(s["interval"], "stats.interval", c.stats_interval_ns, 1'000'000'000);
  }
  if (c.explicit_listen.empty() && c.transparent_listen.empty() && c.handoff_listen.empty() &&
      errors_.empty()) {
    error(root, "listen", "name at least one of listen.explicit, listen.transparent and "
                          "handoff.listen");
  }
}

}  // namespace

absl::StatusOr<InterceptConfig> parse_intercept_config(std::string_view yaml,
                                                       std::string_view name_for_errors,
                                                       const std::string& base_dir) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(absl::StrCat(av(name_for_errors), ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": not valid YAML: ", e.msg));
  }
  InterceptConfig config;
  config.source = std::string(name_for_errors);
  Parser parser(name_for_errors, base_dir);
  try {
    parser.parse(root, config);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(av(name_for_errors), ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": ", e.msg));
  }
  if (!parser.errors().empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(parser.errors(), "\n"));
  }
  return config;
}

absl::StatusOr<InterceptConfig> load_intercept_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return parse_intercept_config(text.str(), path,
                                std::filesystem::path(path).parent_path().string());
}

std::vector<uint16_t> InterceptConfig::own_ports() const {
  std::vector<uint16_t> ports;
  for (const std::string* listen : {&explicit_listen, &transparent_listen}) {
    uint32_t port = 0;
    const size_t colon = listen->rfind(':');
    if (colon != std::string::npos && absl::SimpleAtoi(absl::string_view(*listen).substr(colon + 1), &port))
      ports.push_back(static_cast<uint16_t>(port));
  }
  return ports;
}

}  // namespace sluice::intercept
