#include "dataplane/host/cpu_list.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

// Kernel lists never name CPUs past this; it bounds what a corrupt file can make us allocate.
constexpr uint32_t kMaxCpu = 1u << 16;

}  // namespace

absl::StatusOr<CpuSet> parse_cpu_list(std::string_view text) {
  CpuSet cpus;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(av(text));
  if (trimmed.empty()) return cpus;
  for (absl::string_view part : absl::StrSplit(trimmed, ',')) {
    part = absl::StripAsciiWhitespace(part);
    const size_t dash = part.find('-');
    uint32_t first = 0, last = 0;
    const bool ok = dash == absl::string_view::npos
                        ? absl::SimpleAtoi(part, &first) && (last = first, true)
                        : absl::SimpleAtoi(part.substr(0, dash), &first) &&
                              absl::SimpleAtoi(part.substr(dash + 1), &last);
    if (!ok || first > last || last >= kMaxCpu)
      return absl::InvalidArgumentError(
          absl::StrCat("not a CPU list: \"", trimmed, "\" (at \"", part, "\")"));
    for (uint32_t c = first; c <= last; ++c) cpus.insert(c);
  }
  return cpus;
}

std::string format_cpu_list(const CpuSet& cpus) {
  std::vector<std::string> parts;
  for (auto it = cpus.begin(); it != cpus.end();) {
    const uint32_t first = *it;
    uint32_t last = first;
    auto next = std::next(it);
    while (next != cpus.end() && *next == last + 1) {
      last = *next;
      ++next;
    }
    if (last >= first + 2) {
      parts.push_back(absl::StrCat(first, "-", last));
    } else {
      for (uint32_t c = first; c <= last; ++c) parts.push_back(absl::StrCat(c));
    }
    it = next;
  }
  return absl::StrJoin(parts, ",");
}

std::string format_cpu_mask(const CpuSet& cpus) {
  if (cpus.empty()) return "0";
  const uint32_t nibbles = *cpus.rbegin() / 4 + 1;
  std::string hex;  // least significant nibble first
  for (uint32_t n = 0; n < nibbles; ++n) {
    int v = 0;
    for (uint32_t b = 0; b < 4; ++b) v |= cpus.contains(n * 4 + b) ? 1 << b : 0;
    if (n > 0 && n % 8 == 0) hex.push_back(',');
    hex.push_back("0123456789abcdef"[v]);
  }
  return std::string(hex.rbegin(), hex.rend());
}

absl::StatusOr<CpuSet> parse_cpu_mask(std::string_view text) {
  CpuSet cpus;
  std::string hex;
  for (char ch : absl::StripAsciiWhitespace(av(text)))
    if (ch != ',') hex.push_back(ch);
  uint32_t bit = 0;
  for (auto it = hex.rbegin(); it != hex.rend(); ++it, bit += 4) {
    int v;
    if (*it >= '0' && *it <= '9') v = *it - '0';
    else if (*it >= 'a' && *it <= 'f') v = *it - 'a' + 10;
    else if (*it >= 'A' && *it <= 'F') v = *it - 'A' + 10;
    else return absl::InvalidArgumentError(absl::StrCat("not a CPU mask: \"", av(text), "\""));
    if (bit >= kMaxCpu) return absl::InvalidArgumentError("CPU mask too long");
    for (uint32_t b = 0; b < 4; ++b)
      if (v & (1 << b)) cpus.insert(bit + b);
  }
  return cpus;
}

}  // namespace sluice
