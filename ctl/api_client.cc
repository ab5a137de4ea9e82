#include "ctl/api_client.h"

#include <curl/curl.h>

#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace sluice::ctl {
namespace {

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct UploadState {
  const std::string* body;
  size_t offset = 0;
  const UploadProgress* progress;
};

size_t feed(char* buffer, size_t size, size_t n, void* arg) {
  auto* u = static_cast<UploadState*>(arg);
  const size_t left = u->body->size() - u->offset;
  const size_t chunk = std::min(left, size * n);
  std::memcpy(buffer, u->body->data() + u->offset, chunk);
  u->offset += chunk;
  if (u->progress != nullptr && *u->progress) (*u->progress)(u->offset, u->body->size());
  return chunk;
}

}  // namespace

std::string ApiClient::where() const {
  return target_.url.empty() ? target_.unix_socket : target_.url;
}

absl::StatusOr<ApiReply> ApiClient::call(const std::string& method, const std::string& path,
                                         const std::string& body,
                                         const std::string& content_type,
                                         const UploadProgress& progress) const {
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return absl::InternalError("libcurl could not start");
  CURL* c = curl.get();
  const std::string url = (target_.url.empty() ? std::string("http://sluice") : target_.url) + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (target_.url.empty()) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, target_.unix_socket.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(target_.timeout)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  ApiReply reply;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  struct curl_slist* headers = nullptr;
  if (!target_.token.empty())
    headers = curl_slist_append(headers, absl::StrCat("Authorization: Bearer ", target_.token).c_str());
  UploadState upload{&body, 0, &progress};
  if (method == "POST" || method == "PUT") {
    headers = curl_slist_append(headers, absl::StrCat("Content-Type: ", content_type).c_str());
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, feed);
    curl_easy_setopt(c, CURLOPT_READDATA, &upload);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  const CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    const std::string why = error[0] ? error : curl_easy_strerror(rc);
    std::string hint;
    if (rc == CURLE_COULDNT_CONNECT && target_.url.empty())
      hint = " (is sluice running with api.unix_socket at this path, and may you write to it? "
             "use --socket or SLUICE_API_SOCKET for another path)";
    else if (rc == CURLE_COULDNT_CONNECT)
      hint = " (is sluice running with api.tcp listening there?)";
    else if (rc == CURLE_OPERATION_TIMEDOUT)
      hint = " (no answer in time; --timeout waits longer)";
    return absl::UnavailableError(absl::StrCat("cannot reach sluice at ", where(), ": ", why, hint));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  char* type = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
  if (type != nullptr) reply.content_type = type;
  return reply;
}

std::string error_message(const ApiReply& reply) {
  const nlohmann::json j = nlohmann::json::parse(reply.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string())
    return j["error"]["message"].get<std::string>();
  return absl::StrCat("HTTP ", reply.status, ": ", reply.body);
}

}  // namespace sluice::ctl
