// The management HTTP server of `sluice run` (the REST-lite API), on libmicrohttpd.
//
// Listeners: a unix socket that we bind ourselves (so its mode and group are set before anyone
// can connect) and, optionally, a TCP address on which every request must carry
// `Authorization: Bearer <token>`. Each listener is one MHD daemon running its own threads (one
// per connection, at most `max_connections`): a handler that blocks (a policy reload waits for
// its build) or a client that trickles bytes holds only its own connection, never the management
// loop and never another client.
//
// Every error leaves as JSON: {"error":{"status":N,"message":"what to fix"}}. Header sizes are
// bounded by the per-connection memory limit (MHD answers an oversized header itself), bodies by
// each route's cap (413 before the body is read when Content-Length says so, else as soon as the
// running total passes the cap).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct MHD_Daemon;

namespace sluice {

struct ApiRequest {
  std::string method;
  std::string path;
  std::string path_tail;  // for a prefix route: what follows its prefix (e.g. a list's name)
  std::map<std::string, std::string> query;  // ?key=value pairs (last one wins)
  std::string body;
  std::string content_type;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A JSON body (nlohmann dump of `json_text` is the caller's; this only sets the fields).
ApiResponse json_response(int status, std::string json_text);
// {"error":{"status":N,"message":...}}.
ApiResponse error_response(int status, absl::string_view message);

using ApiHandler = std::function<ApiResponse(const ApiRequest&)>;

// method + exact path -> handler. 404 for an unknown path, 405 (with Allow) for a known path
// asked with another method.
class ApiRouter {
 public:
  // `max_body` bytes of request body at most (0: the route takes no body).
  void add(std::string method, std::string path, uint64_t max_body, ApiHandler handler);
  // Every path `prefix` + NAME, NAME one non-empty path segment (no '/'), given to the handler
  // as ApiRequest::path_tail. `prefix` ends with '/'.
  void add_prefix(std::string method, std::string prefix, uint64_t max_body, ApiHandler handler);
  // At most `n` requests of the route just added at a time; more get 429 before their body is
  // read. For routes with large bodies, so memory stays within n bodies.
  void limit_concurrency(uint32_t n);

  struct Route {
    std::string method;
    std::string path;
    uint64_t max_body = 0;
    ApiHandler handler;
    bool prefix = false;
    uint32_t max_concurrent = 0;  // 0: no limit
    std::shared_ptr<std::atomic<uint32_t>> in_flight = std::make_shared<std::atomic<uint32_t>>(0);
    bool matches(std::string_view p) const;
  };
  // The route, or nullptr with `error` set to the 404/405 answer.
  const Route* find(std::string_view method, std::string_view path, ApiResponse& error) const;

 private:
  std::vector<Route> routes_;
};

struct ApiServerOptions {
  // Unix socket; empty: none. A stale socket file (nobody accepting) is replaced; a live one is
  // refused.
  std::string unix_path;
  mode_t unix_mode = 0660;
  std::string unix_group;  // empty: the process's group
  // TCP "HOST:PORT" ("[::1]:8787" for IPv6); empty: none. Needs `bearer_token`.
  std::string tcp_listen;
  std::string bearer_token;
  uint32_t max_connections = 16;          // per listener
  uint32_t timeout_seconds = 30;          // idle connection closed after this
  // Request line + headers past this get a JSON 431 from us; past connection_memory_bytes
  // (where MHD's per-connection pool ends) MHD refuses them itself, with its own body.
  size_t max_header_bytes = 32 * 1024;
  size_t connection_memory_bytes = 256 * 1024;
};

class ApiServer {
 public:
  // Binds every listener and starts serving `router` (which must not change afterwards).
  static absl::StatusOr<std::unique_ptr<ApiServer>> start(const ApiServerOptions& options,
                                                          std::shared_ptr<const ApiRouter> router);
  // Stops accepting, waits for running handlers, removes the unix socket file.
  ~ApiServer();

  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // The TCP port actually bound (useful with port 0), or 0 without TCP.
  uint16_t tcp_port() const { return tcp_port_; }

  struct Listener;

 private:
  ApiServer() = default;

  std::shared_ptr<const ApiRouter> router_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::string unix_path_;
  uint16_t tcp_port_ = 0;
};

// Reads a bearer token from `path`: refused unless the file is a regular file that only its
// owner may read or write (mode 0600 or 0400), and non-empty after trimming whitespace.
absl::StatusOr<std::string> read_token_file(const std::string& path);

}  // namespace sluice
