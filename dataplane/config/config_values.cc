#include "dataplane/config/config_values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace sluice::config {
namespace {

struct Unit {
  absl::string_view suffix;
  uint64_t factor;
};

// Splits "123abc" into 123 and "abc"; false if there are no leading digits or they overflow.
bool split_number(absl::string_view text, uint64_t& number, absl::string_view& suffix) {
  size_t digits = 0;
  while (digits < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[digits])))
    ++digits;
  if (digits == 0) return false;
  if (!absl::SimpleAtoi(text.substr(0, digits), &number)) return false;
  suffix = text.substr(digits);
  return true;
}

bool is_hex(absl::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
}

size_t edit_distance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

absl::StatusOr<uint64_t> parse_duration_ns(absl::string_view text) {
  static constexpr Unit kUnits[] = {{"ns", 1},
                                    {"us", 1'000},
                                    {"ms", 1'000'000},
                                    {"s", 1'000'000'000},
                                    {"m", 60'000'000'000},
                                    {"h", 3'600'000'000'000}};
  uint64_t number = 0;
  absl::string_view suffix;
  if (text == "0") return 0;
  if (text.find('.') != absl::string_view::npos)
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a duration: use a whole number with a smaller unit (1500ms, not "
                   "1.5s)"));
  if (!split_number(text, number, suffix) || suffix.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a duration: write a whole number and a unit (ns, us, ms, "
                                "s, m, h), e.g. 300ms, 10s, 5m"));
  }
  for (const Unit& unit : kUnits) {
    if (suffix != unit.suffix) continue;
    if (number > UINT64_MAX / unit.factor)
      return absl::InvalidArgumentError(absl::StrCat("'", text, "' is too long a duration"));
    return number * unit.factor;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' has an unknown unit '", suffix, "': use ns, us, ms, s, m or h"));
}

std::string format_duration(uint64_t ns) {
  if (ns == 0) return "0";
  static constexpr Unit kUnits[] = {{"h", 3'600'000'000'000},
                                    {"m", 60'000'000'000},
                                    {"s", 1'000'000'000},
                                    {"ms", 1'000'000},
                                    {"us", 1'000}};
  for (const Unit& unit : kUnits)
    if (ns % unit.factor == 0) return absl::StrCat(ns / unit.factor, unit.suffix);
  return absl::StrCat(ns, "ns");
}

absl::StatusOr<uint64_t> parse_byte_size(absl::string_view text) {
  static constexpr Unit kUnits[] = {{"", 1},
                                    {"B", 1},
                                    {"KiB", 1ULL << 10},
                                    {"MiB", 1ULL << 20},
                                    {"GiB", 1ULL << 30},
                                    {"KB", 1'000},
                                    {"kB", 1'000},
                                    {"MB", 1'000'000},
                                    {"GB", 1'000'000'000}};
  uint64_t number = 0;
  absl::string_view suffix;
  if (split_number(text, number, suffix)) {
    for (const Unit& unit : kUnits) {
      if (suffix != unit.suffix) continue;
      if (number > UINT64_MAX / unit.factor) break;
      return number * unit.factor;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' is not a size: write bytes, or a whole number with KiB, MiB, GiB (or KB, MB, "
                 "GB), e.g. 100MiB"));
}

absl::StatusOr<std::string> parse_pci_address(absl::string_view text) {
  // DDDD:BB:DD.F, domain optional; device is 5 bits and function 3 bits.
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  absl::string_view domain = "0000";
  if (parts.size() == 3) {
    domain = parts[0];
    parts.erase(parts.begin());
  }
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a PCI address: expected DDDD:BB:DD.F, e.g. 0000:3b:00.0 (see "
                   "`dpdk-devbind.py --status`)"));
  };
  if (parts.size() != 2 || domain.size() != 4 || !is_hex(domain) || parts[0].size() != 2 ||
      !is_hex(parts[0]))
    return bad();
  const absl::string_view dev_fn = parts[1];
  if (dev_fn.size() != 4 || dev_fn[2] != '.' || !is_hex(dev_fn.substr(0, 2)) ||
      dev_fn[3] < '0' || dev_fn[3] > '7')
    return bad();
  uint32_t device = 0;
  if (!absl::SimpleHexAtoi(dev_fn.substr(0, 2), &device) || device > 0x1f) return bad();
  return absl::AsciiStrToLower(absl::StrCat(domain, ":", parts[0], ":", dev_fn));
}

absl::StatusOr<Vdev> parse_vdev(absl::string_view text) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not a vdev: ", why,
        " (expected net_<driver><n>[,key=value...], e.g. net_af_packet0,iface=veth1)"));
  };
  const std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  const absl::string_view name = parts[0];
  if (name.substr(0, 4) != "net_") return bad("the name must start with net_");
  size_t digits_at = name.size();
  while (digits_at > 4 && absl::ascii_isdigit(static_cast<unsigned char>(name[digits_at - 1])))
    --digits_at;
  if (digits_at == name.size()) return bad("the name must end with an instance number");
  if (digits_at == 4) return bad("the name has no driver");
  for (char c : name.substr(4, digits_at - 4))
    if (!absl::ascii_islower(static_cast<unsigned char>(c)) && c != '_' &&
        !absl::ascii_isdigit(static_cast<unsigned char>(c)))
      return bad("the driver name has characters other than a-z, 0-9 and _");
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    if (eq == 0 || eq == absl::string_view::npos)
      return bad(absl::StrCat("argument '", parts[i], "' is not key=value"));
  }
  Vdev vdev;
  vdev.name = std::string(name);
  // Instance numbers belong to the name, not the driver: net_af_packet0 -> net_af_packet.
  vdev.driver = std::string(name.substr(0, digits_at));
  return vdev;
}

absl::StatusOr<IpPrefix> parse_ip_prefix(absl::string_view text) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an IP prefix: ", why));
  };
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  IpPrefix prefix;
  prefix.text = std::string(text);
  uint32_t max_length = 0;
  uint32_t offset = 0;  // bits before the written address in the 128-bit form
  uint8_t raw[16];
  if (inet_pton(AF_INET, address.c_str(), raw) == 1) {
    prefix.network = IpAddress::from_v4(raw);
    max_length = 32;
    offset = 96;
  } else if (inet_pton(AF_INET6, address.c_str(), raw) == 1) {
    prefix.network = IpAddress::from_v6(raw);
    max_length = 128;
  } else {
    return bad("expected an address such as 10.20.0.0/16 or 2001:db8::/32");
  }
  uint32_t length = max_length;
  if (slash != absl::string_view::npos &&
      (!absl::SimpleAtoi(text.substr(slash + 1), &length) || length > max_length ||
       text.substr(slash + 1).empty()))
    return bad(absl::StrCat("the prefix length must be 0 to ", max_length));
  prefix.prefix_length = static_cast<uint8_t>(offset + length);
  IpAddress masked = prefix.network;
  for (uint32_t bit = prefix.prefix_length; bit < 128; ++bit)
    masked.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  if (masked != prefix.network)
    return bad(absl::StrCat("bits are set after the prefix length; did you mean ",
                            masked.to_string(), "/", length, "?"));
  return prefix;
}

absl::string_view closest_match(absl::string_view word,
                               std::initializer_list<absl::string_view> candidates) {
  absl::string_view best;
  size_t best_distance = SIZE_MAX;
  for (absl::string_view candidate : candidates) {
    const size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  // A typo, not a different word: at most 2 edits, and fewer than a third of the word.
  const size_t limit = std::min<size_t>(2, std::max<size_t>(1, best.size() / 3));
  return best_distance <= limit ? best : absl::string_view();
}

}  // namespace sluice::config
