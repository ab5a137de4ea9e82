#include "interceptor/learning_api.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace sluice::intercept {

absl::StatusOr<ctl::ApiTarget> learning_api_target(const InterceptConfig& config) {
  ctl::ApiTarget target;
  if (config.learning_api.rfind("unix:", 0) == 0) {
    target.unix_socket = config.learning_api.substr(5);
  } else {
    target.url = config.learning_api;
    while (!target.url.empty() && target.url.back() == '/') target.url.pop_back();
  }
  if (!config.learning_token_file.empty()) {
    std::ifstream in(config.learning_token_file);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("learning.token_file: cannot read ",
                                              config.learning_token_file));
    }
    std::stringstream text;
    text << in.rdbuf();
    target.token = std::string(absl::StripAsciiWhitespace(text.str()));
  }
  target.timeout = absl::Nanoseconds(static_cast<int64_t>(config.learning_timeout_ns));
  return target;
}

}  // namespace sluice::intercept
