// sluicectl's side of the REST-lite API: one HTTP request at a time with libcurl, over the unix
// socket (access by file mode) or over TCP with a bearer token. Errors say what to check: a
// socket that is not there, permission denied, a token refused.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sluice::ctl {

struct ApiTarget {
  std::string unix_socket;  // used when url is empty
  std::string url;          // e.g. http://10.0.0.5:8080 (then token is sent)
  std::string token;
  absl::Duration timeout = absl::Seconds(30);
};

struct ApiReply {
  long status = 0;
  std::string body;
  std::string content_type;
};

// Called while a request body is sent: bytes sent so far and in all (0: unknown).
using UploadProgress = std::function<void(uint64_t sent, uint64_t total)>;

class ApiClient {
 public:
  explicit ApiClient(ApiTarget target) : target_(std::move(target)) {}

  // Unavailable when sluice cannot be reached (with what to check); the HTTP status otherwise,
  // whatever it is: the caller decides what a 4xx means.
  absl::StatusOr<ApiReply> call(const std::string& method, const std::string& path,
                                const std::string& body = "",
                                const std::string& content_type = "application/json",
                                const UploadProgress& progress = nullptr) const;

  // Where requests go, for messages.
  std::string where() const;

 private:
  ApiTarget target_;
};

// "the API said: MESSAGE" from a JSON error body ({"error":{"message":...}}), or the raw body.
std::string error_message(const ApiReply& reply);

}  // namespace sluice::ctl
