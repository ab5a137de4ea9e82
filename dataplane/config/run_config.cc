#include "dataplane/config/run_config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/syslog_message.h"
#include "dataplane/config/config_values.h"
#include "dataplane/config/mbuf_budget.h"
#include "yaml-cpp/yaml.h"

namespace sluice {
namespace {

using config::closest_match;
using config::format_duration;

// Limits of Debian's DPDK 22.11 build (rte_build_config.h, rte_mempool.h). Repeated here so the
// config library needs no DPDK headers; a value beyond them would fail inside rte_eal_init.
constexpr uint32_t kMaxLcore = 128;       // RTE_MAX_LCORE
constexpr size_t kMaxPorts = 32;          // RTE_MAX_ETHPORTS
constexpr uint32_t kMaxMempoolCache = 512;  // RTE_MEMPOOL_CACHE_MAX_SIZE
constexpr size_t kMaxWorkers = 64;        // queues per port we are prepared to set up
constexpr size_t kMaxErrors = 30;         // beyond this, more messages stop helping

using Keys = std::initializer_list<absl::string_view>;

bool valid_name(absl::string_view s, size_t max_length) {
  if (s.empty() || s.size() > max_length) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
           c == '.';
  });
}

// The YAML node kind in words, for "expected a map, got a list".
std::string kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return n.Scalar().size() > 40 ? "a long value" : absl::StrCat("'", n.Scalar(), "'");
    case YAML::NodeType::Null:
      return "nothing";
    default:
      return "an undefined node";
  }
}

std::string powers_of_two_near(uint64_t v) {
  const uint64_t lower = std::bit_floor(v);
  return absl::StrCat(lower, " or ", lower * 2);
}

// Reads one document into a RunConfig, collecting every error rather than stopping at the first,
// so one round of edits can fix them all.
class Parser {
 public:
  Parser(absl::string_view file, const ConfigParseOptions& options)
      : file_(file), options_(options) {}

  void parse(const YAML::Node& root, RunConfig& c);

  void error(const YAML::Mark& mark, absl::string_view path, absl::string_view reason) {
    errors_.push_back({mark.is_null() ? -1 : mark.line, mark.is_null() ? -1 : mark.column,
                       path.empty() ? absl::StrCat(where(mark), ": ", reason)
                                    : absl::StrCat(where(mark), ": ", path, ": ", reason)});
  }
  // All errors in file order (the checks run section by section), at most kMaxErrors.
  std::vector<std::string> errors() const {
    std::vector<Error> sorted = errors_;
    std::stable_sort(sorted.begin(), sorted.end(), [](const Error& a, const Error& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    std::vector<std::string> out;
    for (const Error& e : sorted) {
      if (out.size() == kMaxErrors) {
        out.push_back(absl::StrCat("(", sorted.size() - kMaxErrors, " more errors not shown)"));
        break;
      }
      out.push_back(e.text);
    }
    return out;
  }
  std::string where(const YAML::Mark& mark) const {
    if (mark.is_null()) return file_;
    return absl::StrCat(file_, ":", mark.line + 1, ":", mark.column + 1);
  }

 private:
  // Checks that `n` is a map whose keys are all in `keys`, each once. Unknown keys get a
  // "did you mean"; returns false (nothing more to read) when `n` is not a map.
  bool map(const YAML::Node& n, const std::string& path, Keys keys) {
    if (!n.IsMap()) {
      error(n.Mark(), path, absl::StrCat("expected a map of keys (", absl::StrJoin(keys, ", "),
                                         "), got ", kind_of(n)));
      return false;
    }
    std::map<std::string, YAML::Mark> seen;
    for (const auto& kv : n) {
      const YAML::Node& key = kv.first;
      if (!key.IsScalar()) {
        error(key.Mark(), path, "keys must be plain words");
        continue;
      }
      const std::string& name = key.Scalar();
      const std::string key_path = path.empty() ? name : absl::StrCat(path, ".", name);
      if (std::find(keys.begin(), keys.end(), name) == keys.end()) {
        const absl::string_view guess = closest_match(name, keys);
        error(key.Mark(), "",
              guess.empty()
                  ? absl::StrCat("unknown key '", key_path, "' (known here: ",
                                 absl::StrJoin(keys, ", "), ")")
                  : absl::StrCat("unknown key '", key_path, "'; did you mean '", guess, "'?"));
        continue;
      }
      auto [it, inserted] = seen.emplace(name, key.Mark());
      if (!inserted)
        error(key.Mark(), key_path,
              absl::StrCat("given twice (first at line ", it->second.line + 1, ")"));
    }
    return true;
  }

  // Where `key` itself is written in map `n` (for "this key does not belong here").
  static YAML::Mark key_mark(const YAML::Node& n, absl::string_view key) {
    for (const auto& kv : n)
      if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.first.Mark();
    return n.Mark();
  }

  // A required child: reports it missing (at the parent) and returns false.
  bool required(const YAML::Node& parent, absl::string_view key, const std::string& path) {
    if (parent[std::string(key)].IsDefined()) return true;
    error(parent.Mark(), path, absl::StrCat("missing required key '", key, "'"));
    return false;
  }

  bool scalar(const YAML::Node& n, const std::string& path, absl::string_view what) {
    if (n.IsScalar()) return true;
    error(n.Mark(), path, absl::StrCat("expected ", what, ", got ", kind_of(n)));
    return false;
  }

  // Strings: any plain or quoted scalar.
  bool string(const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n.IsDefined()) return false;
    if (!scalar(n, path, "a string")) return false;
    if (n.Scalar().empty()) {
      error(n.Mark(), path, "must not be empty");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  bool boolean(const YAML::Node& n, const std::string& path, bool& out) {
    if (!n.IsDefined() || !scalar(n, path, "true or false")) return false;
    if (n.Tag() == "?" && (n.Scalar() == "true" || n.Scalar() == "false")) {
      out = n.Scalar() == "true";
      return true;
    }
    // yes/no/on/off are booleans in YAML 1.1 only; refusing them avoids guessing.
    error(n.Mark(), path, absl::StrCat("expected true or false, got '", n.Scalar(), "'"));
    return false;
  }

  // A whole number in [lo, hi]; `pow2` also requires a power of two (DPDK rings and most PMD
  // descriptor rings).
  template <typename T>
  bool number(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi, T& out,
              bool pow2 = false) {
    if (!n.IsDefined() || !scalar(n, path, "a whole number")) return false;
    const std::string& text = n.Scalar();
    uint64_t v = 0;
    if (n.Tag() != "?") {
      error(n.Mark(), path, absl::StrCat("expected a whole number, got the quoted string '",
                                         text, "'"));
      return false;
    }
    if (!text.empty() && text[0] == '-') {
      int64_t negative = 0;
      if (absl::SimpleAtoi(text, &negative)) {
        error(n.Mark(), path, absl::StrCat(text, " is out of range (", lo, " to ", hi, ")"));
        return false;
      }
    }
    if (text.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(text[0])) ||
        !absl::SimpleAtoi(text, &v)) {
      error(n.Mark(), path, absl::StrCat("expected a whole number, got '", text, "'"));
      return false;
    }
    if (v < lo || v > hi) {
      error(n.Mark(), path, absl::StrCat(v, " is out of range (", lo, " to ", hi, ")"));
      return false;
    }
    if (pow2 && !std::has_single_bit(v)) {
      error(n.Mark(), path,
            absl::StrCat(v, " is not a power of two (DPDK needs one here); use ",
                         powers_of_two_near(v)));
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  // A duration with a unit, in [lo, hi] nanoseconds; 0 is accepted when `zero_ok` (meaning
  // "off") even below lo.
  bool duration(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi,
                uint64_t& out, bool zero_ok = false) {
    if (!n.IsDefined() || !scalar(n, path, "a duration such as 10s")) return false;
    absl::StatusOr<uint64_t> ns = config::parse_duration_ns(n.Scalar());
    if (!ns.ok()) {
      error(n.Mark(), path, ns.status().message());
      return false;
    }
    if ((*ns < lo && !(zero_ok && *ns == 0)) || *ns > hi) {
      error(n.Mark(), path,
            absl::StrCat(n.Scalar(), " is out of range (", zero_ok ? "0 or " : "",
                         format_duration(lo), " to ", format_duration(hi), ")"));
      return false;
    }
    out = *ns;
    return true;
  }

  template <typename T>
  bool bytes(const YAML::Node& n, const std::string& path, uint64_t lo, uint64_t hi, T& out,
             bool zero_ok = false) {
    if (!n.IsDefined() || !scalar(n, path, "a size such as 16KiB")) return false;
    absl::StatusOr<uint64_t> v = config::parse_byte_size(n.Scalar());
    if (!v.ok()) {
      error(n.Mark(), path, v.status().message());
      return false;
    }
    if ((*v < lo && !(zero_ok && *v == 0)) || *v > hi) {
      error(n.Mark(), path,
            absl::StrCat(n.Scalar(), " is out of range (", zero_ok ? "0 or " : "", lo, " to ",
                         hi, " bytes)"));
      return false;
    }
    out = static_cast<T>(*v);
    return true;
  }

  // One of a fixed set of words.
  template <typename E>
  bool choice(const YAML::Node& n, const std::string& path,
              std::initializer_list<std::pair<absl::string_view, E>> options, E& out) {
    if (!n.IsDefined()) return false;
    std::vector<absl::string_view> words;
    for (const auto& [word, value] : options) words.push_back(word);
    if (!scalar(n, path, absl::StrCat("one of ", absl::StrJoin(words, ", ")))) return false;
    for (const auto& [word, value] : options) {
      if (n.Scalar() == word) {
        out = value;
        return true;
      }
    }
    std::string reason = absl::StrCat("'", n.Scalar(), "' is not one of ",
                                      absl::StrJoin(words, ", "));
    absl::string_view guess;
    size_t best = SIZE_MAX;
    for (absl::string_view w : words) {
      const absl::string_view g = closest_match(n.Scalar(), {w});
      if (!g.empty() && w.size() < best) {
        guess = g;
        best = w.size();
      }
    }
    if (!guess.empty()) absl::StrAppend(&reason, "; did you mean '", guess, "'?");
    error(n.Mark(), path, reason);
    return false;
  }

  bool verdict(const YAML::Node& n, const std::string& path, Verdict& out,
               bool allow_intercept = true) {
    if (allow_intercept)
      return choice<Verdict>(n, path,
                             {{"pass", Verdict::kPass},
                              {"block", Verdict::kBlock},
                              {"intercept", Verdict::kIntercept}},
                             out);
    return choice<Verdict>(n, path, {{"pass", Verdict::kPass}, {"block", Verdict::kBlock}}, out);
  }

  // A list; a missing one is fine (empty), anything else is a type error.
  bool sequence(const YAML::Node& n, const std::string& path, absl::string_view of) {
    if (!n.IsDefined()) return false;
    if (n.IsSequence()) return true;
    error(n.Mark(), path, absl::StrCat("expected a list of ", of, ", got ", kind_of(n)));
    return false;
  }

  std::string resolve(const std::string& p) const {
    if (options_.base_dir.empty() || p.empty() || p[0] == '/') return p;
    return (std::filesystem::path(options_.base_dir) / p).lexically_normal().string();
  }

  // Port name -> index, reporting an undefined one.
  bool port_ref(const YAML::Node& n, const std::string& path, const RunConfig& c, size_t& out) {
    std::string name;
    if (!string(n, path, name)) return false;
    out = c.port_index(name);
    if (out < c.ports.size()) return true;
    std::vector<absl::string_view> names;
    for (const PortConfig& p : c.ports) names.push_back(p.name);
    std::string reason = absl::StrCat("no port is named '", name, "'");
    if (names.empty()) {
      absl::StrAppend(&reason, " (no ports are defined)");
    } else {
      absl::StrAppend(&reason, " (defined: ", absl::StrJoin(names, ", "), ")");
    }
    error(n.Mark(), path, reason);
    return false;
  }

  void parse_eal(const YAML::Node& n, RunConfig& c);
  void parse_ports(const YAML::Node& n, RunConfig& c);
  void parse_topology(const YAML::Node& root, RunConfig& c);
  void parse_lcores(const YAML::Node& n, RunConfig& c);
  void parse_sizes(const YAML::Node& root, RunConfig& c);
  void parse_flows(const YAML::Node& root, RunConfig& c);
  void parse_policy(const YAML::Node& n, RunConfig& c);
  void parse_rule(const YAML::Node& n, const std::string& path, PolicyRuleConfig& rule);
  void parse_quic(const YAML::Node& n, PolicyConfig& p);
  void prefixes(const YAML::Node& n, const std::string& path, std::vector<IpPrefix>& out);
  void parse_audit(const YAML::Node& n, RunConfig& c);
  void parse_syslog_sink(const YAML::Node& s, const std::string& path, RunConfig& c);
  void parse_stats(const YAML::Node& n, RunConfig& c);
  void parse_bypass(const YAML::Node& n, RunConfig& c);
  void parse_api(const YAML::Node& n, RunConfig& c);
  void parse_intercept(const YAML::Node& n, RunConfig& c);
  bool ipv4(const YAML::Node& n, const std::string& path, std::array<uint8_t, 4>& out) {
    std::string text;
    if (!string(n, path, text)) return false;
    in_addr a{};
    if (inet_pton(AF_INET, text.c_str(), &a) != 1) {
      error(n.Mark(), path, absl::StrCat("'", text, "' is not an IPv4 address (a.b.c.d)"));
      return false;
    }
    std::memcpy(out.data(), &a, 4);
    return true;
  }
  // A unicast IPv6 address the appliance can own (not ::, loopback, multicast or IPv4-mapped).
  bool ipv6(const YAML::Node& n, const std::string& path, std::array<uint8_t, 16>& out) {
    std::string text;
    if (!string(n, path, text)) return false;
    in6_addr a{};
    if (inet_pton(AF_INET6, text.c_str(), &a) != 1) {
      error(n.Mark(), path, absl::StrCat("'", text, "' is not an IPv6 address (e.g. fd00:5c::250)"));
      return false;
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_MULTICAST(&a) ||
        IN6_IS_ADDR_V4MAPPED(&a) || IN6_IS_ADDR_LINKLOCAL(&a)) {
      error(n.Mark(), path,
            absl::StrCat("'", text, "' cannot be the appliance's address: give a global or "
                         "unique-local unicast address on the outside segment"));
      return false;
    }
    std::memcpy(out.data(), &a, 16);
    return true;
  }

  struct Error {
    int line;
    int column;
    std::string text;
  };
  std::string file_;
  ConfigParseOptions options_;
  std::vector<Error> errors_;
  std::vector<YAML::Mark> port_marks_;  // of each entry in RunConfig::ports
};

void Parser::parse(const YAML::Node& root, RunConfig& c) {
  if (!root.IsDefined() || root.IsNull()) {
    error(YAML::Mark(), "", "the file is empty; see deploy/config/REFERENCE.md for what it needs");
    return;
  }
  if (!map(root, "",
           {"eal", "ports", "mode", "pairs", "monitor", "lcores", "queues", "mempool", "flows",
            "first_flight", "checksum", "ip_reassembly", "policy", "audit", "stats", "bypass", "api", "intercept"}))
    return;
  if (root["eal"]) parse_eal(root["eal"], c);
  if (required(root, "ports", "")) parse_ports(root["ports"], c);
  parse_topology(root, c);
  if (required(root, "lcores", "")) parse_lcores(root["lcores"], c);
  parse_flows(root, c);
  parse_sizes(root, c);
  if (root["policy"]) parse_policy(root["policy"], c);
  if (root["audit"]) parse_audit(root["audit"], c);
  if (root["stats"]) parse_stats(root["stats"], c);
  if (root["bypass"]) parse_bypass(root["bypass"], c);
  if (root["api"]) parse_api(root["api"], c);
  if (root["intercept"]) parse_intercept(root["intercept"], c);

  // Cross-checks that need more than one section.
  if (!c.eal.pci) {
    for (size_t i = 0; i < c.ports.size(); ++i) {
      if (c.ports[i].kind == PortKind::kPci)
        error(port_marks_[i], absl::StrCat("ports[", i, "]"),
              absl::StrCat("'", c.ports[i].name,
                           "' is a PCI device but eal.pci is false (--no-pci)"));
    }
  }
}

void Parser::parse_eal(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "eal", {"huge_pages", "memory_mb", "pci", "file_prefix", "args"})) return;
  boolean(n["huge_pages"], "eal.huge_pages", c.eal.huge_pages);
  number(n["memory_mb"], "eal.memory_mb", 64, 1u << 20, c.eal.memory_mb);
  boolean(n["pci"], "eal.pci", c.eal.pci);
  if (string(n["file_prefix"], "eal.file_prefix", c.eal.file_prefix) &&
      !valid_name(c.eal.file_prefix, 64))
    error(n["file_prefix"].Mark(), "eal.file_prefix",
          "use letters, digits, '_', '-' and '.' only (it names files under /run/dpdk)");
  if (!c.eal.huge_pages && c.eal.memory_mb == 0)
    error(n.Mark(), "eal",
          "memory_mb is required when huge_pages is false (e.g. memory_mb: 1024); without "
          "hugepages DPDK reserves only what -m asks for");

  // Options that sluice derives from other sections: given here too, they would disagree.
  static constexpr std::pair<absl::string_view, absl::string_view> kDerived[] = {
      {"-l", "lcores"},           {"-c", "lcores"},           {"--lcores", "lcores"},
      {"--main-lcore", "lcores"}, {"--master-lcore", "lcores"}, {"-a", "ports"},
      {"--allow", "ports"},       {"-w", "ports"},            {"--vdev", "ports"},
      {"--no-huge", "eal.huge_pages"}, {"-m", "eal.memory_mb"}, {"--no-pci", "eal.pci"},
      {"--file-prefix", "eal.file_prefix"}, {"--no-telemetry", "stats.telemetry"}};
  const YAML::Node args = n["args"];
  if (!sequence(args, "eal.args", "EAL arguments")) return;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string path = absl::StrCat("eal.args[", i, "]");
    std::string arg;
    if (!string(args[i], path, arg)) continue;
    const absl::string_view option = absl::string_view(arg).substr(0, arg.find('='));
    bool derived = false;
    for (const auto& [flag, section] : kDerived) {
      // "-l" also catches "-l0-3"; long options only match exactly (before any '=').
      const bool match = flag.size() == 2 ? absl::string_view(arg).substr(0, 2) == flag &&
                                                (arg.size() == 2 || arg[1] != '-')
                                          : option == flag;
      if (!match) continue;
      error(args[i].Mark(), path,
            absl::StrCat("'", flag, "' is set by sluice from '", section,
                         "'; configure it there instead"));
      derived = true;
      break;
    }
    if (!derived) c.eal.extra_args.push_back(arg);
  }
}

void Parser::parse_ports(const YAML::Node& n, RunConfig& c) {
  if (!sequence(n, "ports", "ports ({name, device})")) return;
  if (n.size() == 0) error(n.Mark(), "ports", "at least one port is needed");
  if (n.size() > kMaxPorts)
    error(n.Mark(), "ports", absl::StrCat("at most ", kMaxPorts, " ports (RTE_MAX_ETHPORTS)"));
  std::map<std::string, std::string> devices;  // PCI address or vdev name -> port name
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node p = n[i];
    const std::string path = absl::StrCat("ports[", i, "]");
    if (!map(p, path, {"name", "device"})) continue;
    PortConfig port;
    port.defined_at = where(p.Mark());
    port_marks_.resize(c.ports.size() + 1);
    port_marks_[c.ports.size()] = p.Mark();
    const bool has_name = required(p, "name", path);
    const bool has_device = required(p, "device", path);
    if (has_name && string(p["name"], path + ".name", port.name)) {
      if (!valid_name(port.name, 32)) {
        error(p["name"].Mark(), path + ".name",
              absl::StrCat("'", port.name,
                           "' is not a port name: up to 32 letters, digits, '_', '-', '.'"));
      } else if (c.port_index(port.name) < c.ports.size()) {
        error(p["name"].Mark(), path + ".name",
              absl::StrCat("port name '", port.name, "' is already used by ports[",
                           c.port_index(port.name), "]"));
      }
    }
    if (has_device && string(p["device"], path + ".device", port.device)) {
      const YAML::Node d = p["device"];
      std::string key;
      if (port.device.rfind("net_", 0) == 0) {
        absl::StatusOr<config::Vdev> vdev = config::parse_vdev(port.device);
        if (vdev.ok()) {
          port.kind = PortKind::kVdev;
          port.driver = vdev->driver;
          port.vdev_name = vdev->name;
          key = vdev->name;
        } else {
          error(d.Mark(), path + ".device", vdev.status().message());
        }
      } else {
        absl::StatusOr<std::string> pci = config::parse_pci_address(port.device);
        if (pci.ok()) {
          port.kind = PortKind::kPci;
          port.device = *pci;
          key = *pci;
        } else {
          error(d.Mark(), path + ".device",
                absl::StrCat(pci.status().message(), ", or a vdev such as net_af_packet0,iface=X"));
        }
      }
      if (!key.empty()) {
        auto [it, inserted] = devices.emplace(key, port.name);
        if (!inserted)
          error(d.Mark(), path + ".device",
                absl::StrCat("device '", key, "' is already port '", it->second,
                             "'; each device can be opened once"));
      }
    }
    c.ports.push_back(std::move(port));
  }
}

void Parser::parse_topology(const YAML::Node& root, RunConfig& c) {
  const YAML::Node mode = root["mode"];
  choice<RunMode>(mode, "mode", {{"inline", RunMode::kInline}, {"monitor", RunMode::kMonitor}},
                  c.mode);
  const YAML::Node pairs = root["pairs"];
  const YAML::Node monitor = root["monitor"];
  // A missing section is reported at `mode` when it was written, since that is what asks for it.
  const YAML::Mark mode_mark = mode.IsDefined() ? mode.Mark() : root.Mark();
  if (c.mode == RunMode::kInline) {
    if (monitor.IsDefined())
      error(key_mark(root, "monitor"), "monitor",
            "only used with mode: monitor (this config is inline)");
    if (!pairs.IsDefined()) {
      error(mode_mark, "",
            "missing required key 'pairs': inline mode bridges at least one inside/outside pair");
      return;
    }
    if (!sequence(pairs, "pairs", "{inside, outside} port pairs")) return;
    if (pairs.size() == 0) error(pairs.Mark(), "pairs", "at least one pair is needed");
    std::map<size_t, std::string> used;  // port index -> where it was paired
    for (size_t i = 0; i < pairs.size(); ++i) {
      const YAML::Node p = pairs[i];
      const std::string path = absl::StrCat("pairs[", i, "]");
      if (!map(p, path, {"inside", "outside"})) continue;
      PortPair pair;
      const bool has_inside = required(p, "inside", path);
      const bool has_outside = required(p, "outside", path);
      const bool inside_ok = has_inside && port_ref(p["inside"], path + ".inside", c, pair.inside);
      const bool outside_ok =
          has_outside && port_ref(p["outside"], path + ".outside", c, pair.outside);
      if (!inside_ok || !outside_ok) continue;
      if (pair.inside == pair.outside) {
        error(p["outside"].Mark(), path, "inside and outside must be different ports");
        continue;
      }
      for (const char* side : {"inside", "outside"}) {
        const size_t port = side[0] == 'i' ? pair.inside : pair.outside;
        auto [it, inserted] = used.emplace(port, absl::StrCat(path, ".", side));
        if (!inserted)
          error(p[side].Mark(), absl::StrCat(path, ".", side),
                absl::StrCat("port '", c.ports[port].name, "' is already in ", it->second,
                             "; a port belongs to one pair"));
      }
      c.pairs.push_back(pair);
    }
    return;
  }
  if (pairs.IsDefined())
    error(key_mark(root, "pairs"), "pairs", "only used with mode: inline (this config is monitor)");
  if (!monitor.IsDefined()) {
    error(mode_mark, "",
          "missing required key 'monitor': monitor mode needs a mirror port and an inject port");
    return;
  }
  if (!map(monitor, "monitor", {"mirror", "inject"})) return;
  if (required(monitor, "mirror", "monitor"))
    port_ref(monitor["mirror"], "monitor.mirror", c, c.monitor.mirror);
  if (required(monitor, "inject", "monitor"))
    port_ref(monitor["inject"], "monitor.inject", c, c.monitor.inject);
}

void Parser::parse_lcores(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "lcores", {"management", "workers", "cpus", "idle_backoff"})) return;
  LcoreConfig& l = c.lcores;
  number(n["management"], "lcores.management", 0, kMaxLcore - 1, l.management);
  if (required(n, "workers", "lcores") &&
      sequence(n["workers"], "lcores.workers", "lcore ids")) {
    const YAML::Node w = n["workers"];
    if (w.size() == 0) error(w.Mark(), "lcores.workers", "at least one worker lcore is needed");
    if (w.size() > kMaxWorkers)
      error(w.Mark(), "lcores.workers", absl::StrCat("at most ", kMaxWorkers, " workers"));
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string path = absl::StrCat("lcores.workers[", i, "]");
      uint32_t id = 0;
      if (!number(w[i], path, 0, kMaxLcore - 1, id)) continue;
      if (id == l.management) {
        error(w[i].Mark(), path,
              absl::StrCat("lcore ", id, " is the management lcore; a worker needs its own"));
      } else if (std::find(l.workers.begin(), l.workers.end(), id) != l.workers.end()) {
        error(w[i].Mark(), path, absl::StrCat("lcore ", id, " is listed twice"));
      } else {
        l.workers.push_back(id);
      }
    }
  }
  const YAML::Node b = n["idle_backoff"];
  if (b.IsDefined() && map(b, "lcores.idle_backoff", {"enabled", "empty_polls", "max_sleep"})) {
    boolean(b["enabled"], "lcores.idle_backoff.enabled", l.idle_backoff.enabled);
    number(b["empty_polls"], "lcores.idle_backoff.empty_polls", 1, 1'000'000,
           l.idle_backoff.empty_polls);
    duration(b["max_sleep"], "lcores.idle_backoff.max_sleep", 1'000, 100'000'000,
             l.idle_backoff.max_sleep_ns);
  }
  const YAML::Node cpus = n["cpus"];
  if (!cpus.IsDefined()) return;
  if (!cpus.IsMap()) {
    error(cpus.Mark(), "lcores.cpus",
          absl::StrCat("expected a map of lcore: CPU (e.g. {0: 0, 1: 1}), got ", kind_of(cpus)));
    return;
  }
  for (const auto& kv : cpus) {
    uint32_t lcore = 0;
    uint32_t cpu = 0;
    if (!number(kv.first, "lcores.cpus", 0, kMaxLcore - 1, lcore)) continue;
    const std::string path = absl::StrCat("lcores.cpus.", lcore);
    if (!number(kv.second, path, 0, 4095, cpu)) continue;
    const bool in_use = lcore == l.management ||
                        std::find(l.workers.begin(), l.workers.end(), lcore) != l.workers.end();
    if (!in_use) {
      error(kv.first.Mark(), path,
            absl::StrCat("lcore ", lcore, " is neither the management lcore nor a worker"));
    } else if (!l.cpus.emplace(lcore, cpu).second) {
      error(kv.first.Mark(), path, "given twice");
    }
  }
  if (l.cpus.empty()) return;
  std::vector<uint32_t> all = l.workers;
  all.push_back(l.management);
  std::map<uint32_t, std::vector<uint32_t>> on_cpu;
  for (uint32_t lcore : all) {
    auto it = l.cpus.find(lcore);
    if (it == l.cpus.end()) {
      error(cpus.Mark(), "lcores.cpus",
            absl::StrCat("lcore ", lcore,
                         " has no CPU; once cpus is given, every lcore needs one"));
    } else {
      on_cpu[it->second].push_back(lcore);
    }
  }
  // Two pure-polling lcores on one CPU take turns by the scheduler's time slice: milliseconds of
  // latency and lost packets. Allowed only with the back-off that makes idle lcores sleep.
  if (!l.idle_backoff.enabled) {
    for (const auto& [cpu, lcores] : on_cpu) {
      if (lcores.size() > 1)
        error(cpus.Mark(), "lcores.cpus",
              absl::StrCat("lcores ", absl::StrJoin(lcores, " and "), " share CPU ", cpu,
                           " while polling without pause; give each its own CPU or set "
                           "lcores.idle_backoff.enabled: true"));
    }
  }
}

void Parser::parse_flows(const YAML::Node& root, RunConfig& c) {
  InspectorConfig& in = c.inspector;
  const YAML::Node f = root["flows"];
  if (f.IsDefined() && map(f, "flows", {"capacity", "expected", "timeouts"})) {
    number(f["capacity"], "flows.capacity", 1024, 1u << 24, in.flow_capacity);
    number(f["expected"], "flows.expected", 1, uint64_t{1} << 32, c.expected_flows);
    const YAML::Node t = f["timeouts"];
    if (t.IsDefined() &&
        map(t, "flows.timeouts", {"handshake", "first_flight", "established", "closing", "udp"})) {
      constexpr uint64_t kMs = 1'000'000;
      constexpr uint64_t kS = 1'000 * kMs;
      duration(t["handshake"], "flows.timeouts.handshake", 100 * kMs, 600 * kS,
               in.timeouts.handshake_ns);
      duration(t["first_flight"], "flows.timeouts.first_flight", 100 * kMs, 600 * kS,
               in.timeouts.first_flight_ns);
      duration(t["established"], "flows.timeouts.established", kS, 86'400 * kS,
               in.timeouts.established_ns);
      duration(t["closing"], "flows.timeouts.closing", 100 * kMs, 600 * kS,
               in.timeouts.closing_ns);
      duration(t["udp"], "flows.timeouts.udp", kS, 86'400 * kS, in.timeouts.udp_ns);
    }
  }
  const YAML::Node ff = root["first_flight"];
  if (ff.IsDefined() && map(ff, "first_flight", {"buffers", "byte_cap", "time_cap"})) {
    if (number(ff["buffers"], "first_flight.buffers", 16, 1u << 24, in.first_flight_buffers) &&
        in.first_flight_buffers > in.flow_capacity)
      error(ff["buffers"].Mark(), "first_flight.buffers",
            absl::StrCat(in.first_flight_buffers, " is more than flows.capacity (",
                         in.flow_capacity, "); a flow holds at most one buffer"));
    // A ClientHello with post-quantum key shares is ~1.8 KB; 64 KiB is a full TLS record set.
    bytes(ff["byte_cap"], "first_flight.byte_cap", 1024, 65536, in.first_flight_byte_cap);
    duration(ff["time_cap"], "first_flight.time_cap", 10'000'000, 60'000'000'000,
             in.first_flight_time_cap_ns);
  }
  choice<ChecksumMode>(root["checksum"], "checksum",
                       {{"on", ChecksumMode::kOn},
                        {"auto", ChecksumMode::kAuto},
                        {"off", ChecksumMode::kOff}},
                       in.checksum_mode);
  const YAML::Node r = root["ip_reassembly"];
  if (r.IsDefined() &&
      map(r, "ip_reassembly",
          {"max_datagrams", "max_datagram_bytes", "max_fragments", "timeout"})) {
    number(r["max_datagrams"], "ip_reassembly.max_datagrams", 1, 65536,
           in.ip_reassembly.max_datagrams);
    bytes(r["max_datagram_bytes"], "ip_reassembly.max_datagram_bytes", 1500, 65535,
          in.ip_reassembly.max_datagram_bytes);
    number(r["max_fragments"], "ip_reassembly.max_fragments", 2, 1024,
           in.ip_reassembly.max_fragments);
    duration(r["timeout"], "ip_reassembly.timeout", 100'000'000, 60'000'000'000,
             in.ip_reassembly.timeout_ns);
  }
}

void Parser::parse_sizes(const YAML::Node& root, RunConfig& c) {
  const YAML::Node q = root["queues"];
  if (q.IsDefined() && map(q, "queues", {"rx_descriptors", "tx_descriptors", "burst"})) {
    number(q["rx_descriptors"], "queues.rx_descriptors", 64, 32768, c.queues.rx_descriptors,
           true);
    number(q["tx_descriptors"], "queues.tx_descriptors", 64, 32768, c.queues.tx_descriptors,
           true);
    number(q["burst"], "queues.burst", 1, FlowInspector::kMaxBurst, c.queues.burst);
  }
  const YAML::Node m = root["mempool"];
  if (m.IsDefined() && map(m, "mempool", {"mbufs", "cache", "data_room"})) {
    number(m["mbufs"], "mempool.mbufs", 1023, 1u << 26, c.mempool.mbufs);
    number(m["cache"], "mempool.cache", 0, kMaxMempoolCache, c.mempool.cache);
    number(m["data_room"], "mempool.data_room", 1664, 65535, c.mempool.data_room);
  }
  // rte_mempool_create refuses a cache larger than n / 1.5.
  if (uint64_t{c.mempool.cache} * 3 > uint64_t{c.mempool.mbufs} * 2)
    error(m.IsDefined() ? m.Mark() : root.Mark(), "mempool",
          absl::StrCat("cache ", c.mempool.cache, " is too large for ", c.mempool.mbufs,
                       " mbufs (DPDK needs cache <= mbufs / 1.5)"));
  // Every descriptor of every queue can hold an mbuf, every lcore caches some, and every worker
  // has a burst in hand: below that, RX starves under load instead of dropping visibly. The
  // formula is sizing's (mbuf_budget.h); the good size also covers held first flights.
  const MbufBudget budget = mbuf_budget(c);
  if (c.mempool.mbufs < budget.queues_fill)
    error(m.IsDefined() ? m.Mark() : root.Mark(), "mempool.mbufs",
          absl::StrCat(c.mempool.mbufs, " mbufs cannot fill the queues: ", c.ports.size(),
                       " ports x ", std::max<size_t>(c.lcores.workers.size(), 1),
                       " queues x (", c.queues.rx_descriptors, " RX + ",
                       c.queues.tx_descriptors, " TX descriptors) + caches need at least ",
                       budget.queues_fill, " (", budget.recommended, " is a good size)"));
}

void Parser::parse_rule(const YAML::Node& n, const std::string& path, PolicyRuleConfig& rule) {
  rule.defined_at = where(n.Mark());
  if (required(n, "name", path) && string(n["name"], path + ".name", rule.name) &&
      !valid_name(rule.name, kMaxRuleName))
    error(n["name"].Mark(), path + ".name",
          absl::StrCat("'", rule.name, "' is not a rule name: up to ", kMaxRuleName,
                       " letters, digits, '_', '-', '.' (it is written into audit records)"));
  if (required(n, "kind", path))
    choice<RuleKind>(n["kind"], path + ".kind",
                     {{"domains", RuleKind::kDomains},
                      {"hosts", RuleKind::kHosts},
                      {"patterns", RuleKind::kPatterns},
                      {"cidrs", RuleKind::kCidrs}},
                     rule.kind);
  if (required(n, "action", path)) verdict(n["action"], path + ".action", rule.action);
  boolean(n["audit"], path + ".audit", rule.audit);
  if (required(n, "files", path)) {
    const YAML::Node files = n["files"];
    const std::string files_path = path + ".files";
    if (sequence(files, files_path, "list file paths")) {
      if (files.size() == 0) error(files.Mark(), files_path, "at least one file is needed");
      for (size_t i = 0; i < files.size(); ++i) {
        const std::string file_path = absl::StrCat(files_path, "[", i, "]");
        std::string file;
        if (!string(files[i], file_path, file)) continue;
        file = resolve(file);
        if (options_.check_files && access(file.c_str(), R_OK) != 0)
          error(files[i].Mark(), file_path,
                absl::StrCat("cannot read '", file, "': ", std::strerror(errno)));
        rule.files.push_back(std::move(file));
      }
    }
  }
  prefixes(n["clients"], path + ".clients", rule.clients);
}

// A list of client subnets (IP prefixes); a missing one is empty.
void Parser::prefixes(const YAML::Node& n, const std::string& path, std::vector<IpPrefix>& out) {
  if (!sequence(n, path, "client subnets")) return;
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string item_path = absl::StrCat(path, "[", i, "]");
    std::string text;
    if (!string(n[i], item_path, text)) continue;
    absl::StatusOr<IpPrefix> prefix = config::parse_ip_prefix(text);
    if (!prefix.ok()) {
      error(n[i].Mark(), item_path, prefix.status().message());
      continue;
    }
    out.push_back(*std::move(prefix));
  }
}

void Parser::parse_quic(const YAML::Node& n, PolicyConfig& p) {
  if (!map(n, "policy.quic", {"default", "clients", "fallback_for_intercept"})) return;
  constexpr absl::string_view kNoIntercept =
      "must be pass or block: QUIC cannot be intercepted (see fallback_for_intercept)";
  auto quic_verdict = [&](const YAML::Node& v, const std::string& path, Verdict& out) {
    if (v.IsDefined() && v.IsScalar() && v.Scalar() == "intercept") {
      error(v.Mark(), path, std::string(kNoIntercept));
      return;
    }
    verdict(v, path, out, false);
  };
  quic_verdict(n["default"], "policy.quic.default", p.quic.verdict);
  boolean(n["fallback_for_intercept"], "policy.quic.fallback_for_intercept",
          p.quic.fallback_for_intercept);
  const YAML::Node clients = n["clients"];
  if (!sequence(clients, "policy.quic.clients", "{subnets: [...], default: pass|block} maps"))
    return;
  for (size_t i = 0; i < clients.size(); ++i) {
    const std::string path = absl::StrCat("policy.quic.clients[", i, "]");
    if (!map(clients[i], path, {"subnets", "default"})) continue;
    QuicClientsConfig entry;
    entry.defined_at = where(clients[i].Mark());
    if (required(clients[i], "subnets", path)) {
      prefixes(clients[i]["subnets"], path + ".subnets", entry.subnets);
      if (clients[i]["subnets"].IsSequence() && clients[i]["subnets"].size() == 0)
        error(clients[i]["subnets"].Mark(), path + ".subnets", "at least one subnet is needed");
    }
    if (required(clients[i], "default", path))
      quic_verdict(clients[i]["default"], path + ".default", entry.verdict);
    p.quic.clients.push_back(std::move(entry));
  }
}

void Parser::parse_policy(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "policy", {"rules", "defaults", "quic", "intercept_fallback", "block_response"}))
    return;
  PolicyConfig& p = c.policy;
  const YAML::Node rules = n["rules"];
  if (sequence(rules, "policy.rules", "rules")) {
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string path = absl::StrCat("policy.rules[", i, "]");
      if (!map(rules[i], path, {"name", "kind", "files", "action", "audit", "clients"})) continue;
      PolicyRuleConfig rule;
      parse_rule(rules[i], path, rule);
      for (const PolicyRuleConfig& other : p.rules) {
        if (!rule.name.empty() && other.name == rule.name)
          error(rules[i]["name"].Mark(), path + ".name",
                absl::StrCat("rule name '", rule.name, "' is already used at ",
                             other.defined_at, "; audit records must name one rule"));
      }
      p.rules.push_back(std::move(rule));
    }
  }
  const YAML::Node d = n["defaults"];
  if (d.IsDefined() &&
      map(d, "policy.defaults",
          {"no_sni", "non_tls_443", "ech", "incomplete", "anomalies", "final"})) {
    verdict(d["no_sni"], "policy.defaults.no_sni", p.defaults.no_sni);
    verdict(d["non_tls_443"], "policy.defaults.non_tls_443", p.defaults.non_tls_443);
    verdict(d["ech"], "policy.defaults.ech", p.defaults.ech);
    verdict(d["incomplete"], "policy.defaults.incomplete", p.defaults.incomplete);
    verdict(d["final"], "policy.defaults.final", p.defaults.final);
    // Chromium sends an ECH extension (GREASE) in every hello, so `ech` decides most browser
    // flows no rule takes: left out, it follows `final` rather than passing them.
    if (!d["ech"].IsDefined()) p.defaults.ech = p.defaults.final;
    const YAML::Node a = d["anomalies"];
    if (a.IsDefined() && !a.IsMap()) {
      error(a.Mark(), "policy.defaults.anomalies",
            absl::StrCat("expected a map of anomaly: action (e.g. overlap_conflict: block), got ",
                         kind_of(a)));
    } else if (a.IsDefined()) {
      for (const auto& kv : a) {
        if (!scalar(kv.first, "policy.defaults.anomalies", "an anomaly name")) continue;
        const std::string& name = kv.first.Scalar();
        const std::string path = absl::StrCat("policy.defaults.anomalies.", name);
        size_t found = static_cast<size_t>(Anomaly::kCount);
        std::vector<absl::string_view> names;
        for (size_t i = 0; i < static_cast<size_t>(Anomaly::kCount); ++i) {
          const std::string_view an = anomaly_name(static_cast<Anomaly>(i));
          names.emplace_back(an.data(), an.size());
          if (names.back() == name) found = i;
        }
        if (found == static_cast<size_t>(Anomaly::kCount)) {
          absl::string_view guess;
          for (absl::string_view candidate : names)
            if (guess.empty()) guess = closest_match(name, {candidate});
          error(kv.first.Mark(), "",
                guess.empty()
                    ? absl::StrCat("unknown anomaly '", name, "' (known: ",
                                   absl::StrJoin(names, ", "), ")")
                    : absl::StrCat("unknown anomaly '", name, "'; did you mean '", guess, "'?"));
          continue;
        }
        const Anomaly anomaly = static_cast<Anomaly>(found);
        Verdict v = Verdict::kPass;
        if (!verdict(kv.second, path, v)) continue;
        const bool repeated =
            std::any_of(p.defaults.anomalies.begin(), p.defaults.anomalies.end(),
                        [&](const auto& entry) { return entry.first == anomaly; });
        if (repeated) {
          error(kv.first.Mark(), path, "given twice");
          continue;
        }
        p.defaults.anomalies.emplace_back(anomaly, v);
      }
    }
  }
  if (n["quic"].IsDefined()) parse_quic(n["quic"], p);
  if (n["intercept_fallback"].IsDefined() &&
      n["intercept_fallback"].IsScalar() && n["intercept_fallback"].Scalar() == "intercept") {
    error(n["intercept_fallback"].Mark(), "policy.intercept_fallback",
          "must be pass or block: it is what an intercept verdict becomes while interception "
          "is unavailable");
  } else {
    verdict(n["intercept_fallback"], "policy.intercept_fallback", p.intercept_fallback, false);
  }
  choice<BlockResponse>(n["block_response"], "policy.block_response",
                        {{"reset", BlockResponse::kReset},
                         {"tls_alert", BlockResponse::kTlsAlertAndReset}},
                        p.block_response);
}

void Parser::parse_audit(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "audit", {"ring_size", "sinks"})) return;
  number(n["ring_size"], "audit.ring_size", 1024, 1u << 22, c.audit.ring_size, true);
  const YAML::Node sinks = n["sinks"];
  if (!sequence(sinks, "audit.sinks", "sinks ({type: file, path, ...} or {type: syslog, ...})"))
    return;
  for (size_t i = 0; i < sinks.size(); ++i) {
    const YAML::Node s = sinks[i];
    const std::string path = absl::StrCat("audit.sinks[", i, "]");
    if (!s.IsMap()) {
      map(s, path, {"type"});
      continue;
    }
    if (!required(s, "type", path)) continue;
    std::string type;
    if (!string(s["type"], path + ".type", type)) continue;
    if (type == "syslog") {
      parse_syslog_sink(s, path, c);
      continue;
    }
    if (type == "kafka") {
      // Accepting it and writing nothing would lose audit records without anyone knowing.
      error(s["type"].Mark(), path + ".type",
            "sink type 'kafka' is not implemented in this build; 'file' and 'syslog' are "
            "(remove this sink, or use a file sink and ship the file)");
      continue;
    }
    if (type != "file") {
      const absl::string_view guess = closest_match(type, {"file", "syslog", "kafka"});
      error(s["type"].Mark(), path + ".type",
            absl::StrCat("unknown sink type '", type, "' (supported: file, syslog)",
                         guess.empty() ? "" : absl::StrCat("; did you mean '", guess, "'?")));
      continue;
    }
    if (!map(s, path, {"type", "path", "rotate_size", "rotate_interval", "keep"})) continue;
    AuditFileOptions file;
    if (required(s, "path", path) && string(s["path"], path + ".path", file.path)) {
      file.path = resolve(file.path);
      const std::filesystem::path dir = std::filesystem::path(file.path).parent_path();
      std::error_code ec;
      if (options_.check_files && !dir.empty() && !std::filesystem::is_directory(dir, ec))
        error(s["path"].Mark(), path + ".path",
              absl::StrCat("directory '", dir.string(), "' does not exist"));
      for (const AuditFileOptions& other : c.audit.files)
        if (other.path == file.path)
          error(s["path"].Mark(), path + ".path",
                absl::StrCat("'", file.path, "' is already written by another sink"));
    }
    bytes(s["rotate_size"], path + ".rotate_size", 1ULL << 20, 1ULL << 40, file.max_bytes,
          true);
    duration(s["rotate_interval"], path + ".rotate_interval", 60'000'000'000ULL,
             7 * 86'400'000'000'000ULL, file.max_age_ns, true);
    number(s["keep"], path + ".keep", 1, 10000, file.keep);
    c.audit.files.push_back(std::move(file));
  }
}

void Parser::parse_syslog_sink(const YAML::Node& s, const std::string& path, RunConfig& c) {
  if (!map(s, path,
           {"type", "address", "facility", "hostname", "buffer_size", "backoff_min", "backoff_max",
            "resend_window", "enabled"}))
    return;
  SyslogExportOptions sink;
  bool ok = true;
  std::string address;
  if (required(s, "address", path) && string(s["address"], path + ".address", address)) {
    absl::StatusOr<SyslogAddress> parsed = parse_syslog_address(address);
    if (!parsed.ok()) {
      error(s["address"].Mark(), path + ".address", parsed.status().message());
      ok = false;
    } else {
      sink.address = *std::move(parsed);
      for (const SyslogExportOptions& other : c.audit.syslog)
        if (other.address.text == sink.address.text)
          error(s["address"].Mark(), path + ".address",
                absl::StrCat("'", address, "' is already the address of another syslog sink"));
    }
  } else {
    ok = false;
  }
  std::string facility;
  if (string(s["facility"], path + ".facility", facility)) {
    std::optional<uint8_t> f = syslog_facility_from_name(facility);
    if (f) {
      sink.facility = *f;
    } else {
      error(s["facility"].Mark(), path + ".facility",
            absl::StrCat("'", facility, "' is not a syslog facility (",
                         std::string(syslog_facility_names()), ")"));
    }
  }
  if (string(s["hostname"], path + ".hostname", sink.hostname) &&
      !valid_syslog_hostname(sink.hostname))
    error(s["hostname"].Mark(), path + ".hostname",
          "a syslog HOSTNAME is 1 to 255 printable ASCII characters without spaces");
  bytes(s["buffer_size"], path + ".buffer_size", 64ull << 10, 16ull << 30, sink.buffer_bytes);
  duration(s["backoff_min"], path + ".backoff_min", 10'000'000ULL, 60'000'000'000ULL,
           sink.backoff_min_ns);
  duration(s["backoff_max"], path + ".backoff_max", 100'000'000ULL, 3'600'000'000'000ULL,
           sink.backoff_max_ns);
  if (sink.backoff_min_ns > sink.backoff_max_ns)
    error(s.Mark(), path,
          absl::StrCat("backoff_min (", format_duration(sink.backoff_min_ns),
                       ") is longer than backoff_max (", format_duration(sink.backoff_max_ns),
                       ")"));
  duration(s["resend_window"], path + ".resend_window", 100'000'000ULL, 600'000'000'000ULL,
           sink.resend_window_ns, true);
  bool enabled = true;
  boolean(s["enabled"], path + ".enabled", enabled);
  if (ok && enabled) c.audit.syslog.push_back(std::move(sink));
}

void Parser::parse_stats(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "stats", {"telemetry", "print_on_exit", "log_interval"})) return;
  boolean(n["telemetry"], "stats.telemetry", c.stats.telemetry);
  boolean(n["print_on_exit"], "stats.print_on_exit", c.stats.print_on_exit);
  duration(n["log_interval"], "stats.log_interval", 1'000'000'000ULL, 86'400'000'000'000ULL,
           c.stats.log_interval_ns, true);
}

void Parser::parse_bypass(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "bypass", {"state_file", "max_entries", "learning"})) return;
  if (n["state_file"] && string(n["state_file"], "bypass.state_file", c.bypass.state_file)) {
    if (c.bypass.state_file.empty() || c.bypass.state_file.back() == '/')
      error(n["state_file"].Mark(), "bypass.state_file", "expected a file name, not a directory");
    c.bypass.state_file = resolve(c.bypass.state_file);
  }
  number(n["max_entries"], "bypass.max_entries", 1, 1'000'000, c.bypass.max_entries);
  const YAML::Node l = n["learning"];
  if (!l || !map(l, "bypass.learning",
                 {"enabled", "failures", "distinct_clients", "window", "ttl", "max_tracked"}))
    return;
  BypassLearningConfig& learning = c.bypass.learning;
  boolean(l["enabled"], "bypass.learning.enabled", learning.enabled);
  number(l["failures"], "bypass.learning.failures", 1, 1000, learning.failures);
  if (number(l["distinct_clients"], "bypass.learning.distinct_clients", 1, 1000,
             learning.distinct_clients) &&
      learning.distinct_clients > learning.failures)
    error(l["distinct_clients"].Mark(), "bypass.learning.distinct_clients",
          absl::StrCat("at most bypass.learning.failures (", learning.failures,
                       "): each client counted must have reported a failure"));
  duration(l["window"], "bypass.learning.window", 1'000'000'000ULL, 7 * 86'400'000'000'000ULL,
           learning.window_ns);
  duration(l["ttl"], "bypass.learning.ttl", 60'000'000'000ULL, 365 * 86'400'000'000'000ULL,
           learning.ttl_ns);
  number(l["max_tracked"], "bypass.learning.max_tracked", 1, 1'000'000, learning.max_tracked);
}

void Parser::parse_intercept(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "intercept", {"port", "outside", "address", "address6", "handoff"})) return;
  InterceptConfig& x = c.intercept;
  x.enabled = true;
  if (c.mode != RunMode::kInline)
    error(n.Mark(), "intercept", "interception needs mode: inline (a monitor cannot hand over)");
  if (required(n, "port", "intercept") && port_ref(n["port"], "intercept.port", c, x.port)) {
    const PortConfig& p = c.ports[x.port];
    if (p.driver != "net_tap")
      error(n["port"].Mark(), "intercept.port",
            absl::StrCat("port '", p.name, "' is not a net_tap vdev (device: \"net_tap0,iface=sluice0\")"));
    for (const PortPair& pair : c.pairs)
      if (pair.inside == x.port || pair.outside == x.port)
        error(n["port"].Mark(), "intercept.port",
              absl::StrCat("port '", p.name, "' is in a pair; the TAP must be in none"));
  }
  if (n["outside"]) {
    if (port_ref(n["outside"], "intercept.outside", c, x.outside)) {
      bool is_outside = false;
      for (const PortPair& pair : c.pairs) is_outside |= pair.outside == x.outside;
      if (!is_outside)
        error(n["outside"].Mark(), "intercept.outside",
              absl::StrCat("port '", c.ports[x.outside].name, "' is not the outside of a pair"));
    }
  } else if (!c.pairs.empty()) {
    x.outside = c.pairs[0].outside;
  }
  if (required(n, "address", "intercept")) ipv4(n["address"], "intercept.address", x.address);
  if (n["address6"]) x.has_address6 = ipv6(n["address6"], "intercept.address6", x.address6);
  const uint8_t link_local[4] = {169, 254, 77, 1};
  std::memcpy(x.handoff_source.data(), link_local, 4);
  const YAML::Node h = n["handoff"];
  if (h && map(h, "intercept.handoff", {"source", "port", "liveness"})) {
    if (h["source"]) ipv4(h["source"], "intercept.handoff.source", x.handoff_source);
    number(h["port"], "intercept.handoff.port", 1, 65535, x.handoff_port);
    duration(h["liveness"], "intercept.handoff.liveness", 100'000'000ULL, 3'600'000'000'000ULL,
             x.liveness_ns);
  }
  if (x.handoff_source == x.address && n["address"])
    error(n["address"].Mark(), "intercept.address",
          "must differ from intercept.handoff.source (the dataplane's end of the channel)");
}

void Parser::parse_api(const YAML::Node& n, RunConfig& c) {
  if (!map(n, "api",
           {"unix_socket", "tcp", "max_json_body", "max_list_body", "max_connections", "timeout"}))
    return;
  ApiConfig& a = c.api;
  a.enabled = true;
  if (!n["unix_socket"] && !n["tcp"])
    error(n.Mark(), "api",
          "give unix_socket (path: /run/sluice/api.sock) or tcp (listen, token_file), or remove "
          "the section to run without the API");
  if (const YAML::Node u = n["unix_socket"]; u && map(u, "api.unix_socket", {"path", "mode", "group"})) {
    if (required(u, "path", "api.unix_socket") &&
        string(u["path"], "api.unix_socket.path", a.unix_path)) {
      a.unix_path = resolve(a.unix_path);
      const std::filesystem::path dir = std::filesystem::path(a.unix_path).parent_path();
      std::error_code ec;
      if (options_.check_files && !dir.empty() && !std::filesystem::is_directory(dir, ec))
        error(u["path"].Mark(), "api.unix_socket.path",
              absl::StrCat("directory '", dir.string(), "' does not exist (create it, e.g. "
                           "`install -d -m 0750 ", dir.string(), "`)"));
      if (a.unix_path.size() > 107)
        error(u["path"].Mark(), "api.unix_socket.path",
              "longer than 107 bytes, the limit of a unix socket path; choose a shorter one");
    }
    if (u["mode"] && scalar(u["mode"], "api.unix_socket.mode", "an octal mode such as 0660")) {
      const std::string& text = u["mode"].Scalar();
      uint32_t mode = 0;
      const bool octal = text.size() >= 3 && text.size() <= 4 &&
                         std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '7'; });
      if (octal) mode = static_cast<uint32_t>(std::stoul(text, nullptr, 8));
      if (!octal || mode > 0777) {
        error(u["mode"].Mark(), "api.unix_socket.mode",
              absl::StrCat("'", text, "' is not an octal file mode; write e.g. \"0660\""));
      } else if ((mode & 0002) != 0) {
        error(u["mode"].Mark(), "api.unix_socket.mode",
              absl::StrCat(text, " lets every local user connect and change the policy; use "
                                 "0660 with api.unix_socket.group, or 0600"));
      } else if ((mode & 0200) == 0) {
        error(u["mode"].Mark(), "api.unix_socket.mode",
              absl::StrCat(text, " leaves the owner without write permission, which connecting "
                                 "needs; use 0600 or 0660"));
      } else {
        a.unix_mode = mode;
      }
    }
    if (u["group"] && string(u["group"], "api.unix_socket.group", a.unix_group) &&
        !valid_name(a.unix_group, 32))
      error(u["group"].Mark(), "api.unix_socket.group", "not a valid group name");
  }
  if (const YAML::Node t = n["tcp"]; t && map(t, "api.tcp", {"listen", "token_file"})) {
    if (required(t, "listen", "api.tcp")) string(t["listen"], "api.tcp.listen", a.tcp_listen);
    if (!t["token_file"]) {
      error(t.Mark(), "api.tcp",
            "missing required key 'token_file': TCP clients must send a bearer token (write one "
            "with `openssl rand -hex 32 > FILE; chmod 600 FILE`)");
    } else if (string(t["token_file"], "api.tcp.token_file", a.token_file)) {
      a.token_file = resolve(a.token_file);
    }
  }
  bytes(n["max_json_body"], "api.max_json_body", 1024, 16ULL << 20, a.max_json_body);
  bytes(n["max_list_body"], "api.max_list_body", 1024, 4ULL << 30, a.max_list_body);
  number(n["max_connections"], "api.max_connections", 1, 1024, a.max_connections);
  duration(n["timeout"], "api.timeout", 1'000'000'000ULL, 3'600'000'000'000ULL, a.timeout_ns);
}

}  // namespace

std::string_view rule_kind_name(RuleKind k) {
  switch (k) {
    case RuleKind::kDomains:
      return "domains";
    case RuleKind::kHosts:
      return "hosts";
    case RuleKind::kPatterns:
      return "patterns";
    case RuleKind::kCidrs:
      return "cidrs";
  }
  return "?";
}

size_t RunConfig::port_index(std::string_view name) const {
  for (size_t i = 0; i < ports.size(); ++i)
    if (ports[i].name == name) return i;
  return ports.size();
}

absl::StatusOr<RunConfig> parse_run_config(std::string_view yaml, std::string_view name_for_errors,
                                           const ConfigParseOptions& options) {
  Parser parser(absl::string_view(name_for_errors.data(), name_for_errors.size()), options);
  RunConfig config;
  config.source = std::string(name_for_errors);
  // yaml-cpp reports by exception; this is the boundary where they become a Status.
  try {
    const std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
    if (docs.size() > 1) {
      parser.error(docs[1].Mark(), "",
                   "the file holds more than one YAML document ('---'); sluice reads one");
    } else {
      parser.parse(docs.empty() ? YAML::Node() : docs[0], config);
    }
  } catch (const YAML::Exception& e) {
    // yaml-cpp's message is lower-case and terse ("end of map not found"); say it is syntax.
    return absl::InvalidArgumentError(
        absl::StrCat(parser.where(e.mark), ": YAML syntax error: ", e.msg));
  }
  if (!parser.errors().empty())
    return absl::InvalidArgumentError(absl::StrJoin(parser.errors(), "\n"));
  return config;
}

absl::StatusOr<RunConfig> load_run_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open the configuration file: ", std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(absl::StrCat(path, ": cannot read the configuration file"));
  ConfigParseOptions options;
  options.base_dir = std::filesystem::path(path).parent_path().string();
  if (options.base_dir.empty()) options.base_dir = ".";
  options.check_files = true;
  return parse_run_config(text.str(), path, options);
}

std::vector<std::string> eal_arguments(const RunConfig& c, const std::string& program) {
  std::vector<std::string> args = {program};
  std::vector<uint32_t> lcores = c.lcores.workers;
  lcores.push_back(c.lcores.management);
  std::sort(lcores.begin(), lcores.end());
  if (c.lcores.cpus.empty()) {
    args.push_back("-l");
    args.push_back(absl::StrJoin(lcores, ","));
  } else {
    std::vector<std::string> mapping;
    for (uint32_t lcore : lcores)
      mapping.push_back(absl::StrCat(lcore, "@", c.lcores.cpus.at(lcore)));
    args.push_back(absl::StrCat("--lcores=", absl::StrJoin(mapping, ",")));
  }
  args.push_back(absl::StrCat("--main-lcore=", c.lcores.management));
  args.push_back(absl::StrCat("--file-prefix=", c.eal.file_prefix));
  if (!c.eal.huge_pages) args.push_back("--no-huge");
  if (c.eal.memory_mb != 0) {
    args.push_back("-m");
    args.push_back(absl::StrCat(c.eal.memory_mb));
  }
  if (!c.eal.pci) args.push_back("--no-pci");
  if (!c.stats.telemetry) args.push_back("--no-telemetry");
  for (const PortConfig& p : c.ports) {
    args.push_back(p.kind == PortKind::kPci ? "-a" : "--vdev");
    args.push_back(p.device);
  }
  args.insert(args.end(), c.eal.extra_args.begin(), c.eal.extra_args.end());
  return args;
}

}  // namespace sluice
