// A stand-in for sluice-intercept in the live handoff test (tests/live/test_intercept_handoff.py):
// receives handoffs with the real HandoffReceiver, adopts each connection with the real adopt(),
// and finishes TLS with the client using OpenSSL and a certificate of the lab's test CA, then
// answers one HTTP request with "adopted flow=<id>". Runs in the appliance namespace.
//
//   handoff_tls_server CERT KEY LISTEN_ADDRESS DATAPLANE_ADDRESS PORT
//
// Prints "ready" once listening, then one line per adopted connection ("adopted CLIENT:PORT")
// and per error ("error: ..."); on SIGTERM prints its counters and exits 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "interceptor/handoff/receiver.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<uint64_t> g_served{0};
std::atomic<uint64_t> g_tls_failed{0};
std::mutex g_out;

void say(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

std::string endpoint(const sluice::handoff::Address& a) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (a.is_v4()) {
    inet_ntop(AF_INET, a.bytes.data() + 12, text, sizeof(text));
  } else {
    inet_ntop(AF_INET6, a.bytes.data(), text, sizeof(text));
  }
  return std::string(text) + ":" + std::to_string(a.port);
}

void serve(SSL_CTX* ctx, int fd, uint64_t flow_id) {
  // Below the receiver thread: a thousand handshakes at once on two CPUs must not delay the
  // heartbeats that keep the dataplane handing flows over.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  // Blocking from here: one thread per connection is plenty for a test.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) != 1) {
    ++g_tls_failed;
    char err[256];
    ERR_error_string_n(ERR_get_error(), err, sizeof(err));
    say(std::string("error: TLS with an adopted client failed: ") + err);
  } else {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      const int n = SSL_read(ssl, buf, sizeof(buf));
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const std::string body = "adopted flow=" + std::to_string(flow_id) +
                             " sni=" + (sni ? sni : "-") + "\n";
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    if (SSL_write(ssl, answer.data(), static_cast<int>(answer.size())) > 0) ++g_served;
    SSL_shutdown(ssl);
    // Lingering close, as web servers do: closing with the client's close_notify still on its
    // way would make the kernel answer it with a reset.
    shutdown(fd, SHUT_WR);
    timeval linger{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &linger, sizeof(linger));
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
  }
  SSL_free(ssl);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s CERT KEY LISTEN_ADDRESS DATAPLANE_ADDRESS PORT\n", argv[0]);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, [](int) { g_stop.store(true); });
  std::signal(SIGINT, [](int) { g_stop.store(true); });
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
    std::fprintf(stderr, "cannot load %s / %s\n", argv[1], argv[2]);
    return 2;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  sluice::handoff::ReceiverOptions options;
  options.listen_address = argv[3];
  options.dataplane_address = argv[4];
  options.port = static_cast<uint16_t>(std::stoi(argv[5]));
  auto receiver = sluice::handoff::HandoffReceiver::open(options);
  if (!receiver.ok()) {
    std::fprintf(stderr, "%s\n", std::string(receiver.status().message()).c_str());
    return 2;
  }
  say("ready");
  (*receiver)->run(
      g_stop,
      [ctx](int fd, const sluice::handoff::Handoff& h) {
        say("adopted " + endpoint(h.client) + " -> " + endpoint(h.server) + " hello " +
            std::to_string(h.hello.size()) + " bytes");
        std::thread(serve, ctx, fd, h.flow_id).detach();
      },
      [](const absl::Status& e) { say("error: " + std::string(e.message())); });
  const auto& s = (*receiver)->stats();
  say("stats messages=" + std::to_string(s.messages.load()) +
      " adopted=" + std::to_string(s.adopted.load()) +
      " malformed=" + std::to_string(s.malformed.load()) +
      " adopt_failed=" + std::to_string(s.adopt_failed.load()) +
      " heartbeats=" + std::to_string(s.heartbeats_sent.load()) +
      " served=" + std::to_string(g_served.load()) +
      " tls_failed=" + std::to_string(g_tls_failed.load()));
  return 0;
}
