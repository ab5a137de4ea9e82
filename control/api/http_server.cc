#include "control/api/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "control/api/json_body.h"
#include "control/socket_address.h"
#include "control/unique_fd.h"
#include "dataplane/policy/absl_text.h"
#include "nlohmann/json.hpp"

namespace sluice {

ApiResponse json_response(int status, std::string json_text) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(json_text);
  r.body += '\n';
  return r;
}

ApiResponse error_response(int status, absl::string_view message) {
  nlohmann::json j;
  j["error"]["status"] = status;
  j["error"]["message"] = std::string(message);
  return json_response(status, dump_json(j));
}

void ApiRouter::add(std::string method, std::string path, uint64_t max_body, ApiHandler handler) {
  routes_.push_back({std::move(method), std::move(path), max_body, std::move(handler)});
}

void ApiRouter::add_prefix(std::string method, std::string prefix, uint64_t max_body,
                           ApiHandler handler) {
  routes_.push_back({std::move(method), std::move(prefix), max_body, std::move(handler), true});
}

void ApiRouter::limit_concurrency(uint32_t n) { routes_.back().max_concurrent = n; }

bool ApiRouter::Route::matches(std::string_view p) const {
  if (!prefix) return p == path;
  return p.size() > path.size() && p.substr(0, path.size()) == path &&
         p.find('/', path.size()) == std::string_view::npos;
}

const ApiRouter::Route* ApiRouter::find(std::string_view method, std::string_view path,
                                        ApiResponse& error) const {
  std::vector<std::string> allowed;
  for (const Route& r : routes_) {
    if (!r.matches(path)) continue;
    if (r.method == method) return &r;
    allowed.push_back(r.method);
  }
  if (allowed.empty()) {
    std::vector<std::string> known;
    for (const Route& r : routes_)
      known.push_back(absl::StrCat(r.method, " ", r.path, r.prefix ? "NAME" : ""));
    error = error_response(404, absl::StrCat("no such endpoint: ", av(path), " (endpoints: ",
                                             absl::StrJoin(known, ", "), ")"));
    return nullptr;
  }
  const std::string allow = absl::StrJoin(allowed, ", ");
  error = error_response(405, absl::StrCat(av(path), " does not take ", av(method), "; use ", allow));
  error.headers.emplace_back("Allow", allow);
  return nullptr;
}

// ---- the MHD side ----

struct ApiServer::Listener {
  MHD_Daemon* daemon = nullptr;
  const ApiRouter* router = nullptr;
  std::string token;  // empty: no authentication (the unix socket: its mode is the access control)
  size_t max_header_bytes = 0;
  ~Listener() {
    if (daemon != nullptr) MHD_stop_daemon(daemon);
  }
};

namespace {

struct RequestState {
  const ApiRouter::Route* route = nullptr;
  bool answered = false;   // a response is queued; MHD closes the connection after it
  bool too_large = false;  // the body passed the route's cap while being read: 413 at its end
  bool counted = false;    // holds one of the route's in-flight slots
  uint64_t discarded = 0;
  std::string body;
};

constexpr uint64_t kMaxDiscard = 1 << 20;

// Gives the route's in-flight slot back. Done as soon as the request's body is gone, before the
// answer is queued: a client that sends its next request the moment it has the answer must find
// the slot free (MHD reports the request completed only later).
void release_slot(RequestState& state) {
  if (!state.counted) return;
  state.route->in_flight->fetch_sub(1);
  state.counted = false;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

MHD_Result queue(MHD_Connection* c, const ApiResponse& r) {
  MHD_Response* response = MHD_create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  for (const auto& [name, value] : r.headers)
    MHD_add_response_header(response, name.c_str(), value.c_str());
  const MHD_Result ok = MHD_queue_response(c, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return ok;
}

// True when the listener needs no token or the request carries it; else `error` is the 401.
bool authorized(MHD_Connection* c, const std::string& token, ApiResponse& error) {
  if (token.empty()) return true;
  const char* header = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (header == nullptr) {
    error = error_response(401, "this listener needs 'Authorization: Bearer <token>' (the token "
                                "is in the file api.tcp.token_file names)");
  } else {
    std::string_view value = header;
    if (value.size() < 7 || !absl::EqualsIgnoreCase(av(value.substr(0, 7)), "bearer ")) {
      error = error_response(401, "the Authorization header must be 'Bearer <token>'");
    } else if (!constant_time_equal(sv(absl::StripAsciiWhitespace(av(value.substr(7)))), token)) {
      error = error_response(401, "wrong bearer token; use the one in api.tcp.token_file");
    } else {
      return true;
    }
  }
  error.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sluice\"");
  return false;
}

MHD_Result collect_query(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* query = static_cast<std::map<std::string, std::string>*>(cls);
  (*query)[key] = value == nullptr ? "" : value;
  return MHD_YES;
}

MHD_Result add_header_bytes(void* cls, MHD_ValueKind, const char* key, const char* value) {
  *static_cast<size_t*>(cls) += std::strlen(key) + (value ? std::strlen(value) : 0) + 4;
  return MHD_YES;
}

// What the client sent before its body, as near as MHD lets us count it.
size_t header_bytes(MHD_Connection* c, const char* url, const char* method) {
  size_t bytes = std::strlen(method) + std::strlen(url) + 11;  // "M URL HTTP/1.1\r\n"
  MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_bytes, &bytes);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_header_bytes, &bytes);
  return bytes;
}

ApiResponse too_large(const ApiRouter::Route& route) {
  if (route.max_body == 0)
    return error_response(413, absl::StrCat(route.method, " ", route.path, " takes no body"));
  return error_response(413, absl::StrCat("the body of ", route.method, " ", route.path,
                                          " may be at most ", route.max_body,
                                          " bytes (api.max_json_body / api.max_list_body)"));
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method,
                      const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                      void** con_cls) {
  const auto* listener = static_cast<const ApiServer::Listener*>(cls);
  auto* state = static_cast<RequestState*>(*con_cls);
  if (state == nullptr) {
    // First call: headers only. Refuse what can be refused before reading any body.
    state = new RequestState;
    *con_cls = state;
    ApiResponse error;
    if (const size_t bytes = header_bytes(c, url, method); bytes > listener->max_header_bytes) {
      state->answered = true;
      return queue(c, error_response(431, absl::StrCat("the request line and headers take ", bytes,
                                                       " bytes; at most ",
                                                       listener->max_header_bytes,
                                                       " are accepted")));
    }
    if (!authorized(c, listener->token, error) ||
        (state->route = listener->router->find(method, url, error)) == nullptr) {
      state->answered = true;
      return queue(c, error);
    }
    if (const ApiRouter::Route& r = *state->route; r.max_concurrent != 0) {
      if (r.in_flight->fetch_add(1) >= r.max_concurrent) {
        r.in_flight->fetch_sub(1);
        state->answered = true;
        ApiResponse busy = error_response(
            429, absl::StrCat(r.method, " ", r.path, r.prefix ? "NAME" : "", " takes ",
                              r.max_concurrent, " request(s) at a time; retry when the running one "
                              "has finished"));
        busy.headers.emplace_back("Retry-After", "1");
        return queue(c, busy);
      }
      state->counted = true;
    }
    if (const char* length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                         MHD_HTTP_HEADER_CONTENT_LENGTH)) {
      uint64_t n = 0;
      if (absl::SimpleAtoi(length, &n) && n > state->route->max_body) {
        state->answered = true;
        return queue(c, too_large(*state->route));
      }
    }
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    const size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (state->answered) return MHD_YES;
    if (state->too_large) {
      // MHD can only answer once the body is in, so the rest is read and thrown away; a client
      // that keeps sending far past the cap is cut off without an answer.
      state->discarded += n;
      return state->discarded > kMaxDiscard ? MHD_NO : MHD_YES;
    }
    if (state->body.size() + n > state->route->max_body) {  // chunked, or a lying Content-Length
      state->too_large = true;
      state->discarded = state->body.size() + n;
      std::string().swap(state->body);
      return MHD_YES;
    }
    state->body.append(upload_data, n);
    return MHD_YES;
  }
  if (state->answered) return MHD_YES;
  if (state->too_large) {
    state->answered = true;
    release_slot(*state);
    return queue(c, too_large(*state->route));
  }
  state->answered = true;
  ApiRequest request;
  request.method = method;
  request.path = url;
  if (state->route->prefix) request.path_tail = request.path.substr(state->route->path.size());
  request.body = std::move(state->body);
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, &request.query);
  if (const char* type = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_TYPE))
    request.content_type = type;
  ApiResponse response;
  try {
    response = state->route->handler(request);
  } catch (const std::exception& e) {  // a handler bug must not take the appliance down
    response = error_response(500, absl::StrCat("internal error: ", e.what()));
  }
  std::string().swap(request.body);
  release_slot(*state);
  return queue(c, response);
}

void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  auto* state = static_cast<RequestState*>(*con_cls);
  if (state != nullptr) release_slot(*state);
  delete state;
  *con_cls = nullptr;
}

std::string errno_text() { return std::strerror(errno); }

absl::StatusOr<int> bind_unix(const ApiServerOptions& o) {
  const std::string& path = o.unix_path;
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return absl::InvalidArgumentError(absl::StrCat(
        "api.unix_socket.path '", path, "' is longer than ", sizeof(addr.sun_path) - 1,
        " bytes (a unix socket limit); choose a shorter path such as /run/sluice/api.sock"));
  std::memcpy(addr.sun_path, path.data(), path.size());
  gid_t gid = static_cast<gid_t>(-1);
  if (!o.unix_group.empty()) {
    group g;
    group* found = nullptr;
    std::vector<char> buf(16384);
    if (getgrnam_r(o.unix_group.c_str(), &g, buf.data(), buf.size(), &found) != 0 ||
        found == nullptr)
      return absl::NotFoundError(absl::StrCat("api.unix_socket.group: no group named '",
                                              o.unix_group, "' (create it or change the name)"));
    gid = g.gr_gid;
  }
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return absl::AlreadyExistsError(absl::StrCat(
          "api.unix_socket.path '", path, "' exists and is not a socket; move it away or choose "
          "another path"));
    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.get() >= 0 &&
        connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
      return absl::AlreadyExistsError(absl::StrCat(
          "api.unix_socket.path '", path, "' is served by another process (another sluice?); "
          "stop it or choose another path"));
    unlink(path.c_str());  // stale: left by a process that is gone
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("api: socket(): ", errno_text()));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return absl::PermissionDeniedError(absl::StrCat("api.unix_socket.path '", path,
                                                    "': cannot bind: ", errno_text(),
                                                    " (does the directory exist and is it "
                                                    "writable by sluice?)"));
  // Mode and group before listen(): nobody can connect until both are right.
  if (chmod(path.c_str(), o.unix_mode) != 0 ||
      (gid != static_cast<gid_t>(-1) && chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)) {
    const std::string reason = errno_text();
    unlink(path.c_str());
    return absl::PermissionDeniedError(absl::StrCat(
        "api.unix_socket: cannot set mode/group of '", path, "': ", reason));
  }
  if (listen(fd.get(), 64) != 0) {
    const std::string reason = errno_text();
    unlink(path.c_str());
    return absl::InternalError(absl::StrCat("api.unix_socket: listen(): ", reason));
  }
  return fd.release();
}

absl::StatusOr<int> bind_tcp(const std::string& listen_text, uint16_t& bound_port) {
  absl::StatusOr<SocketAddress> address = parse_socket_address(listen_text, /*allow_port_zero=*/true);
  if (!address.ok())
    return absl::InvalidArgumentError(absl::StrCat("api.tcp.listen '", listen_text, "': ",
                                                   address.status().message(),
                                                   " (e.g. 127.0.0.1:8787 or [::1]:8787)"));
  SocketAddress& a = *address;
  UniqueFd fd(socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("api: socket(): ", errno_text()));
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), a.get(), a.length) != 0)
    return absl::UnavailableError(absl::StrCat("api.tcp.listen '", listen_text,
                                               "': cannot bind: ", errno_text()));
  if (listen(fd.get(), 64) != 0)
    return absl::InternalError(absl::StrCat("api.tcp.listen: listen(): ", errno_text()));
  if (getsockname(fd.get(), a.get(), &a.length) == 0) bound_port = a.port();
  return fd.release();
}

absl::StatusOr<std::unique_ptr<ApiServer::Listener>> serve(int fd, const ApiServerOptions& o,
                                                          const ApiRouter* router,
                                                          std::string token) {
  auto listener = std::make_unique<ApiServer::Listener>();
  listener->router = router;
  listener->token = std::move(token);
  listener->max_header_bytes = o.max_header_bytes;
  listener->daemon = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, nullptr,
      nullptr, &on_request, listener.get(), MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(o.max_connections),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, o.connection_memory_bytes,
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(o.timeout_seconds),
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, nullptr, MHD_OPTION_END);
  if (listener->daemon == nullptr) {
    close(fd);
    return absl::InternalError("api: libmicrohttpd refused to start a daemon");
  }
  return listener;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::start(const ApiServerOptions& options,
                                                            std::shared_ptr<const ApiRouter> router) {
  if (options.unix_path.empty() && options.tcp_listen.empty())
    return absl::InvalidArgumentError("api: neither a unix socket nor a TCP address to serve on");
  if (!options.tcp_listen.empty() && options.bearer_token.empty())
    return absl::InvalidArgumentError("api.tcp needs a token_file: TCP clients must authenticate");
  std::unique_ptr<ApiServer> server(new ApiServer);
  server->router_ = std::move(router);
  if (!options.unix_path.empty()) {
    absl::StatusOr<int> fd = bind_unix(options);
    if (!fd.ok()) return fd.status();
    server->unix_path_ = options.unix_path;  // from here the destructor removes it
    absl::StatusOr<std::unique_ptr<Listener>> l = serve(*fd, options, server->router_.get(), "");
    if (!l.ok()) return l.status();
    server->listeners_.push_back(std::move(*l));
  }
  if (!options.tcp_listen.empty()) {
    absl::StatusOr<int> fd = bind_tcp(options.tcp_listen, server->tcp_port_);
    if (!fd.ok()) return fd.status();
    absl::StatusOr<std::unique_ptr<Listener>> l =
        serve(*fd, options, server->router_.get(), options.bearer_token);
    if (!l.ok()) return l.status();
    server->listeners_.push_back(std::move(*l));
  }
  return server;
}

ApiServer::~ApiServer() {
  listeners_.clear();  // MHD_stop_daemon: joins the threads, closes the sockets
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

absl::StatusOr<std::string> read_token_file(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat("api.tcp.token_file '", path,
                                            "': cannot open: ", errno_text()));
  UniqueFd owned(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    return absl::FailedPreconditionError(
        absl::StrCat("api.tcp.token_file '", path, "' is not a regular file"));
  if ((st.st_mode & 0077) != 0)
    return absl::PermissionDeniedError(absl::StrFormat(
        "api.tcp.token_file '%s' has mode %04o: other users could read the token; run "
        "`chmod 600 %s`",
        path, st.st_mode & 07777, path));
  if (st.st_size > 4096)
    return absl::FailedPreconditionError(
        absl::StrCat("api.tcp.token_file '", path, "' is larger than 4096 bytes; it should hold "
                     "one token"));
  std::string text(static_cast<size_t>(st.st_size), '\0');
  if (read(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return absl::DataLossError(absl::StrCat("api.tcp.token_file '", path, "': short read"));
  const std::string token(absl::StripAsciiWhitespace(text));
  if (token.size() < 16)
    return absl::FailedPreconditionError(absl::StrCat(
        "api.tcp.token_file '", path, "' holds ", token.empty() ? "no token" : "a token shorter "
        "than 16 characters", "; write a long random one, e.g. `openssl rand -hex 32 > ", path,
        "`"));
  return token;
}

}  // namespace sluice
