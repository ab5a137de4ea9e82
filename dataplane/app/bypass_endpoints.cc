#include "dataplane/app/bypass_endpoints.h"

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control/api/json_body.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

using nlohmann::json;

int http_status(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kResourceExhausted:
      return 409;
    default:
      return 500;
  }
}

// The POST body: {"name": string, "clients": [string], "ja4": string, "reason": string,
// "ttl_seconds": int}.
absl::StatusOr<BypassRequest> parse_request(std::string_view body) {
  absl::StatusOr<json> j = parse_json_object(body);
  if (!j.ok()) return j.status();
  BypassRequest r;
  for (const auto& [key, value] : j->items()) {
    if (key == "name") {
      if (!value.is_string()) return absl::InvalidArgumentError("name: expected a string");
      r.name = value.get<std::string>();
    } else if (key == "clients") {
      if (!value.is_array())
        return absl::InvalidArgumentError("clients: expected a list of addresses or prefixes");
      for (const json& c : value) {
        if (!c.is_string())
          return absl::InvalidArgumentError("clients: every entry must be a string such as \"10.0.2.0/24\"");
        r.clients.push_back(c.get<std::string>());
      }
    } else if (key == "ja4") {
      if (!value.is_string()) return absl::InvalidArgumentError("ja4: expected a string");
      r.ja4 = value.get<std::string>();
    } else if (key == "reason") {
      if (!value.is_string()) return absl::InvalidArgumentError("reason: expected a string");
      r.reason = value.get<std::string>();
    } else if (key == "ttl_seconds") {
      if (!value.is_number_integer() || value.get<int64_t>() <= 0)
        return absl::InvalidArgumentError(
            "ttl_seconds: expected a positive whole number of seconds (leave it out for no expiry)");
      r.ttl = absl::Seconds(value.get<int64_t>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown field '", key, "' (known: name, clients, ja4, reason, ttl_seconds)"));
    }
  }
  if (r.name.empty()) return absl::InvalidArgumentError("name: required, e.g. \".exams.example\"");
  r.source = "api";
  return r;
}

// The POST /v1/bypass/failures body, from sluice-intercept:
// {"sni": string, "ja4": string, "client": string, "reason": string}.
absl::StatusOr<CertificateFailure> parse_failure(std::string_view body) {
  absl::StatusOr<json> j = parse_json_object(body);
  if (!j.ok()) return j.status();
  CertificateFailure f;
  for (const auto& [key, value] : j->items()) {
    std::string* field = key == "sni"      ? &f.sni
                         : key == "ja4"    ? &f.ja4
                         : key == "client" ? &f.client
                         : key == "reason" ? &f.reason
                                           : nullptr;
    if (field == nullptr)
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field '", key, "' (known: sni, ja4, client, reason)"));
    if (!value.is_string()) return absl::InvalidArgumentError(absl::StrCat(key, ": expected a string"));
    *field = value.get<std::string>();
  }
  return f;
}

json learning_json(const BypassControl& bypass) {
  const BypassLearner* learner = bypass.learner();
  if (learner == nullptr) return {{"enabled", false}};
  const BypassLearner::Counters c = learner->counters();
  const LearningOptions& o = learner->options();
  return {{"enabled", true},
          {"failures", o.failures},
          {"distinct_clients", o.distinct_clients},
          {"window_seconds", absl::ToInt64Seconds(o.window)},
          {"ttl_seconds", absl::ToInt64Seconds(o.ttl)},
          {"max_tracked", o.max_keys},
          {"tracked", c.keys},
          {"reports", c.reports},
          {"learned", c.learned},
          {"keys_evicted", c.keys_evicted}};
}

}  // namespace

void add_bypass_endpoints(ApiRouter& router, BypassControl& bypass, uint64_t max_body) {
  router.add("GET", "/v1/bypass", 0, [&bypass](const ApiRequest&) {
    json entries = json::array();
    for (const BypassRecord& r : bypass.list()) entries.push_back(bypass_record_json(r));
    const json j = {{"entries", std::move(entries)},
                    {"max_entries", bypass.store().max_entries()},
                    {"state_file", bypass.store().path()},
                    {"learning", learning_json(bypass)}};
    return json_response(200, dump_json(j));
  });
  router.add("POST", "/v1/bypass", max_body, [&bypass](const ApiRequest& request) {
    absl::StatusOr<BypassRequest> r = parse_request(request.body);
    if (!r.ok()) return error_response(400, r.status().message());
    absl::StatusOr<BypassRecord> added = bypass.add(*r, absl::Now());
    if (!added.ok()) return error_response(http_status(added.status()), added.status().message());
    return json_response(201, dump_json(bypass_record_json(*added)));
  });
  router.add("POST", "/v1/bypass/failures", max_body, [&bypass](const ApiRequest& request) {
    absl::StatusOr<CertificateFailure> f = parse_failure(request.body);
    if (!f.ok()) return error_response(400, f.status().message());
    absl::StatusOr<BypassControl::Learned> learned = bypass.report_failure(*f, absl::Now());
    if (!learned.ok()) {
      const absl::Status& s = learned.status();
      const int status = s.code() == absl::StatusCode::kFailedPrecondition ? 403 : http_status(s);
      return error_response(status, s.message());
    }
    json j = {{"failures", learned->failures},
              {"threshold", bypass.learner()->options().failures},
              {"clients", learned->clients},
              {"clients_needed", bypass.learner()->options().distinct_clients},
              {"learned", nullptr}};
    if (learned->added) j["learned"] = bypass_record_json(*learned->added);
    return json_response(learned->added ? 201 : 200, dump_json(j));
  });
  router.add_prefix("DELETE", "/v1/bypass/", 0, [&bypass](const ApiRequest& request) {
    uint64_t id = 0;
    if (!absl::SimpleAtoi(av(request.path_tail), &id) || id == 0)
      return error_response(400, absl::StrCat("'", request.path_tail,
                                              "' is not an entry id (GET /v1/bypass lists them)"));
    if (absl::Status s = bypass.remove(id); !s.ok()) return error_response(http_status(s), s.message());
    return json_response(200, dump_json(json{{"removed", id}}));
  });
}

}  // namespace sluice
