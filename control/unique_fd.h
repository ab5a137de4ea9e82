// Owns a file descriptor until it is released: set-up code that can fail at any step closes
// what it opened by returning, and a descriptor handed to another thread in a task is closed
// if the task is dropped unrun (a loop stopped with work queued).
#pragma once

#include <unistd.h>

namespace sluice {

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

}  // namespace sluice
