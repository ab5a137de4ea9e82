#include "control/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace sluice {
namespace {

absl::Status os_error(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status write_file_atomically(const std::string& path, std::string_view contents,
                                   std::optional<mode_t> mode) {
  const std::filesystem::path target(path);
  const std::string dir = target.parent_path().empty() ? "." : target.parent_path().string();
  // Hidden and unique, in the same directory (a rename never crosses file systems).
  std::string temp = absl::StrCat(dir, "/.", target.filename().string(), ".new-XXXXXX");
  const int fd = mkstemp(temp.data());
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot write ", path, " (no temporary file in ", dir,
                                            "): ", std::strerror(errno)));
  }
  const auto fail = [&](const char* what) {
    absl::Status s = os_error(what, temp);
    close(fd);
    unlink(temp.c_str());
    return s;
  };
  if (!mode) {
    struct stat st;
    mode = stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  }
  // fchmod: mkstemp makes 0600, and the umask must not change what was asked for.
  if (fchmod(fd, *mode) != 0) return fail("set the mode of");
  for (size_t done = 0; done < contents.size();) {
    const ssize_t n = write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("sync");
  if (close(fd) != 0) {
    absl::Status s = os_error("close", temp);
    unlink(temp.c_str());
    return s;
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    absl::Status s = os_error("replace", path);
    unlink(temp.c_str());
    return s;
  }
  // The rename is durable once the directory is.
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return os_error("open directory", dir);
  const int rc = fsync(dfd);
  close(dfd);
  if (rc != 0) return os_error("sync directory", dir);
  return absl::OkStatus();
}

}  // namespace sluice
