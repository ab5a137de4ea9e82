// PUT /v1/policy/lists/NAME: replaces one list file of the running configuration. NAME is a list
// as the policy names it (the file's basename, as audit records show it in `list`; GET
// /v1/policy lists them). The body is checked exactly as a reload would compile it (refused
// with `FILE:LINE: reason`, the file untouched), then written atomically: a temporary file in
// the same directory, fsync, rename over the old one (keeping its mode), fsync of the
// directory. A reload that reads the list meanwhile sees the old file or the new one, whole.
// With ?reload=1 the policy is reloaded afterwards and the answer carries the reload's outcome.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "control/api/control_state.h"
#include "control/api/http_server.h"

namespace sluice {

struct UploadedList {
  std::string name;
  std::string path;
  std::string format;  // "domains", "hosts", "patterns", "addresses"
  uint64_t bytes = 0;
  uint64_t entries = 0;  // meaningful lines
};

// Checks `text` as list `name` of the configuration at `config_path` and writes it over the
// list's file. NotFound (unknown list, with the known ones), InvalidArgument (the line and
// reason), or an I/O error naming the path.
absl::StatusOr<UploadedList> replace_list(const std::string& config_path, std::string_view name,
                                          std::string_view text);

// The lists the configuration at `config_path` names now (what NAME may be).
struct ConfiguredList {
  std::string name;
  std::string path;
  std::string format;
};
absl::StatusOr<std::vector<ConfiguredList>> configured_lists(const std::string& config_path);

void add_list_upload_endpoint(ApiRouter& router, const ApiSources& sources, uint64_t max_body);

}  // namespace sluice
