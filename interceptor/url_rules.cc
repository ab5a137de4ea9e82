#include "interceptor/url_rules.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dataplane/core/first_flight.h"
#include "dataplane/policy/absl_text.h"

namespace sluice::intercept {

UrlRules::~UrlRules() { hs_free_database(db_); }
UrlRules::Scratch::~Scratch() { hs_free_scratch(hs); }

absl::StatusOr<std::unique_ptr<UrlRules>> UrlRules::compile(const std::vector<UrlRuleConfig>& rules) {
  auto out = std::make_unique<UrlRules>();
  std::vector<const char*> expressions;
  std::vector<unsigned> flags, ids;
  for (size_t r = 0; r < rules.size(); ++r) {
    for (const std::string& p : rules[r].patterns) {
      // Check each expression alone first so the error names the one at fault.
      hs_database_t* one = nullptr;
      hs_compile_error_t* err = nullptr;
      if (hs_compile(p.c_str(), HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL,
                     HS_MODE_BLOCK, nullptr, &one, &err) != HS_SUCCESS) {
        std::string why = err != nullptr && err->message != nullptr ? err->message : "refused";
        hs_free_compile_error(err);
        return absl::InvalidArgumentError(absl::StrCat(rules[r].defined_at, ": url rule `",
                                                       rules[r].name, "`: pattern `", p,
                                                       "` is not a Hyperscan expression: ", why));
      }
      hs_free_database(one);
      ids.push_back(static_cast<unsigned>(out->rule_index_of_pattern_.size()));
      out->rule_index_of_pattern_.push_back(r);
      out->rule_of_pattern_.push_back(rules[r].name);
      expressions.push_back(p.c_str());
      flags.push_back(HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL);
    }
  }
  if (expressions.empty()) return out;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                       static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK, nullptr, &out->db_,
                       &err) != HS_SUCCESS) {
    std::string why = err != nullptr && err->message != nullptr ? err->message : "refused";
    hs_free_compile_error(err);
    return absl::InvalidArgumentError(absl::StrCat("url_rules: the patterns do not compile together: ", why));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<UrlRules::Scratch>> UrlRules::make_scratch() const {
  auto s = std::make_unique<Scratch>();
  if (db_ != nullptr && hs_alloc_scratch(db_, &s->hs) != HS_SUCCESS) {
    return absl::ResourceExhaustedError("cannot allocate Hyperscan scratch for url_rules");
  }
  return s;
}

std::string_view UrlRules::match(std::string_view url, Scratch& scratch) const {
  if (db_ == nullptr) return {};
  struct Best {
    size_t pattern = SIZE_MAX;
    const std::vector<size_t>* rule_index;
  } best{SIZE_MAX, &rule_index_of_pattern_};
  auto on_match = [](unsigned id, unsigned long long, unsigned long long, unsigned, void* ctx) -> int {
    auto* b = static_cast<Best*>(ctx);
    // The earliest rule wins; pattern ids are in rule order.
    if (b->pattern == SIZE_MAX || id < b->pattern) b->pattern = id;
    return 0;
  };
  hs_scan(db_, url.data(), static_cast<unsigned>(url.size()), 0, scratch.hs, on_match, &best);
  if (best.pattern == SIZE_MAX) return {};
  return rule_of_pattern_[best.pattern];
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// The path as a server resolves it: escapes decoded, a backslash as '/', one slash for many, "." and
// ".." segments removed; always starts with '/'.
std::string normalised_path(std::string_view path) {
  std::string decoded;
  decoded.reserve(path.size() + 1);
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%' && i + 2 < path.size() && hex_digit(path[i + 1]) >= 0 && hex_digit(path[i + 2]) >= 0) {
      c = static_cast<char>(hex_digit(path[i + 1]) * 16 + hex_digit(path[i + 2]));
      i += 2;
    }
    decoded += c == '\\' ? '/' : c;
  }
  // Segment by segment (RFC 3986 5.2.4, with empty segments dropped as servers merge slashes).
  std::vector<std::string_view> segments;
  std::string_view rest = decoded;
  const bool trailing_slash = !rest.empty() && rest.back() == '/';
  bool trailing_dot = false;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    trailing_dot = seg == "." || seg == "..";
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  std::string out = "/";
  for (size_t i = 0; i < segments.size(); ++i) {
    if (i != 0) out += '/';
    out.append(segments[i].data(), segments[i].size());
  }
  if (!segments.empty() && (trailing_slash || trailing_dot)) out += '/';
  return out;
}

}  // namespace

std::string url_for_rules(std::string_view host, std::string_view target) {
  std::string_view authority;
  std::string_view rest;
  if (split_absolute_form(target, authority, rest)) {
    host = authority;
    target = rest;
  }
  if (!host.empty() && host.front() != '[') host = host.substr(0, host.find(':'));  // no port
  while (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  const size_t query = target.find_first_of("?#");
  std::string url;
  url.reserve(host.size() + target.size() + 1);
  for (char c : host) url += absl::ascii_tolower(static_cast<unsigned char>(c));
  url += normalised_path(target.substr(0, query));
  if (query != std::string_view::npos) url.append(target.substr(query));
  return url;
}

}  // namespace sluice::intercept
