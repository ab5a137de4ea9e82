#include "interceptor/audit_sink.h"

#include <time.h>

namespace sluice::intercept {

uint64_t unix_now_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

absl::StatusOr<std::unique_ptr<AuditSink>> AuditSink::open(const std::string& path, uint64_t max_bytes,
                                                          uint32_t keep, InterceptStats& stats) {
  std::unique_ptr<AuditFile> file;
  if (!path.empty()) {
    AuditFileOptions options;
    options.path = path;
    options.max_bytes = max_bytes;
    options.keep = keep;
    absl::StatusOr<std::unique_ptr<AuditFile>> opened = AuditFile::open(options, unix_now_ns());
    if (!opened.ok()) return opened.status();
    file = std::move(*opened);
  }
  return std::unique_ptr<AuditSink>(new AuditSink(std::move(file), stats));
}

void AuditSink::write(std::string_view line) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!file_) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    bump(stats_.audit_records);
    return;
  }
  if (file_->write_line(line, unix_now_ns()).ok()) {
    bump(stats_.audit_records);
  } else {
    bump(stats_.audit_write_errors);
  }
}

void AuditSink::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_) {
    if (!file_->flush().ok()) bump(stats_.audit_write_errors);
  } else {
    std::fflush(stdout);
  }
}

void AuditSink::reopen() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (file_ && !file_->reopen(unix_now_ns()).ok()) bump(stats_.audit_write_errors);
}

}  // namespace sluice::intercept
