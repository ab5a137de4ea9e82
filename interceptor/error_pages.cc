#include "interceptor/error_pages.h"

#include "absl/strings/str_cat.h"
#include "dataplane/policy/absl_text.h"

namespace sluice::intercept {
namespace {

const char* status_text(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

std::string response(int status, const std::string& title, const std::string& body) {
  const std::string html = absl::StrCat(
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>", title,
      "</title><style>body{font-family:sans-serif;max-width:40em;margin:3em auto;line-height:1.5}"
      "code{background:#eee;padding:0 .2em}</style></head><body><h1>", title, "</h1>", body,
      "</body></html>\n");
  return absl::StrCat("HTTP/1.1 ", status, " ", status_text(status),
                      "\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
                      "Content-Length: ", html.size(), "\r\nConnection: close\r\n\r\n", html);
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string blocked_page_response(std::string_view host, std::string_view path, std::string_view rule) {
  std::string shown = html_escape(absl::StrCat(av(host), av(path)));
  if (shown.size() > 300) shown = shown.substr(0, 300) + "&hellip;";
  return response(
      403, "This page is blocked by your school",
      absl::StrCat("<p>Your school's web filter has stopped this page:</p><p><code>", shown,
                   "</code></p><p>It matches a list your school has chosen to block. If you need it "
                   "for your work, ask your teacher or the IT team. Tell them the time and the "
                   "address above.</p><p><small>For IT: rule <code>",
                   html_escape(rule), "</code>.</small></p>"));
}

std::string failure_page_response(std::string_view host, std::string_view reason) {
  return response(
      502, "This site could not be checked safely",
      absl::StrCat("<p>Your school's web filter could not make a safe connection to <code>",
                   html_escape(host),
                   "</code>, so it stopped the page. This is usually a problem with the website, "
                   "not with your device.</p><p>If you need this site, tell the IT team the time "
                   "and the address.</p><p><small>For IT: ",
                   html_escape(reason), "</small></p>"));
}

std::string proxy_error_response(int status, std::string_view reason) {
  return response(status, "The school's web proxy could not do this",
                  absl::StrCat("<p><small>", html_escape(reason), "</small></p>"));
}

}  // namespace sluice::intercept
