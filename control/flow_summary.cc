#include "control/flow_summary.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace sluice {

void FlowSummary::add_verdict(const AuditEvent& verdict) {
  const std::string_view name = verdict.server_name();
  if (name.empty()) return;
  ++with_name_;
  ++by_name_[std::string(name)];
}

void FlowSummary::add_close(const AuditEvent& close) {
  ++flows_;
  ++by_first_flight_.at(static_cast<size_t>(close.first_flight));
  ++by_verdict_.at(static_cast<size_t>(close.verdict));
  close.anomalies.for_each([&](Anomaly a) { ++by_anomaly_[static_cast<size_t>(a)]; });
}

namespace {

void append(std::string& out, const char* fmt, auto... args) {
  char line[256];
  std::snprintf(line, sizeof(line), fmt, args...);
  out += line;
}

// Lists the non-zero counts of an enum-indexed array, sorted by name.
template <size_t N, typename Enum>
void append_counts(std::string& out, const char* title, const std::array<uint64_t, N>& counts,
                   std::string_view (*name_of)(Enum)) {
  std::vector<std::pair<std::string_view, uint64_t>> rows;
  for (size_t i = 0; i < N; ++i)
    if (counts[i] != 0) rows.emplace_back(name_of(static_cast<Enum>(i)), counts[i]);
  if (rows.empty()) return;
  std::sort(rows.begin(), rows.end());
  out += title;
  out += "\n";
  for (const auto& [name, count] : rows)
    append(out, "  %-28s %10llu\n", std::string(name).c_str(),
           static_cast<unsigned long long>(count));
}

}  // namespace

std::string FlowSummary::render(const WorkerStats& stats, double elapsed_s,
                                size_t top_names) const {
  std::string out;
  const double pps = elapsed_s > 0 ? static_cast<double>(stats.rx_packets) / elapsed_s : 0;
  append(out, "sluice: %llu packets, %llu flows, %llu with a server name, in %.3f s (%.0f packets/s)\n",
         static_cast<unsigned long long>(stats.rx_packets), static_cast<unsigned long long>(flows_),
         static_cast<unsigned long long>(with_name_), elapsed_s, pps);
  append_counts(out, "first flight:", by_first_flight_, first_flight_name);
  append_counts(out, "verdict:", by_verdict_, verdict_name);
  append_counts(out, "anomalies (flows):", by_anomaly_, anomaly_name);

  if (!by_name_.empty()) {
    std::vector<std::pair<std::string, uint64_t>> names(by_name_.begin(), by_name_.end());
    std::sort(names.begin(), names.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    append(out, "top server names (of %zu):\n", names.size());
    for (size_t i = 0; i < names.size() && i < top_names; ++i)
      append(out, "  %-50s %6llu\n", names[i].first.c_str(),
             static_cast<unsigned long long>(names[i].second));
  }

  std::string counters;
  stats.for_each_counter([&](const char* name, const char* help, uint64_t value) {
    if (value != 0 && std::string_view(name) != "rx_packets")
      append(counters, "  %-32s %10llu  %s\n", name, static_cast<unsigned long long>(value), help);
  });
  for (size_t i = 0; i < stats.malformed_by_reason.size(); ++i) {
    if (stats.malformed_by_reason[i] == 0) continue;
    append(counters, "  malformed.%-22s %10llu\n",
           std::string(malformed_name(static_cast<Malformed>(i))).c_str(),
           static_cast<unsigned long long>(stats.malformed_by_reason[i]));
  }
  if (!counters.empty()) out += "counters:\n" + counters;
  return out;
}

}  // namespace sluice
