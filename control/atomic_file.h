// Replacing a file so that a crash or power cut at any moment leaves either the old contents or
// the new, never a mix: write a temporary file beside it, fsync it, rename it over the target,
// fsync the directory. For state the appliance must find again after a restart (bypass
// entries, uploaded lists). Control path only: it blocks on the disk.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sluice {

// `mode` for the new file; without one the file keeps the mode it had (0644 if it is new).
// The error names the path and the system's reason.
absl::Status write_file_atomically(const std::string& path, std::string_view contents,
                                   std::optional<mode_t> mode = std::nullopt);

}  // namespace sluice
