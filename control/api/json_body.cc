#include "control/api/json_body.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::StatusOr<nlohmann::json> parse_json_object(std::string_view body) {
  if (absl::StripAsciiWhitespace(av(body)).empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InvalidArgumentError(
        "the body is not valid JSON; send a JSON object such as {} (Content-Type: "
        "application/json)");
  if (!j.is_object())
    return absl::InvalidArgumentError(
        absl::StrCat("the body must be a JSON object, got ", j.type_name()));
  return j;
}

}  // namespace sluice
