#include "interceptor/resolver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::intercept {
namespace {

Endpoint endpoint(const std::string& ip) {
  Endpoint e;
  if (ip.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&e.address);
    a->sin6_family = AF_INET6;
    EXPECT_EQ(inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr), 1) << ip;
    e.length = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&e.address);
    a->sin_family = AF_INET;
    EXPECT_EQ(inet_pton(AF_INET, ip.c_str(), &a->sin_addr), 1) << ip;
    e.length = sizeof(sockaddr_in);
  }
  return e;
}

std::string text(const Endpoint& e) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (e.address.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&e.address)->sin6_addr, buf, sizeof buf);
  else
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&e.address)->sin_addr, buf, sizeof buf);
  return buf;
}

std::vector<std::string> interleaved(const std::vector<std::string>& ips) {
  std::vector<Endpoint> in;
  for (const std::string& ip : ips) in.push_back(endpoint(ip));
  std::vector<std::string> out;
  for (const Endpoint& e : interleave_families(in)) out.push_back(text(e));
  return out;
}

TEST(Resolver, FamiliesAlternateStartingWithTheFirstAndKeepTheirOwnOrder) {
  // getaddrinfo lists every IPv6 address first: a dead IPv6 path must cost one attempt.
  EXPECT_EQ(interleaved({"2001:db8::1", "2001:db8::2", "2001:db8::3", "192.0.2.1", "192.0.2.2"}),
            (std::vector<std::string>{"2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2",
                                      "2001:db8::3"}));
  EXPECT_EQ(interleaved({"192.0.2.1", "2001:db8::1"}),
            (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  EXPECT_EQ(interleaved({"192.0.2.1", "192.0.2.2"}),
            (std::vector<std::string>{"192.0.2.1", "192.0.2.2"}));
  EXPECT_TRUE(interleaved({}).empty());
}

TEST(Resolver, RepeatsAreDroppedAndTheListIsBounded) {
  EXPECT_EQ(interleaved({"192.0.2.1", "192.0.2.1", "2001:db8::1", "2001:db8::1"}),
            (std::vector<std::string>{"192.0.2.1", "2001:db8::1"}));
  std::vector<std::string> many;
  for (int i = 1; i <= 12; ++i) many.push_back("192.0.2." + std::to_string(i));
  const std::vector<std::string> out = interleaved(many);
  ASSERT_EQ(out.size(), Resolved::kMaxAddresses);
  EXPECT_EQ(out.front(), "192.0.2.1");
  EXPECT_EQ(out.back(), "192.0.2.8");
}

TEST(Resolver, ResolvesANumericNameToEveryAddressAndAnUnknownOneToAnError) {
  Resolver resolver(1);
  std::mutex m;
  std::condition_variable cv;
  std::vector<Resolved> answers;
  for (const char* host : {"127.0.0.1", "no-such-name.invalid"}) {
    resolver.resolve(host, 443, nullptr, [&](Resolved r) {
      std::lock_guard<std::mutex> lock(m);
      answers.push_back(std::move(r));
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(m);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answers.size() == 2; }));
  ASSERT_TRUE(answers[0].ok) << answers[0].error;
  ASSERT_EQ(answers[0].addresses.size(), 1u);
  EXPECT_EQ(text(answers[0].addresses[0]), "127.0.0.1");
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&answers[0].addresses[0].address)->sin_port), 443);
  EXPECT_FALSE(answers[1].ok);
  EXPECT_FALSE(answers[1].error.empty());
}

TEST(Resolver, AnAbandonedLookupIsNeitherMadeNorAnswered) {
  Resolver resolver(1);
  std::mutex m;
  std::condition_variable cv;
  std::vector<std::string> answered;
  auto abandoned = std::make_shared<std::atomic<bool>>(false);
  // The single thread is busy with the first lookup while the second is abandoned in the queue.
  std::unique_lock<std::mutex> hold(m);
  resolver.resolve("127.0.0.1", 443, nullptr, [&](Resolved) {
    std::lock_guard<std::mutex> lock(m);  // waits until the test lets go of `hold`
    answered.push_back("first");
    cv.notify_all();
  });
  resolver.resolve("127.0.0.2", 443, abandoned, [&](Resolved) {
    std::lock_guard<std::mutex> lock(m);
    answered.push_back("abandoned");
    cv.notify_all();
  });
  resolver.resolve("127.0.0.3", 443, nullptr, [&](Resolved) {
    std::lock_guard<std::mutex> lock(m);
    answered.push_back("third");
    cv.notify_all();
  });
  abandoned->store(true);
  ASSERT_TRUE(cv.wait_for(hold, std::chrono::seconds(30), [&] { return answered.size() == 2; }));
  EXPECT_EQ(answered, (std::vector<std::string>{"first", "third"}));
}

}  // namespace
}  // namespace sluice::intercept
