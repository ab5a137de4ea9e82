#include "ctl/table.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sluice::ctl {
namespace {

bool numeric(const std::string& s) {
  return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-') &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                  c == 'k' || c == 'M' || c == 'G' || c == 'T' || c == ' ' || c == 'B' ||
                  c == '/' || c == 's' || c == '%';
         });
}

std::string scaled(double n, const char* const* units, double step, int decimals) {
  int u = 0;
  while (n >= step && units[u + 1] != nullptr) {
    n /= step;
    ++u;
  }
  if (u == 0) return absl::StrCat(static_cast<uint64_t>(n + 0.5), units[0]);
  return absl::StrFormat("%.*f%s", decimals, n, units[u]);
}

}  // namespace

std::string Table::render() const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t i = 0; i < header_.size(); ++i) width[i] = header_[i].size();
  for (const auto& row : rows_)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string text;
    for (size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      const std::string pad(width[i] - std::min(width[i], cell.size()), ' ');
      const bool right = !header && numeric(cell);
      absl::StrAppend(&text, i ? "  " : "", right ? pad + cell : cell + pad);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    absl::StrAppend(&out, text, "\n");
  };
  line(header_, true);
  for (const auto& row : rows_) line(row, false);
  return out;
}

std::string human_count(double n) {
  static const char* const kUnits[] = {"", "k", "M", "G", "T", nullptr};
  return scaled(n, kUnits, 1000, 2);
}

std::string human_bytes(double n) {
  static const char* const kUnits[] = {" B", " kB", " MB", " GB", " TB", nullptr};
  return scaled(n, kUnits, 1000, 1);
}

}  // namespace sluice::ctl
