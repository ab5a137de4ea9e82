#include <curl/curl.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "ctl/commands.h"

namespace sluice::ctl {

int request(const Context& ctx, const std::string& method, const std::string& path,
            const std::string& body, const std::function<void(const nlohmann::json&)>& render,
            const UploadProgress& progress, const std::string& content_type) {
  absl::StatusOr<ApiReply> reply = ctx.client.call(method, path, body, content_type, progress);
  if (!reply.ok()) {
    std::cerr << "sluicectl: " << reply.status().message() << "\n";
    return kExitUnreachable;
  }
  if (reply->status >= 400) {
    std::cerr << "sluicectl: " << method << " " << path << ": " << error_message(*reply) << "\n";
    if (reply->status == 401)
      std::cerr << "sluicectl: check --token-file (or SLUICE_API_TOKEN_FILE) against "
                   "api.tcp.token_file\n";
    return reply->status >= 500 ? kExitFailed : kExitRefused;
  }
  if (ctx.json) {
    std::cout << reply->body;
    if (!reply->body.empty() && reply->body.back() != '\n') std::cout << "\n";
    return kExitOk;
  }
  const nlohmann::json j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded()) {
    std::cerr << "sluicectl: " << path << " did not answer JSON: " << reply->body.substr(0, 200)
              << "\n";
    return kExitFailed;
  }
  try {
    render(j);
  } catch (const nlohmann::json::exception& e) {
    // A field missing or of another type: this sluicectl and that sluice disagree.
    std::cerr << "sluicectl: unexpected answer from " << path << " (" << e.what()
              << "); --json shows it as it is\n";
    return kExitFailed;
  }
  return kExitOk;
}

std::string json_text(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

std::string with_query(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out = path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    if (v.empty()) continue;
    char* escaped = curl_easy_escape(nullptr, v.c_str(), static_cast<int>(v.size()));
    absl::StrAppend(&out, std::string(1, sep), k, "=", escaped ? escaped : "");
    curl_free(escaped);
    sep = '&';
  }
  return out;
}

}  // namespace sluice::ctl
