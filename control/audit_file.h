// Audit records as JSON lines in a file, with rotation by size and by age, and reopen on
// request (SIGHUP, after logrotate moved the file). Management side only: it may block on the
// disk, workers never do — they hand records over through rings.
//
// Rotation renames FILE to FILE.1 (FILE.1 to FILE.2, ... up to `keep`, the oldest dropped) and
// starts a new FILE, so a SIEM shipper following FILE by name sees each line exactly once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sluice {

struct AuditFileOptions {
  std::string path;
  uint64_t max_bytes = 256ull << 20;     // rotate when the file would grow past this (0: never)
  uint64_t max_age_ns = 86'400'000'000'000ull;  // rotate a file this old (0: never)
  uint32_t keep = 14;                    // rotated files kept (FILE.1 .. FILE.keep)
  uint32_t buffer_bytes = 64 * 1024;     // written to the file when full, or on flush()
};

class AuditFile {
 public:
  // Opens (creating, appending) the file; an unwritable path is an error naming it and why.
  static absl::StatusOr<std::unique_ptr<AuditFile>> open(const AuditFileOptions& options,
                                                         uint64_t now_ns);
  ~AuditFile();

  // Appends one record and a newline. Rotates first when the record would cross max_bytes or
  // the file is older than max_age. A failed write is returned (and the line is kept buffered
  // for the next attempt) so the caller can count it; nothing is dropped silently.
  absl::Status write_line(std::string_view line, uint64_t now_ns);

  absl::Status flush();
  // Closes and reopens the path (after an external rotation, on SIGHUP).
  absl::Status reopen(uint64_t now_ns);

  uint64_t bytes_in_file() const { return file_bytes_ + buffer_.size(); }
  uint64_t rotations() const { return rotations_; }

 private:
  explicit AuditFile(const AuditFileOptions& options) : options_(options) {}
  absl::Status open_file(uint64_t now_ns);
  absl::Status rotate(uint64_t now_ns);

  AuditFileOptions options_;
  int fd_ = -1;
  uint64_t file_bytes_ = 0;   // bytes already in the file
  uint64_t opened_ns_ = 0;    // when the current file was started
  uint64_t rotations_ = 0;
  std::string buffer_;
};

}  // namespace sluice
