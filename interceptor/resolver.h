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

struct Endpoint {
  sockaddr_storage address{};
  socklen_t length = 0;
};

// The addresses to try, in order: getaddrinfo's (RFC 6724) order with the two families
// interleaved (RFC 8305, section 4), so a broken IPv6 path costs one attempt, not all of them.
struct Resolved {
  static constexpr size_t kMaxAddresses = 8;
  bool ok = false;
  std::vector<Endpoint> addresses;
  std::string error;
};

// Interleaves the families of ADDRESSES (first family first), keeps each family's order and
// at most Resolved::kMaxAddresses in all.
std::vector<Endpoint> interleave_families(const std::vector<Endpoint>& addresses);

class Resolver {
 public:
  explicit Resolver(size_t threads);
  ~Resolver();
  // DONE runs on a resolver thread, unless ABANDONED (may be null) is set before the lookup
  // starts: then neither the lookup nor DONE happen. Jobs still queued when the resolver is
  // destroyed are dropped the same way.
  void resolve(std::string host, uint16_t port, std::shared_ptr<const std::atomic<bool>> abandoned,
               std::function<void(Resolved)> done);

 private:
  struct Job {
    std::string host;
    uint16_t port;
    std::shared_ptr<const std::atomic<bool>> abandoned;
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
