// sluicectl: the command line over Sluice's REST-lite API. Tables for people by default,
// --json for scripts, exit codes that mean something (commands.h, README "sluicectl").
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <curl/curl.h>

#include "absl/strings/ascii.h"
#include "ctl/commands.h"

namespace {

using namespace sluice::ctl;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluicectl: drive a running sluice through its REST-lite API.\n"
               "Exit codes: 0 done, 1 refused by sluice (bad input, not found, conflict), "
               "2 usage, 3 sluice unreachable, 4 sluice failed."};
  app.require_subcommand(1);
  std::string socket = env_or("SLUICE_API_SOCKET", "/run/sluice/api.sock");
  std::string url = env_or("SLUICE_API_URL", "");
  std::string token_file = env_or("SLUICE_API_TOKEN_FILE", "");
  bool json = false;
  double timeout = 60;
  app.add_option("--socket", socket, "the API's unix socket (api.unix_socket.path; env SLUICE_API_SOCKET)")
      ->capture_default_str();
  app.add_option("--url", url, "the API over TCP instead, e.g. http://10.0.0.5:8080 (env SLUICE_API_URL)");
  app.add_option("--token-file", token_file, "file with the bearer token for --url (env SLUICE_API_TOKEN_FILE)");
  app.add_flag("--json", json, "print the API's JSON instead of tables");
  app.add_option("--timeout", timeout, "seconds to wait for an answer")->capture_default_str()
      ->check(CLI::PositiveNumber);

  auto* status = app.add_subcommand("status", "version, uptime, ports and links, workers, policy");
  auto* stats = app.add_subcommand("stats", "counters: verdicts, anomalies, drops and overflows, rates");
  auto* metrics = app.add_subcommand("metrics", "the Prometheus metrics, as scraped");

  auto* policy = app.add_subcommand("policy", "the running policy");
  policy->require_subcommand(1);
  auto* policy_show = policy->add_subcommand("show", "generation, source, lists, last reload");
  auto* policy_reload = policy->add_subcommand(
      "reload", "re-read the configuration's policy, build it and swap it in (the running one stays if it is refused)");
  auto* policy_upload = policy->add_subcommand("upload", "replace a configured list's file with FILE");
  std::string list_name, list_file;
  bool upload_reload = false;
  policy_upload->add_option("LIST", list_name, "the list's name in the configuration")->required();
  policy_upload->add_option("FILE", list_file, "the new contents")->required()->check(CLI::ExistingFile);
  policy_upload->add_flag("--reload", upload_reload, "reload the policy once it is written");

  auto* bypass = app.add_subcommand("bypass", "names that pass whatever the rules say");
  bypass->require_subcommand(1);
  auto* bypass_list = bypass->add_subcommand(
      "list", "every entry with its reason and expiry, and how learning stands (--json: evidence)");
  auto* bypass_add = bypass->add_subcommand("add", "add an entry");
  BypassAddOptions add;
  bypass_add->add_option("NAME", add.name, "name, .name (and its subdomains) or *.name")->required();
  bypass_add->add_option("--client", add.clients, "only for these client prefixes (repeat)");
  bypass_add->add_option("--ja4", add.ja4, "only for the client app with this JA4 (audit records show it)");
  bypass_add->add_option("--reason", add.reason, "why (shown in the list)");
  bypass_add->add_option("--ttl", add.ttl, "remove it after this long, e.g. 90m, 2h");
  auto* bypass_remove = bypass->add_subcommand("remove", "remove an entry");
  uint64_t remove_id = 0;
  bypass_remove->add_option("ID", remove_id, "the entry's id (bypass list)")->required();

  auto* flows = app.add_subcommand("flows", "a sample of open flows");
  FlowsOptions flow_options;
  flows->add_option("--limit", flow_options.limit, "at most this many")->capture_default_str()
      ->check(CLI::Range(1, 10000));
  flows->add_option("--client", flow_options.client, "client address or prefix");
  flows->add_option("--sni", flow_options.sni, "server name: name, .name or *.name");
  flows->add_option("--verdict", flow_options.verdict, "pass, block or intercept")
      ->check(CLI::IsMember({"pass", "block", "intercept"}));

  auto* names = app.add_subcommand("names", "top server names over a recent window");
  std::string window = "5m", by = "flows";
  int names_limit = 20;
  names->add_option("--window", window, "e.g. 1m, 15m, 1h")->capture_default_str();
  names->add_option("--by", by, "flows or bytes")->capture_default_str()
      ->check(CLI::IsMember({"flows", "bytes"}));
  names->add_option("--limit", names_limit, "rows")->capture_default_str()->check(CLI::Range(1, 1000));

  auto* top = app.add_subcommand("top", "a live view until Ctrl-C: flows/s by verdict, top names, anomalies");
  TopOptions top_options;
  top->add_option("--interval", top_options.interval_seconds, "seconds between refreshes")
      ->capture_default_str()->check(CLI::Range(0.5, 3600.0));
  top->add_option("--iterations", top_options.iterations, "stop after this many (0: never)")
      ->capture_default_str();
  top->add_option("--window", top_options.window, "window of the top names")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  ApiTarget target;
  target.unix_socket = socket;
  target.url = url;
  target.timeout = absl::Seconds(timeout);
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) {
      std::cerr << "sluicectl: cannot read the token file " << token_file << "\n";
      return kExitUsage;
    }
    std::stringstream s;
    s << in.rdbuf();
    target.token = std::string(absl::StripAsciiWhitespace(s.str()));
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const Context ctx{ApiClient(target), json};
  int rc = kExitUsage;
  if (*status) rc = status_command(ctx);
  else if (*stats) rc = stats_command(ctx);
  else if (*metrics) rc = metrics_command(ctx);
  else if (*policy_show) rc = policy_show_command(ctx);
  else if (*policy_reload) rc = policy_reload_command(ctx);
  else if (*policy_upload) rc = policy_upload_command(ctx, list_name, list_file, upload_reload);
  else if (*bypass_list) rc = bypass_list_command(ctx);
  else if (*bypass_add) rc = bypass_add_command(ctx, add);
  else if (*bypass_remove) rc = bypass_remove_command(ctx, remove_id);
  else if (*flows) rc = flows_command(ctx, flow_options);
  else if (*names) rc = names_command(ctx, window, by, names_limit);
  else if (*top) rc = top_command(ctx, top_options);
  curl_global_cleanup();
  return rc;
}
