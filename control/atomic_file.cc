#include "control/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

absl::Status os_error(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

absl::Status write_file_atomically(const std::string& path, std::string_view contents,
                                   mode_t mode) {
  const std::string temp = absl::StrCat(path, ".tmp.", getpid());
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return os_error("create", temp);
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = os_error("write", temp);
      close(fd);
      unlink(temp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  // fchmod: the umask must not loosen or tighten what the caller asked for.
  if (fchmod(fd, mode) != 0 || fsync(fd) != 0) {
    absl::Status s = os_error("sync", temp);
    close(fd);
    unlink(temp.c_str());
    return s;
  }
  close(fd);
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status s = os_error("replace", path);
    unlink(temp.c_str());
    return s;
  }
  const std::string dir = directory_of(path);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return os_error("open directory", dir);
  const int rc = fsync(dfd);
  close(dfd);
  if (rc != 0) return os_error("sync directory", dir);
  return absl::OkStatus();
}

}  // namespace sluice
