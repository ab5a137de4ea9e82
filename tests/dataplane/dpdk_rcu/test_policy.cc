#include "tests/dataplane/dpdk_rcu/test_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "dataplane/policy/compile_policy.h"

namespace sluice::test {
namespace {

// Delegates to the compiled snapshot; tells the test when it is destroyed.
class TrackedSnapshot final : public PolicySnapshot {
 public:
  TrackedSnapshot(std::unique_ptr<const PolicySnapshot> inner, FreedHook freed)
      : inner_(std::move(inner)), freed_(std::move(freed)) {}
  ~TrackedSnapshot() override {
    if (freed_) freed_(inner_->generation());
  }
  Decision decide(const FlowFacts& facts, PolicyScratch& scratch) const override {
    return inner_->decide(facts, scratch);
  }
  bool rules_apply(const FlowFacts& facts) const override { return inner_->rules_apply(facts); }
  bool address_may_matter(const FlowFacts& facts, PolicyScratch& scratch) const override {
    return inner_->address_may_matter(facts, scratch);
  }
  absl::StatusOr<std::unique_ptr<PolicyScratch>> allocate_scratch() const override {
    return inner_->allocate_scratch();
  }
  uint64_t generation() const override { return inner_->generation(); }
  std::string_view description() const override { return inner_->description(); }
  std::string summary() const override { return inner_->summary(); }

 private:
  std::unique_ptr<const PolicySnapshot> inner_;
  FreedHook freed_;
};

IpAddress v4(const char* text) {
  uint8_t b[4];
  EXPECT_EQ(inet_pton(AF_INET, text, b), 1) << text;
  return IpAddress::from_v4(b);
}

}  // namespace

TempDir::TempDir() {
  std::string pattern = ::testing::TempDir() + "sluice-rcu-XXXXXX";
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::unique_ptr<const PolicySnapshot> compile_generation(const std::string& dir, uint64_t g,
                                                         FreedHook freed) {
  const std::string path = absl::StrCat(dir, "/gen", g, ".domains");
  std::ofstream(path) << "# generation " << g << "\n.gen" << g << ".example\n.every.example\n";
  PolicySource source;
  source.generation = g;
  source.description = absl::StrCat("test generation ", g);
  source.lists = {ListSource{absl::StrCat("gen", g), ListFormat::kDomains, path, std::nullopt}};
  source.rules = {RuleSource{
      absl::StrCat("gen_", g), "test:1", {absl::StrCat("gen", g)}, {}, {Verdict::kBlock, true}}};
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> compiled = compile_policy(source);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  if (!compiled.ok()) return nullptr;
  return std::make_unique<TrackedSnapshot>(*std::move(compiled), std::move(freed));
}

FlowFacts tls_flow(std::string_view name) {
  FlowFacts f;
  f.client_ip = v4("10.0.0.1");
  f.server_ip = v4("192.0.2.1");
  f.server_port = 443;
  f.first_flight = FirstFlightKind::kTls;
  f.server_name = name;
  return f;
}

}  // namespace sluice::test
