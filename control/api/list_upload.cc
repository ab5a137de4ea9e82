#include "control/api/list_upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/api/endpoints.h"
#include "control/api/json_body.h"
#include "control/atomic_file.h"
#include "dataplane/config/policy_source.h"
#include "dataplane/config/run_config.h"
#include "dataplane/policy/absl_text.h"
#include "dataplane/policy/compile_policy.h"
#include "dataplane/policy/list_parser.h"
#include "nlohmann/json.hpp"

namespace sluice {
namespace {

std::string format_name(ListFormat f) {
  switch (f) {
    case ListFormat::kDomains:
      return "domains";
    case ListFormat::kHosts:
      return "hosts";
    case ListFormat::kPatterns:
      return "patterns";
    case ListFormat::kAddresses:
      return "addresses";
  }
  return "?";
}


}  // namespace

absl::StatusOr<std::vector<ConfiguredList>> configured_lists(const std::string& config_path) {
  absl::StatusOr<RunConfig> config = load_run_config(config_path);
  if (!config.ok()) return config.status();
  absl::StatusOr<PolicySource> source = policy_source_from_config(config->policy, config_path);
  if (!source.ok()) return source.status();
  std::vector<ConfiguredList> out;
  for (const ListSource& l : source->lists) out.push_back({l.name, l.path, format_name(l.format)});
  return out;
}

absl::StatusOr<UploadedList> replace_list(const std::string& config_path, std::string_view name,
                                          std::string_view text) {
  absl::StatusOr<RunConfig> config = load_run_config(config_path);
  if (!config.ok())
    return absl::FailedPreconditionError(absl::StrCat(
        "the configuration does not load, so its lists are unknown; fix it first: ",
        config.status().message()));
  absl::StatusOr<PolicySource> source = policy_source_from_config(config->policy, config_path);
  if (!source.ok()) return source.status();
  const ListSource* list = nullptr;
  std::vector<std::string> names;
  for (const ListSource& l : source->lists) {
    names.push_back(l.name);
    if (l.name == name) list = &l;
  }
  if (list == nullptr)
    return absl::NotFoundError(absl::StrCat(
        "the policy has no list named '", av(name), "'",
        names.empty() ? " (it has no lists)" : absl::StrCat(" (lists: ", absl::StrJoin(names, ", "), ")")));

  // Compiled the way a reload compiles it, so a list accepted here is never refused by the reload.
  PolicySource check;
  check.description = "uploaded list";
  ListSource uploaded = *list;
  uploaded.text = std::string(text);
  check.lists.push_back(uploaded);
  RuleSource rule;
  rule.name = "upload-check";
  rule.lists = {list->name};
  rule.action = Action{Verdict::kPass, false};
  check.rules.push_back(rule);
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> compiled = compile_policy(check);
  if (!compiled.ok())
    return absl::InvalidArgumentError(absl::StrCat("the list was refused and its file left as it "
                                                   "was: ", compiled.status().message()));
  if (absl::Status s = write_file_atomically(list->path, text); !s.ok()) return s;
  UploadedList out;
  out.name = list->name;
  out.path = list->path;
  out.format = format_name(list->format);
  out.bytes = text.size();
  out.entries = split_list_lines(text).size();
  return out;
}

void add_list_upload_endpoint(ApiRouter& router, const ApiSources& s, uint64_t max_body) {
  router.add_prefix("PUT", "/v1/policy/lists/", max_body, [s](const ApiRequest& request) {
    bool reload = false;
    if (auto it = request.query.find("reload"); it != request.query.end()) {
      if (it->second == "1" || it->second == "true") {
        reload = true;
      } else if (it->second != "0" && it->second != "false") {
        return error_response(400, absl::StrCat("reload=", it->second,
                                                ": use reload=1 to reload after the upload"));
      }
    }
    absl::StatusOr<UploadedList> up = replace_list(s.config_path, request.path_tail, request.body);
    if (!up.ok()) {
      const int status = up.status().code() == absl::StatusCode::kNotFound          ? 404
                         : up.status().code() == absl::StatusCode::kInvalidArgument  ? 422
                         : up.status().code() == absl::StatusCode::kFailedPrecondition ? 409
                                                                                     : 500;
      return error_response(status, up.status().message());
    }
    nlohmann::json j = {{"list",
                         {{"name", up->name},
                          {"path", up->path},
                          {"format", up->format},
                          {"bytes", up->bytes},
                          {"entries", up->entries}}}};
    if (!reload) return json_response(200, dump_json(j));
    absl::StatusOr<ReloadResult> r = s.reload("api (list upload)");
    if (!r.ok()) {
      j["error"] = {{"status", 409},
                    {"message", absl::StrCat("the list was written, but no reload was started: ",
                                             r.status().message())}};
      return json_response(409, dump_json(j));
    }
    j["reload"] = reload_json(*r);
    if (!r->ok) {
      j["error"] = {{"status", 422},
                    {"message", absl::StrCat("the list was written, but the policy reload was "
                                             "refused and the running policy stays: ",
                                             r->message)}};
      return json_response(422, dump_json(j));
    }
    return json_response(200, dump_json(j));
  });
  router.limit_concurrency(1);  // memory for one max_list_body at a time, not max_connections
}

}  // namespace sluice
