// JSON in and out of the API: bodies parsed with a clear 400, documents dumped without throwing.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace sluice {

// Compact JSON; invalid UTF-8 in strings (a path, a list line) is replaced, never thrown.
std::string dump_json(const nlohmann::json& j);

// Parses a request body that must be a JSON object. An empty body is an empty object.
// InvalidArgument ("malformed JSON at byte N: ...", "expected a JSON object, got an array").
absl::StatusOr<nlohmann::json> parse_json_object(std::string_view body);

}  // namespace sluice
