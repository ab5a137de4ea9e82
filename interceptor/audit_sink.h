// Where sluice-intercept's audit records go: JSON lines in a rotating file (control/audit_file.h)
// or, with no file configured, stdout. Loop threads call write() (one short mutex hold: the
// line is appended to the file's buffer); the main thread flushes every second.
#pragma once

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "control/audit_file.h"
#include "interceptor/intercept_stats.h"

namespace sluice::intercept {

class AuditSink {
 public:
  // `path` empty: stdout.
  static absl::StatusOr<std::unique_ptr<AuditSink>> open(const std::string& path, uint64_t max_bytes,
                                                        uint32_t keep, InterceptStats& stats);
  void write(std::string_view line);
  void flush();
  void reopen();

 private:
  AuditSink(std::unique_ptr<AuditFile> file, InterceptStats& stats)
      : file_(std::move(file)), stats_(stats) {}
  std::mutex mutex_;
  std::unique_ptr<AuditFile> file_;  // null: stdout
  InterceptStats& stats_;
};

uint64_t unix_now_ns();

}  // namespace sluice::intercept
