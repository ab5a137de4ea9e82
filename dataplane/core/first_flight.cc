// First-flight classification and the plain-HTTP Host header. Both look only at the span they
// are given and read each byte at most a few times: they run on every new flow's first bytes.
#include "dataplane/core/first_flight.h"

#include <algorithm>
#include <array>

namespace sluice {
namespace {

enum class Match { kYes, kPrefix, kNo };

// Whether `stream` starts with `pattern` (kPrefix: it is a proper prefix of it).
Match starts_with(ByteSpan stream, std::string_view pattern) {
  size_t n = std::min(stream.size(), pattern.size());
  for (size_t i = 0; i < n; ++i) {
    if (stream[i] != static_cast<uint8_t>(pattern[i])) return Match::kNo;
  }
  return n == pattern.size() ? Match::kYes : Match::kPrefix;
}

// Any record version below 0x1000, and a warning alert or ChangeCipherSpec first: some servers
// take a hello so (record_version_ok and ignored_record_prefix_ok in tls_client_hello.cc).
Match tls_record_start(ByteSpan s) {
  if (s[0] != 0x16 && s[0] != 0x15 && s[0] != 0x14) return Match::kNo;
  if (s.size() >= 2 && s[1] >= 0x10) return Match::kNo;
  return s.size() >= 3 ? Match::kYes : Match::kPrefix;
}

// SSLv2-compatible CLIENT-HELLO: 2-byte length with the high bit set, msg_type 1, then version
// 0x0002 or 0x0300-0x0304.
Match sslv2_hello_start(ByteSpan s) {
  if (!(s[0] & 0x80)) return Match::kNo;
  if (s.size() >= 3 && s[2] != 0x01) return Match::kNo;
  if (s.size() >= 4 && s[3] != 0x00 && s[3] != 0x03) return Match::kNo;
  if (s.size() >= 5) {
    uint16_t v = load_be16(s.data() + 3);
    if (v != 0x0002 && (v < 0x0300 || v > 0x0304)) return Match::kNo;
    return Match::kYes;
  }
  return Match::kPrefix;
}

constexpr std::array<std::string_view, 10> kHttpMethods = {
    "GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE ",
    "PRI ",  // HTTP/2 with prior knowledge: "PRI * HTTP/2.0"
};

// Any other method (WebDAV's PROPFIND or MKCOL, M-SEARCH, ...) is HTTP to a server too: a name
// of capitals (with '-' or '_'), a space, and a first line that ends in " HTTP/1.1" or
// " HTTP/1.0". Judged as anything else, its Host would go unread.
Match other_method_request_line(ByteSpan s) {
  constexpr size_t kMaxMethod = 32;
  constexpr size_t kMaxLine = 8192;
  size_t i = 0;
  while (i < s.size() && i < kMaxMethod && ((s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_')) ++i;
  if (i == s.size()) return i < kMaxMethod ? Match::kPrefix : Match::kNo;
  if (i == 0 || s[i] != ' ') return Match::kNo;
  const size_t limit = std::min(s.size(), kMaxLine);
  for (size_t j = i + 1; j < limit; ++j) {
    if (s[j] != '\n') continue;
    std::string_view line = as_string_view(s.first(j));
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line.ends_with(" HTTP/1.1") || line.ends_with(" HTTP/1.0") ? Match::kYes : Match::kNo;
  }
  return s.size() >= kMaxLine ? Match::kNo : Match::kPrefix;
}

char lower(uint8_t c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c); }
bool is_space(uint8_t c) { return c == ' ' || c == '\t'; }

// Writes a Host header value as a bare host name: port and IPv6 brackets removed, lower-cased,
// trailing dot removed, cut at 255 chars.
void store_host(std::string_view value, char* host, uint16_t& host_length) {
  std::string_view name = value;
  if (!name.empty() && name.front() == '[') {
    size_t close = name.find(']');
    name = close == std::string_view::npos ? name.substr(1) : name.substr(1, close - 1);
  } else {
    name = name.substr(0, name.find(':'));
  }
  if (name.size() > 1 && name.back() == '.') name.remove_suffix(1);
  size_t n = std::min<size_t>(name.size(), 255);
  for (size_t i = 0; i < n; ++i) host[i] = lower(static_cast<uint8_t>(name[i]));
  host_length = static_cast<uint16_t>(n);
}

// "GET http://user@Host:80/path HTTP/1.1" -> "Host:80" (store_host drops the port); "" for an
// origin-form target or another scheme.
std::string_view absolute_form_authority(std::string_view request_line) {
  const size_t sp = request_line.find(' ');
  if (sp == std::string_view::npos) return {};
  std::string_view target = request_line.substr(sp + 1);
  std::string_view authority, rest;
  return split_absolute_form(target.substr(0, target.find(' ')), authority, rest) ? authority
                                                                                 : std::string_view();
}

}  // namespace

std::string_view first_flight_name(FirstFlightKind kind) {
  switch (kind) {
    case FirstFlightKind::kNone: return "none";
    case FirstFlightKind::kIncomplete: return "incomplete";
    case FirstFlightKind::kTls: return "tls";
    case FirstFlightKind::kQuic: return "quic";
    case FirstFlightKind::kHttp: return "http";
    case FirstFlightKind::kNonTls: return "non_tls";
    case FirstFlightKind::kServerFirst: return "server_first";
  }
  return "unknown";
}

bool split_absolute_form(std::string_view target, std::string_view& authority, std::string_view& rest) {
  size_t scheme = 0;
  for (std::string_view prefix : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() < prefix.size()) continue;
    bool same = true;
    for (size_t i = 0; i < prefix.size(); ++i) same = same && lower(static_cast<uint8_t>(target[i])) == prefix[i];
    if (same) scheme = prefix.size();
  }
  if (scheme == 0) return false;
  target.remove_prefix(scheme);
  const size_t end = target.find_first_of("/?#");
  authority = target.substr(0, end);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) authority.remove_prefix(at + 1);
  rest = end == std::string_view::npos ? std::string_view() : target.substr(end);
  return true;
}

bool is_tls_port(uint16_t port) {
  switch (port) {
    case 443: case 465: case 563: case 636: case 853: case 989: case 990: case 992: case 993:
    case 994: case 995: case 8443:
      return true;
    default:
      return false;
  }
}

size_t leading_empty_line_bytes(ByteSpan stream) {
  size_t n = 0;
  while (n < stream.size() && (stream[n] == '\r' || stream[n] == '\n')) ++n;
  return n;
}

FlightGuess guess_first_flight(ByteSpan stream) {
  if (stream.empty()) return FlightGuess::kNeedMore;
  bool prefix = false;
  Match m = tls_record_start(stream);
  if (m == Match::kYes) return FlightGuess::kTls;
  prefix |= m == Match::kPrefix;
  m = sslv2_hello_start(stream);
  if (m == Match::kYes) return FlightGuess::kTls;
  prefix |= m == Match::kPrefix;
  // HTTP servers skip empty lines before a request line (RFC 9112 2.2; nginx and Node take any
  // number): so must a guess, or "\r\nGET ..." would pass as not HTTP, its Host unjudged.
  stream = stream.subspan(leading_empty_line_bytes(stream));
  if (stream.empty()) return FlightGuess::kNeedMore;
  for (std::string_view method : kHttpMethods) {
    m = starts_with(stream, method);
    if (m == Match::kYes) return FlightGuess::kHttp;
    prefix |= m == Match::kPrefix;
  }
  if (prefix) return FlightGuess::kNeedMore;
  m = other_method_request_line(stream);
  if (m == Match::kYes) return FlightGuess::kHttp;
  return m == Match::kPrefix ? FlightGuess::kNeedMore : FlightGuess::kNonTls;
}

HttpHostStatus find_http_host(ByteSpan stream, char* host, uint16_t& host_length) {
  host_length = 0;
  std::string_view text = as_string_view(stream.subspan(leading_empty_line_bytes(stream)));
  bool found = false;
  std::string_view value;
  std::string_view uri_host;  // the authority of an absolute-form target
  size_t pos = 0;
  bool request_line = true;
  // Lines end in LF with an optional CR before it (servers accept bare LF, so must we). The
  // head ends at the first empty line; until one is seen the request may still change.
  for (;;) {
    size_t lf = text.find('\n', pos);
    if (lf == std::string_view::npos) return HttpHostStatus::kNeedMore;
    std::string_view line = text.substr(pos, lf - pos);
    pos = lf + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (request_line) {
      request_line = false;
      uri_host = absolute_form_authority(line);
      continue;
    }
    if (found) continue;  // servers refuse a second Host; the first is what they would use
    size_t colon = line.find(':');
    if (colon != 4) continue;
    std::string_view name = line.substr(0, 4);
    if (lower(name[0]) != 'h' || lower(name[1]) != 'o' || lower(name[2]) != 's' ||
        lower(name[3]) != 't') {
      continue;
    }
    value = line.substr(5);
    while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
    while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
    found = true;
  }
  // An absolute-form target names the server, whatever Host says (RFC 9112 3.2.2).
  if (!uri_host.empty()) {
    value = uri_host;
    found = true;
  }
  if (!found || value.empty()) return HttpHostStatus::kAbsent;
  store_host(value, host, host_length);
  return host_length > 0 ? HttpHostStatus::kFound : HttpHostStatus::kAbsent;
}

}  // namespace sluice
