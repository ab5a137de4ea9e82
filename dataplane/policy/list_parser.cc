#include "dataplane/policy/list_parser.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

absl::Status line_error(std::string_view label, int line, std::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(av(label), ":", line, ": ", av(reason)));
}

// Names that hosts files map to loopback for the machine's own sake, not to block anything.
bool is_local_host_name(std::string_view name) {
  static const absl::flat_hash_set<std::string_view> kLocal = {
      "localhost",      "localhost.localdomain", "local",           "broadcasthost",
      "ip6-localhost",  "ip6-loopback",          "ip6-localnet",    "ip6-mcastprefix",
      "ip6-allnodes",   "ip6-allrouters",        "ip6-allhosts",    "0.0.0.0"};
  return kLocal.contains(absl::AsciiStrToLower(av(name)));
}

bool parse_address(std::string_view text, IpAddress& out) {
  std::string s(text.substr(0, text.find('%')));  // drop an IPv6 zone (fe80::1%lo0)
  uint8_t buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1) {
    out = IpAddress::from_v4(buf);
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    out = IpAddress::from_v6(buf);
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> read_list_text(const ListSource& source) {
  if (source.text) return *source.text;
  std::ifstream in(source.path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("list '", source.name, "': cannot read ", source.path,
                                            ": ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<ListLine> split_list_lines(std::string_view text) {
  std::vector<ListLine> lines;
  int number = 0;
  for (absl::string_view piece : absl::StrSplit(av(text), '\n')) {
    ++number;
    std::string_view line = sv(piece);
    line = sv(absl::StripAsciiWhitespace(av(line.substr(0, line.find('#')))));  // also drops the \r of CRLF files
    if (!line.empty()) lines.push_back({line, number});
  }
  return lines;
}

absl::StatusOr<std::vector<NameEntry>> parse_domain_list(std::string_view text,
                                                         std::string_view label) {
  std::vector<NameEntry> entries;
  for (const ListLine& line : split_list_lines(text)) {
    absl::StatusOr<NameEntry> entry = parse_name_entry(line.text);
    if (!entry.ok()) return line_error(label, line.line, sv(entry.status().message()));
    entries.push_back(*std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::vector<NameEntry>> parse_hosts_list(std::string_view text,
                                                        std::string_view label) {
  std::vector<NameEntry> entries;
  for (const ListLine& line : split_list_lines(text)) {
    std::vector<absl::string_view> pieces =
        absl::StrSplit(av(line.text), absl::ByAnyChar(" \t"), absl::SkipEmpty());
    std::vector<std::string_view> fields;
    for (absl::string_view piece : pieces) fields.push_back(sv(piece));
    IpAddress address;
    if (!parse_address(fields[0], address)) {
      return line_error(label, line.line,
                        absl::StrCat("\'", av(fields[0]), "' is not an address (hosts-file lines are "
                                                     "'0.0.0.0 name')"));
    }
    if (fields.size() < 2)
      return line_error(label, line.line, absl::StrCat("no name after '", av(fields[0]), "'"));
    for (size_t i = 1; i < fields.size(); ++i) {
      if (is_local_host_name(fields[i])) continue;
      NameEntry entry;
      if (!normalise_host_name(fields[i], entry.name)) {
        return line_error(label, line.line,
                          absl::StrCat("\'", av(fields[i]), "' is not a host name (hosts files take "
                                                       "exact names only)"));
      }
      entries.push_back(std::move(entry));
    }
  }
  return entries;
}

absl::StatusOr<Cidr> parse_cidr(std::string_view text) {
  Cidr cidr;
  std::string_view address_text = text;
  std::optional<int> length;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    address_text = text.substr(0, slash);
    int n = -1;
    if (!absl::SimpleAtoi(av(text.substr(slash + 1)), &n) || n < 0 || n > 128)
      return absl::InvalidArgumentError(absl::StrCat("\'", av(text), "': bad prefix length"));
    length = n;
  }
  if (address_text.find('%') != std::string_view::npos ||
      !parse_address(address_text, cidr.address)) {
    return absl::InvalidArgumentError(absl::StrCat("\'", av(text), "' is not an address or CIDR"));
  }
  const bool v4 = cidr.address.is_v4() && address_text.find(':') == std::string_view::npos;
  const int max = v4 ? 32 : 128;
  if (length && *length > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("\'", av(text), "': prefix length is at most ", max));
  }
  int bits = (v4 ? 96 : 0) + length.value_or(max);
  cidr.prefix_length = static_cast<uint8_t>(bits);
  IpAddress masked = cidr.address;
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(bits - i * 8, 0, 8);
    masked.bytes[i] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  if (masked != cidr.address) {
    std::string suggestion = masked.to_string();
    return absl::InvalidArgumentError(absl::StrCat("\'", av(text), "' has host bits set; did you mean ",
                                                   suggestion, "/", length.value_or(max), "?"));
  }
  return cidr;
}

}  // namespace sluice
