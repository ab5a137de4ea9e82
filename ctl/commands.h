// sluicectl's commands: each asks the API, then prints a table for people or, with --json,
// the API's own JSON for scripts. Each returns the process exit code (exit_codes below).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl/api_client.h"

namespace sluice::ctl {

// What sluicectl's exit code means (README, "sluicectl").
enum ExitCode : int {
  kExitOk = 0,
  kExitRefused = 1,      // sluice refused the request (4xx): bad input, not found, conflict
  kExitUsage = 2,        // the command line is wrong
  kExitUnreachable = 3,  // no answer from sluice (not running, wrong socket, permissions)
  kExitFailed = 4,       // sluice failed (5xx) or answered with something unreadable
};

struct Context {
  ApiClient client;
  bool json = false;
};

// Sends one request and hands a 2xx JSON answer to `render` (or prints it with --json); errors
// go to stderr with the exit code they mean.
int request(const Context& ctx, const std::string& method, const std::string& path,
            const std::string& body, const std::function<void(const nlohmann::json&)>& render,
            const UploadProgress& progress = nullptr,
            const std::string& content_type = "application/json");

// A JSON value as a table cell: strings bare, null as "-", booleans as yes/no.
std::string json_text(const nlohmann::json& value);

// "path?key=value&..." with the values URL-encoded; empty values are left out.
std::string with_query(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& query);

int status_command(const Context& ctx);
int stats_command(const Context& ctx);
int metrics_command(const Context& ctx);

int policy_show_command(const Context& ctx);
int policy_reload_command(const Context& ctx);
int policy_upload_command(const Context& ctx, const std::string& list, const std::string& file,
                          bool reload);

struct BypassAddOptions {
  std::string name;
  std::vector<std::string> clients;
  std::string ja4;  // one client app's fingerprint; empty: every app
  std::string reason;
  std::string ttl;  // a duration ("90m", "2h"); empty: none
};
int bypass_list_command(const Context& ctx);
int bypass_add_command(const Context& ctx, const BypassAddOptions& options);
int bypass_remove_command(const Context& ctx, uint64_t id);

struct FlowsOptions {
  int limit = 50;
  std::string client;
  std::string sni;
  std::string verdict;
};
int flows_command(const Context& ctx, const FlowsOptions& options);
int names_command(const Context& ctx, const std::string& window, const std::string& by, int limit);

struct TopOptions {
  double interval_seconds = 2;
  int iterations = 0;  // 0: until interrupted
  std::string window = "1m";
};
int top_command(const Context& ctx, const TopOptions& options);

}  // namespace sluice::ctl
