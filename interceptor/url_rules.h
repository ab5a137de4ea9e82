// URL rules of bumped and plain-proxy HTTP requests: Hyperscan expressions matched against
// "HOST/PATH?QUERY" (the request target as sent, host lower-cased, no scheme or port). The first
// rule (in file order) with a matching expression blocks the request with the 403 page.
#pragma once

#include <hs/hs.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "interceptor/intercept_config.h"

namespace sluice::intercept {

class UrlRules {
 public:
  // An expression Hyperscan refuses is an error naming the rule, where it was written and why.
  static absl::StatusOr<std::unique_ptr<UrlRules>> compile(const std::vector<UrlRuleConfig>& rules);
  ~UrlRules();

  class Scratch {
   public:
    ~Scratch();
    hs_scratch_t* hs = nullptr;
  };
  absl::StatusOr<std::unique_ptr<Scratch>> make_scratch() const;

  // The name of the first matching rule, or "" (no rules, or none matches).
  std::string_view match(std::string_view url, Scratch& scratch) const;
  bool empty() const { return db_ == nullptr; }

 private:
  hs_database_t* db_ = nullptr;
  std::vector<std::string> rule_of_pattern_;
  std::vector<size_t> rule_index_of_pattern_;
};

// "host/path?query" as URL rules see it: what a server would serve, however the client spelt it.
// An absolute-form target's authority replaces `host` (RFC 9112 3.2.2); the host loses its port
// and trailing dot and is lower-cased; in the path, %XX escapes are decoded, a backslash is '/',
// repeated slashes are merged and dot-segments removed (RFC 3986 5.2.4). The query is kept as
// sent. Only the matching sees this: the request goes on as the client wrote it.
std::string url_for_rules(std::string_view host, std::string_view target);

}  // namespace sluice::intercept
