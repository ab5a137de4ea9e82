// The API server against a real libmicrohttpd over a real unix socket and TCP, with raw-socket
// clients so every byte on the wire (oversized, malformed, slow) is the test's choice.
#include "control/api/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "control/api/json_body.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

struct Reply {
  int status = 0;
  std::string headers;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

int connect_unix(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int connect_tcp(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early (413): what it answered still counts
    data.remove_prefix(static_cast<size_t>(n));
  }
}

Reply read_reply(int fd) {
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  Reply r;
  if (raw.size() < 12) return r;
  r.status = std::atoi(raw.substr(9, 3).c_str());
  const size_t split = raw.find("\r\n\r\n");
  r.headers = raw.substr(0, split);
  if (split != std::string::npos) r.body = raw.substr(split + 4);
  return r;
}

Reply exchange(int fd, const std::string& request) {
  if (fd < 0) return {};
  send_all(fd, request);
  return read_reply(fd);
}

std::string request(const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& extra_headers = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n" +
         extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sluice-api-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    options_.unix_path = (dir_ / "api.sock").string();
    options_.unix_mode = 0660;
    options_.max_connections = 8;
    options_.timeout_seconds = 5;
    auto router = std::make_shared<ApiRouter>();
    router->add("GET", "/v1/hello", 0, [](const ApiRequest& r) {
      nlohmann::json j = {{"hello", "world"}, {"query", r.query}};
      return json_response(200, dump_json(j));
    });
    router->add("POST", "/v1/echo", 64, [](const ApiRequest& r) {
      absl::StatusOr<nlohmann::json> body = parse_json_object(r.body);
      if (!body.ok()) return error_response(400, body.status().message());
      return json_response(200, dump_json(*body));
    });
    router->add("GET", "/v1/echo", 0, [](const ApiRequest&) { return json_response(200, "{}"); });
    router->add("GET", "/v1/slow", 0, [this](const ApiRequest&) {
      slow_entered_ = true;
      while (!release_slow_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return json_response(200, R"({"slow":true})");
    });
    router->add("GET", "/v1/throws", 0, [](const ApiRequest&) -> ApiResponse {
      throw std::runtime_error("handler bug");
    });
    router_ = router;
  }
  void TearDown() override {
    release_slow_ = true;
    server_.reset();
    if (!getenv("KEEP")) std::filesystem::remove_all(dir_);
  }
  void start() {
    absl::StatusOr<std::unique_ptr<ApiServer>> s = ApiServer::start(options_, router_);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  Reply call(const std::string& raw) { return exchange(connect_unix(options_.unix_path), raw); }

  std::filesystem::path dir_;
  ApiServerOptions options_;
  std::shared_ptr<const ApiRouter> router_;
  std::unique_ptr<ApiServer> server_;
  std::atomic<bool> slow_entered_{false};
  std::atomic<bool> release_slow_{false};
};

void expect_error(const Reply& r, int status, const std::string& needle) {
  EXPECT_EQ(r.status, status) << r.headers << "\n" << r.body;
  EXPECT_NE(r.headers.find("Content-Type: application/json"), std::string::npos) << r.headers;
  const nlohmann::json j = r.json();
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["error"]["status"], status) << r.body;
  EXPECT_NE(j["error"]["message"].get<std::string>().find(needle), std::string::npos) << r.body;
}

TEST_F(ApiServerTest, ServesJsonOnTheUnixSocketWithItsMode) {
  start();
  struct stat st;
  ASSERT_EQ(stat(options_.unix_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  const Reply r = call(request("GET", "/v1/hello?name=x&n=2"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["hello"], "world");
  EXPECT_EQ(r.json()["query"]["name"], "x");
  EXPECT_EQ(r.json()["query"]["n"], "2");
}

TEST_F(ApiServerTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  start();
  expect_error(call(request("GET", "/v1/nope")), 404, "no such endpoint: /v1/nope");
  const Reply r = call(request("DELETE", "/v1/echo"));
  expect_error(r, 405, "does not take DELETE");
  EXPECT_NE(r.headers.find("Allow: POST, GET"), std::string::npos) << r.headers;
}

TEST_F(ApiServerTest, MalformedAndWrongTypeBodiesAre400) {
  start();
  expect_error(call(request("POST", "/v1/echo", "{\"a\":")), 400, "not valid JSON");
  expect_error(call(request("POST", "/v1/echo", "[1,2]")), 400, "must be a JSON object, got array");
  const Reply ok = call(request("POST", "/v1/echo", "{\"a\":1}"));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.json()["a"], 1);
}

TEST_F(ApiServerTest, OversizedBodyIs413BeforeAndWhileReading) {
  start();
  // Content-Length says it all: refused before the body is read.
  expect_error(call(request("POST", "/v1/echo", std::string(100000, 'x'))), 413, "at most 64 bytes");
  // Chunked: no length up front, refused once the running total passes the cap.
  std::string chunked =
      "POST /v1/echo HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) chunked += "20\r\n" + std::string(32, 'y') + "\r\n";
  chunked += "0\r\n\r\n";
  expect_error(call(chunked), 413, "at most 64 bytes");
  // A route without a body.
  expect_error(call(request("GET", "/v1/hello", "{}")), 413, "takes no body");
}

TEST_F(ApiServerTest, OversizedHeadersAreRefused) {
  start();
  // Past max_header_bytes: our JSON 431, whatever the route.
  expect_error(call(request("GET", "/v1/hello", "", "X-Big: " + std::string(40000, 'h') + "\r\n")),
               431, "at most 32768 are accepted");
  expect_error(call(request("GET", "/v1/nowhere?q=" + std::string(40000, 'q'))), 431,
               "at most 32768");
  // Past the connection's memory: MHD refuses it itself (its own body), and the server stays.
  const Reply r = call(request("GET", "/v1/hello", "", "X-Big: " + std::string(300000, 'h') + "\r\n"));
  EXPECT_GE(r.status, 400) << r.headers;
  EXPECT_EQ(call(request("GET", "/v1/hello")).status, 200);
}

TEST_F(ApiServerTest, AHandlerBugIs500AndTheServerStays) {
  start();
  expect_error(call(request("GET", "/v1/throws")), 500, "handler bug");
  EXPECT_EQ(call(request("GET", "/v1/hello")).status, 200);
}

TEST_F(ApiServerTest, ASlowClientOrABlockedHandlerHoldsOnlyItsOwnConnection) {
  start();
  // A client that sends half a request line and stops.
  const int stalled = connect_unix(options_.unix_path);
  ASSERT_GE(stalled, 0);
  send_all(stalled, "GET /v1/hel");
  // A handler that does not return until released.
  auto slow = std::async(std::launch::async, [&] { return call(request("GET", "/v1/slow")); });
  while (!slow_entered_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const Reply r = call(request("GET", "/v1/hello"));
  EXPECT_EQ(r.status, 200) << "a stalled client and a busy handler must not block others";
  release_slow_ = true;
  EXPECT_EQ(slow.get().status, 200);
  close(stalled);
}

TEST_F(ApiServerTest, AStaleSocketFileIsReplacedALiveOneRefused) {
  {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, options_.unix_path.c_str(), sizeof(addr.sun_path) - 1);
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    close(fd);  // the file stays, nobody listens: stale
  }
  start();
  EXPECT_EQ(call(request("GET", "/v1/hello")).status, 200);
  absl::StatusOr<std::unique_ptr<ApiServer>> second = ApiServer::start(options_, router_);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("served by another process"), std::string::npos)
      << second.status();
  server_.reset();
  EXPECT_FALSE(std::filesystem::exists(options_.unix_path)) << "the socket file is removed on stop";
}

TEST_F(ApiServerTest, NotASocketAtThePathIsRefused) {
  std::ofstream(options_.unix_path) << "precious";
  absl::StatusOr<std::unique_ptr<ApiServer>> s = ApiServer::start(options_, router_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("is not a socket"), std::string::npos) << s.status();
}

TEST_F(ApiServerTest, TcpNeedsTheBearerToken) {
  options_.tcp_listen = "127.0.0.1:0";
  options_.bearer_token = "0123456789abcdef0123";
  start();
  ASSERT_NE(server_->tcp_port(), 0);
  const uint16_t port = server_->tcp_port();
  Reply r = exchange(connect_tcp(port), request("GET", "/v1/hello"));
  expect_error(r, 401, "Authorization: Bearer");
  EXPECT_NE(r.headers.find("WWW-Authenticate: Bearer"), std::string::npos);
  expect_error(exchange(connect_tcp(port),
                        request("GET", "/v1/hello", "", "Authorization: Bearer wrong\r\n")),
               401, "wrong bearer token");
  expect_error(exchange(connect_tcp(port),
                        request("GET", "/v1/hello", "", "Authorization: Basic abc\r\n")),
               401, "must be 'Bearer <token>'");
  // Unknown routes are not revealed to a client without the token.
  expect_error(exchange(connect_tcp(port), request("GET", "/v1/nope")), 401, "Bearer");
  r = exchange(connect_tcp(port), request("GET", "/v1/hello", "",
                                          "Authorization: Bearer 0123456789abcdef0123\r\n"));
  EXPECT_EQ(r.status, 200) << r.body;
  // The unix socket needs none (its mode is the access control).
  EXPECT_EQ(call(request("GET", "/v1/hello")).status, 200);
}

TEST_F(ApiServerTest, TcpWithoutATokenDoesNotStart) {
  options_.tcp_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<ApiServer>> s = ApiServer::start(options_, router_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("token_file"), std::string::npos);
}

TEST_F(ApiServerTest, BadTcpAddressesAreExplained) {
  options_.unix_path.clear();
  options_.bearer_token = "0123456789abcdef0123";
  for (const char* bad : {"localhost:8787", "127.0.0.1", "127.0.0.1:99999", "[::1:80"}) {
    options_.tcp_listen = bad;
    absl::StatusOr<std::unique_ptr<ApiServer>> s = ApiServer::start(options_, router_);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("api.tcp.listen"), std::string::npos) << s.status();
  }
}

TEST(TokenFile, OnlyAnOwnerOnlyFileWithALongTokenIsAccepted) {
  const std::string path = std::filesystem::temp_directory_path() /
                           ("sluice-token-" + std::to_string(getpid()));
  std::ofstream(path) << "  0123456789abcdef0123\n";
  chmod(path.c_str(), 0644);
  absl::StatusOr<std::string> t = read_token_file(path);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("chmod 600 " + path), std::string::npos) << t.status();
  chmod(path.c_str(), 0600);
  t = read_token_file(path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, "0123456789abcdef0123");
  chmod(path.c_str(), 0400);
  EXPECT_TRUE(read_token_file(path).ok());
  std::ofstream(path) << "short\n";
  t = read_token_file(path);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("shorter than 16"), std::string::npos) << t.status();
  std::filesystem::remove(path);
  t = read_token_file(path);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("cannot open"), std::string::npos) << t.status();
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(ApiRouter, PrefixRoutesTakeOneSegment) {
  ApiRouter router;
  router.add_prefix("PUT", "/v1/lists/", 10, [](const ApiRequest&) { return json_response(200, "{}"); });
  ApiResponse error;
  const ApiRouter::Route* r = router.find("PUT", "/v1/lists/a.txt", error);
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->prefix);
  EXPECT_EQ(router.find("PUT", "/v1/lists/", error), nullptr);
  EXPECT_EQ(error.status, 404);
  EXPECT_NE(error.body.find("PUT /v1/lists/NAME"), std::string::npos) << error.body;
  EXPECT_EQ(router.find("PUT", "/v1/lists/a/b", error), nullptr);
  EXPECT_EQ(error.status, 404);
  EXPECT_EQ(router.find("GET", "/v1/lists/a.txt", error), nullptr);
  EXPECT_EQ(error.status, 405);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST_F(ApiServerTest, ARouteLimitedToOneAtATimeAnswers429ToASecond) {
  auto router = std::make_shared<ApiRouter>();
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  router->add("PUT", "/v1/big", 1 << 20, [&](const ApiRequest& r) {
    entered = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return json_response(200, "{\"bytes\":" + std::to_string(r.body.size()) + "}");
  });
  router->limit_concurrency(1);
  router_ = router;
  start();
  auto first = std::async(std::launch::async, [&] { return call(request("PUT", "/v1/big", "abc")); });
  while (!entered) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const Reply second = call(request("PUT", "/v1/big", std::string(1000, 'x')));
  expect_error(second, 429, "1 request(s) at a time");
  EXPECT_NE(second.headers.find("Retry-After: 1"), std::string::npos) << second.headers;
  release = true;
  EXPECT_EQ(first.get().json()["bytes"], 3);
  // The slot is free as soon as an answer is out: a client that asks again the moment it has
  // one is never refused (MHD reports completion only later).
  for (int i = 0; i < 200; ++i) {
    const Reply next = call(request("PUT", "/v1/big", "abcd"));
    ASSERT_EQ(next.status, 200) << "request " << i << ": " << next.body;
  }
}

}  // namespace
}  // namespace sluice
