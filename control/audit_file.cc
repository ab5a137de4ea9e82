#include "control/audit_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

absl::Status errno_status(std::string_view what, const std::string& path) {
  const int e = errno;
  return absl::Status(e == ENOSPC ? absl::StatusCode::kResourceExhausted
                                  : absl::StatusCode::kUnavailable,
                      absl::StrCat(std::string(what), " ", path, ": ", std::strerror(e)));
}

constexpr uint64_t kMaxBacklogBuffers = 16;

std::string rotated_name(const std::string& path, uint32_t n) { return absl::StrCat(path, ".", n); }

}  // namespace

absl::StatusOr<std::unique_ptr<AuditFile>> AuditFile::open(const AuditFileOptions& options,
                                                           uint64_t now_ns) {
  if (options.path.empty()) return absl::InvalidArgumentError("audit file path is empty");
  std::unique_ptr<AuditFile> file(new AuditFile(options));
  file->buffer_.reserve(options.buffer_bytes);
  if (absl::Status s = file->open_file(now_ns); !s.ok()) return s;
  return file;
}

AuditFile::~AuditFile() {
  flush().IgnoreError();  // best effort at shutdown; the caller flushes and reports first
  if (fd_ >= 0) ::close(fd_);
}

absl::Status AuditFile::open_file(uint64_t now_ns) {
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) return errno_status("cannot open audit file", options_.path);
  struct stat st;
  if (::fstat(fd_, &st) != 0) return errno_status("cannot stat audit file", options_.path);
  file_bytes_ = static_cast<uint64_t>(st.st_size);
  // An existing file keeps its age across restarts only roughly: its mtime is the best we have.
  opened_ns_ = file_bytes_ == 0 ? now_ns
                                : std::min<uint64_t>(now_ns, static_cast<uint64_t>(st.st_mtim.tv_sec) *
                                                                 1'000'000'000ull);
  return absl::OkStatus();
}

absl::Status AuditFile::write_line(std::string_view line, uint64_t now_ns) {
  const uint64_t size = line.size() + 1;
  const bool too_big = options_.max_bytes != 0 && bytes_in_file() > 0 &&
                       bytes_in_file() + size > options_.max_bytes;
  const bool too_old = options_.max_age_ns != 0 && bytes_in_file() > 0 &&
                       now_ns - opened_ns_ >= options_.max_age_ns;
  if (too_big || too_old) {
    if (absl::Status s = rotate(now_ns); !s.ok()) return s;
  }
  // While the disk refuses writes, keep a bounded backlog; beyond it the record is refused and
  // the caller counts it as lost.
  if (buffer_.size() + size > kMaxBacklogBuffers * uint64_t{options_.buffer_bytes}) {
    if (absl::Status s = flush(); !s.ok()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("audit record dropped: ", std::string(s.message())));
    }
  }
  buffer_.append(line);
  buffer_ += '\n';
  if (buffer_.size() >= options_.buffer_bytes) return flush();
  return absl::OkStatus();
}

absl::Status AuditFile::flush() {
  size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      buffer_.erase(0, done);  // keep what was not written, for the next attempt
      file_bytes_ += done;
      return errno_status("cannot write audit file", options_.path);
    }
    done += static_cast<size_t>(n);
  }
  file_bytes_ += done;
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status AuditFile::rotate(uint64_t now_ns) {
  if (absl::Status s = flush(); !s.ok()) return s;
  if (options_.keep == 0) {
    // Nothing kept: start the file afresh.
    if (::ftruncate(fd_, 0) != 0) return errno_status("cannot truncate audit file", options_.path);
    file_bytes_ = 0;
    opened_ns_ = now_ns;
    ++rotations_;
    return absl::OkStatus();
  }
  std::remove(rotated_name(options_.path, options_.keep).c_str());
  for (uint32_t n = options_.keep; n > 1; --n) {
    std::rename(rotated_name(options_.path, n - 1).c_str(), rotated_name(options_.path, n).c_str());
  }
  if (std::rename(options_.path.c_str(), rotated_name(options_.path, 1).c_str()) != 0)
    return errno_status("cannot rotate audit file", options_.path);
  ::close(fd_);
  fd_ = -1;
  ++rotations_;
  return open_file(now_ns);
}

absl::Status AuditFile::reopen(uint64_t now_ns) {
  if (absl::Status s = flush(); !s.ok()) return s;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  return open_file(now_ns);
}

}  // namespace sluice
