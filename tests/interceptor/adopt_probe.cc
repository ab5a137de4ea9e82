// Stands in for the dataplane handoff in tests: runs a whole interceptor in-process
// (InterceptApp) and gives it, through InterceptServer::adopt_transparent(), every connection it
// accepts on an IP_TRANSPARENT listener (nftables TPROXY in the test's namespace), once the
// client's first bytes are queued. So the adopted socket is what the handoff produces: local
// address = the server the client wanted, ClientHello unread in the receive queue.
//   adopt_probe CONFIG LISTEN_ADDRESS:PORT      (until SIGTERM)
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "interceptor/intercept_app.h"

using namespace sluice::intercept;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: adopt_probe CONFIG LISTEN_ADDRESS:PORT\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<InterceptConfig> config = load_intercept_config(argv[1]);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<InterceptApp>> app = InterceptApp::start(*config);
  if (!app.ok()) {
    std::fprintf(stderr, "%s\n", std::string(app.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<int> listener = listen_on(argv[2], true);
  if (!listener.ok()) {
    std::fprintf(stderr, "%s\n", std::string(listener.status().message()).c_str());
    return 1;
  }
  std::thread acceptor([&] {
    for (;;) {
      pollfd p{*listener, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      const int fd = ::accept4(*listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      pollfd d{fd, POLLIN, 0};
      ::poll(&d, 1, 5000);  // the handoff gives sockets whose ClientHello is already queued
      (*app)->server().adopt_transparent(fd);
    }
  });
  acceptor.detach();
  for (;;) {
    timespec one{0, 200'000'000};
    const int sig = sigtimedwait(&signals, nullptr, &one);
    (*app)->audit().flush();
    if (sig == SIGTERM || sig == SIGINT) break;
  }
  (*app)->stop();
  std::fputs((*app)->stats().to_text().c_str(), stderr);
  std::_Exit(0);  // the detached acceptor may be inside poll()
}
