#include "interceptor/resolver.h"

#include <netdb.h>

#include <cstring>

namespace sluice::intercept {

Resolver::Resolver(size_t threads) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

Resolver::~Resolver() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Resolver::resolve(std::string host, uint16_t port, std::function<void(Resolved)> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(Job{std::move(host), port, std::move(done)});
  }
  wake_.notify_one();
}

void Resolver::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Resolved r;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(job.port);
    const int rc = getaddrinfo(job.host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
      r.error = rc != 0 ? gai_strerror(rc) : "no address";
    } else {
      std::memcpy(&r.address, res->ai_addr, res->ai_addrlen);
      r.length = res->ai_addrlen;
      r.ok = true;
    }
    if (res != nullptr) freeaddrinfo(res);
    job.done(std::move(r));
  }
}

}  // namespace sluice::intercept
