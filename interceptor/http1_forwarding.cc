#include "interceptor/http1_forwarding.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dataplane/policy/absl_text.h"

namespace sluice::intercept {
namespace {

bool is_connection_header(std::string_view name) {
  return absl::EqualsIgnoreCase(av(name), "connection") ||
         absl::EqualsIgnoreCase(av(name), "proxy-connection");
}

// The comma-separated options of the Connection headers, each trimmed.
std::vector<std::string_view> connection_options(const Http1Head& head) {
  std::vector<std::string_view> options;
  for (const auto& [name, value] : head.headers) {
    if (!is_connection_header(name)) continue;
    for (absl::string_view option : absl::StrSplit(av(value), ',')) {
      option = absl::StripAsciiWhitespace(option);
      if (!option.empty()) options.push_back(sv(option));
    }
  }
  return options;
}

bool never_dropped(std::string_view name) {
  return absl::EqualsIgnoreCase(av(name), "content-length") ||
         absl::EqualsIgnoreCase(av(name), "transfer-encoding") ||
         absl::EqualsIgnoreCase(av(name), "host");
}

}  // namespace

bool has_connection_option(const Http1Head& head, std::string_view option) {
  for (std::string_view o : connection_options(head)) {
    if (absl::EqualsIgnoreCase(av(o), av(option))) return true;
  }
  return false;
}

void append_end_to_end_headers(const Http1Head& head, std::string& out, bool drop_host) {
  const std::vector<std::string_view> listed = connection_options(head);
  for (const auto& [name, value] : head.headers) {
    if (is_connection_header(name) || absl::EqualsIgnoreCase(av(name), "keep-alive") ||
        absl::EqualsIgnoreCase(av(name), "proxy-authorization") ||
        (drop_host && absl::EqualsIgnoreCase(av(name), "host"))) {
      continue;
    }
    bool dropped = false;
    if (!never_dropped(name)) {
      for (std::string_view o : listed) dropped = dropped || absl::EqualsIgnoreCase(av(o), av(name));
    }
    if (!dropped) absl::StrAppend(&out, av(name), ": ", av(value), "\r\n");
  }
}

std::string forwarded_response_head(const Http1Head& head, bool closing) {
  std::string out = absl::StrCat("HTTP/1.1 ", head.status, " ", av(head.reason), "\r\n");
  append_end_to_end_headers(head, out);
  if (closing) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

}  // namespace sluice::intercept
