// The pages sluice-intercept answers with itself, as complete HTTP/1.1 responses that close the
// connection. Written for the person in front of the browser (often a pupil): what happened,
// that it is the school's filter, and what to do; the technical reason is shown for IT.
#pragma once

#include <string>
#include <string_view>

namespace sluice::intercept {

// 403: a URL rule or the policy blocked the request.
std::string blocked_page_response(std::string_view host, std::string_view path, std::string_view rule);
// 502: the real site failed validation (sent over an untrusted certificate only).
std::string failure_page_response(std::string_view host, std::string_view reason);
// Plain-text-ish errors of the explicit proxy itself (400, 431, 502, 504).
std::string proxy_error_response(int status, std::string_view reason);

std::string html_escape(std::string_view text);

}  // namespace sluice::intercept
