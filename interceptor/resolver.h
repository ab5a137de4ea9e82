// Host-name resolution off the loop threads: getaddrinfo() blocks, so CONNECT and proxy host
// names are resolved on a small pool of resolver threads and the answer is handed back through
// a callback (which posts to the owning loop).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::intercept {

struct Resolved {
  bool ok = false;
  sockaddr_storage address{};  // the first address returned
  socklen_t length = 0;
  std::string error;
};

class Resolver {
 public:
  explicit Resolver(size_t threads);
  ~Resolver();
  void resolve(std::string host, uint16_t port, std::function<void(Resolved)> done);

 private:
  struct Job {
    std::string host;
    uint16_t port;
    std::function<void(Resolved)> done;
  };
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sluice::intercept
