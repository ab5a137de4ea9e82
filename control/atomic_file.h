// Replacing a file so that a crash or power cut at any moment leaves either the old contents or
// the new, never a mix: write a temporary file beside it, fsync it, rename it over the target,
// fsync the directory. For state the appliance must find again after a restart (bypass
// entries, uploaded lists). Control path only: it blocks on the disk.
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>

#include "absl/status/status.h"

namespace sluice {

// `mode` applies to the new file. The error names the path and the system's reason.
absl::Status write_file_atomically(const std::string& path, std::string_view contents,
                                   mode_t mode = 0644);

}  // namespace sluice
