// Load generator for the interception benchmark (perf/run-intercept-bench.sh): clients that go
// through an explicit proxy with CONNECT and a full TLS handshake each time (no session reuse),
// the way a fresh browser connection does. Same binary for every proxy compared.
//   intercept_load PROXY_HOST:PORT TARGET_HOST:PORT CA_FILE PATH THREADS SECONDS
// Prints one JSON object: {"ok":N,"errors":E,"seconds":S,"per_second":R,"bytes":B,"mbit_per_second":M}
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<uint64_t> g_ok{0}, g_errors{0}, g_bytes{0};
std::atomic<bool> g_stop{false};

int connect_to(const std::string& hostport) {
  const size_t colon = hostport.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(hostport.c_str() + colon + 1)));
  inet_pton(AF_INET, hostport.substr(0, colon).c_str(), &a.sin_addr);
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool one_request(SSL_CTX* ctx, const std::string& proxy, const std::string& target,
                 const std::string& host, const std::string& path) {
  const int fd = connect_to(proxy);
  if (fd < 0) return false;
  const std::string connect = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
  if (send(fd, connect.data(), connect.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(connect.size())) {
    close(fd);
    return false;
  }
  std::string answer;
  char c;
  while (answer.find("\r\n\r\n") == std::string::npos && recv(fd, &c, 1, 0) == 1) answer += c;
  if (answer.rfind("HTTP/1.1 200", 0) != 0 && answer.rfind("HTTP/1.0 200", 0) != 0) {
    close(fd);
    return false;
  }
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set1_host(ssl, host.c_str());
  bool ok = SSL_connect(ssl) == 1;
  if (ok) {
    // Host with the port: a proxy that rebuilds the URL from Host (Squid) must reach the same server.
    const std::string get = "GET " + path + " HTTP/1.1\r\nHost: " + target + "\r\nConnection: close\r\n\r\n";
    ok = SSL_write(ssl, get.data(), static_cast<int>(get.size())) > 0;
    char buf[65536];
    int n;
    uint64_t got = 0;
    bool status_ok = false;
    while (ok && (n = SSL_read(ssl, buf, sizeof buf)) > 0) {
      // Only a 200 from the real server counts (a proxy's own error page is an error).
      if (got == 0) status_ok = n >= 12 && std::memcmp(buf + 8, " 200", 4) == 0;
      got += static_cast<uint64_t>(n);
    }
    ok = ok && status_ok;
    if (ok) g_bytes += got;
  }
  ERR_clear_error();
  SSL_free(ssl);
  close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: intercept_load PROXY:PORT TARGET_HOST:PORT CA_FILE PATH THREADS SECONDS\n");
    return 2;
  }
  const std::string proxy = argv[1], target = argv[2], ca = argv[3], path = argv[4];
  const int threads = std::atoi(argv[5]);
  const double seconds = std::atof(argv[6]);
  const std::string host = target.substr(0, target.rfind(':'));
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // every handshake a full one
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      while (!g_stop.load()) (one_request(ctx, proxy, target, host, path) ? g_ok : g_errors)++;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  g_stop = true;
  for (auto& t : pool) t.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"ok\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"per_second\":%.1f,\"bytes\":%llu,"
              "\"mbit_per_second\":%.1f}\n",
              static_cast<unsigned long long>(g_ok.load()), static_cast<unsigned long long>(g_errors.load()),
              took, static_cast<double>(g_ok.load()) / took, static_cast<unsigned long long>(g_bytes.load()),
              static_cast<double>(g_bytes.load()) * 8 / took / 1e6);
  SSL_CTX_free(ctx);
  return 0;
}
