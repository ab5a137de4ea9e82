// Debian's Abseil is built with its own absl::string_view (not an alias of std::string_view), so
// std::string_view arguments to absl string functions need this explicit conversion.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace sluice {

inline absl::string_view av(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view sv(absl::string_view s) { return {s.data(), s.size()}; }

}  // namespace sluice
