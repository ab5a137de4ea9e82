#include "interceptor/resolver.h"

#include <netdb.h>

#include <cstring>

namespace sluice::intercept {

std::vector<Endpoint> interleave_families(const std::vector<Endpoint>& addresses) {
  std::vector<Endpoint> first, second;
  for (const Endpoint& e : addresses) {
    bool seen = false;  // getaddrinfo repeats an address when /etc/hosts lists it twice
    for (const std::vector<Endpoint>* list : {&first, &second})
      for (const Endpoint& k : *list)
        seen |= k.length == e.length && std::memcmp(&k.address, &e.address, e.length) == 0;
    if (seen) continue;
    (first.empty() || first.front().address.ss_family == e.address.ss_family ? first : second)
        .push_back(e);
  }
  std::vector<Endpoint> out;
  for (size_t i = 0; out.size() < Resolved::kMaxAddresses && (i < first.size() || i < second.size());
       ++i) {
    if (i < first.size()) out.push_back(first[i]);
    if (i < second.size() && out.size() < Resolved::kMaxAddresses) out.push_back(second[i]);
  }
  return out;
}

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

void Resolver::resolve(std::string host, uint16_t port,
                       std::shared_ptr<const std::atomic<bool>> abandoned,
                       std::function<void(Resolved)> done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(Job{std::move(host), port, std::move(abandoned), std::move(done)});
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
    if (job.abandoned && job.abandoned->load(std::memory_order_relaxed)) continue;
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
      std::vector<Endpoint> all;
      for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
            a->ai_addrlen > sizeof(sockaddr_storage))
          continue;
        Endpoint e;
        std::memcpy(&e.address, a->ai_addr, a->ai_addrlen);
        e.length = a->ai_addrlen;
        all.push_back(e);
      }
      r.addresses = interleave_families(all);
      r.ok = !r.addresses.empty();
      if (!r.ok) r.error = "no IPv4 or IPv6 address";
    }
    if (res != nullptr) freeaddrinfo(res);
    job.done(std::move(r));
  }
}

}  // namespace sluice::intercept
