#include "dataplane/host/host_report.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace sluice {
namespace {

std::string_view level_word(FindingLevel level) {
  switch (level) {
    case FindingLevel::kOk: return "ok";
    case FindingLevel::kNote: return "note";
    case FindingLevel::kGap: return "GAP";
  }
  return "?";
}

void append_terms(std::string& out, const std::vector<MbufTerm>& terms) {
  for (const MbufTerm& t : terms)
    absl::StrAppend(&out, absl::StrFormat("    %-14d %s\n", t.mbufs, t.what));
}

void append_terms(std::string& out, const std::vector<SizingTerm>& terms, bool bytes) {
  for (const SizingTerm& t : terms)
    absl::StrAppend(&out, absl::StrFormat("    %-14s %s\n",
                                          bytes ? format_bytes(t.amount) : absl::StrCat(t.amount),
                                          t.what));
}

}  // namespace

std::string render_findings(const std::vector<HostFinding>& findings) {
  std::string out;
  size_t gaps = 0;
  for (const HostFinding& f : findings) {
    absl::StrAppend(&out, absl::StrFormat("%-5s %s: %s\n", level_word(f.level), f.check,
                                          f.detail));
    if (f.level == FindingLevel::kGap) {
      ++gaps;
      absl::StrAppend(&out, "      fix: ", f.fix, "\n");
    }
  }
  absl::StrAppend(&out, gaps == 0 ? "no gaps: this host is ready for this configuration\n"
                                  : absl::StrCat(gaps, gaps == 1 ? " gap" : " gaps",
                                                 " to close before `sluice run`\n"));
  return out;
}

std::string render_sizing(const Sizing& s) {
  std::string out = "sizing (deploy/README.md, \"Sizing\"):\n";
  absl::StrAppend(&out, "  mbufs per packet pool: ", s.mbufs.needed, " needed (",
                  s.mbufs.recommended, " as 2^n-1), ", s.mbufs_configured, " configured\n");
  append_terms(out, s.mbufs.terms);
  absl::StrAppend(&out, absl::StrFormat("    %-14s %s\n", absl::StrCat(s.mbufs.held),
                                        "held first flights: a quarter of the pool, at least "
                                        "256 per worker"));
  absl::StrAppend(&out, "  hugepage memory: ", format_bytes(s.huge_bytes_per_socket),
                  " per socket with ports, ", format_bytes(s.huge_bytes_total),
                  " on the sockets with ports (one mbuf takes ", s.mbuf_object_bytes,
                  " bytes; the larger of the sum below and eal --socket-mem; the plan also "
                  "gives every other node one socket's pools and rings)\n");
  append_terms(out, s.huge_terms, true);
  absl::StrAppend(&out, "  ordinary memory: ", format_bytes(s.ram_bytes), "\n");
  append_terms(out, s.ram_terms, true);
  return out;
}

std::string render_plan(const HostPlan& plan) {
  std::string out;
  const std::string cmdline = plan.kernel_cmdline();
  absl::StrAppend(&out, "kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub, then "
                        "update-grub and reboot):\n  ",
                  cmdline.empty() ? "(nothing to add)" : cmdline, "\n");
  if (!plan.isolation_args.empty())
    absl::StrAppend(&out, "  workers ", format_cpu_list(plan.worker_cpus), ": isolated, "
                          "tickless, no RCU callbacks; management ",
                    format_cpu_list(plan.management_cpus), ": isolated; kernel and IRQs on ",
                    format_cpu_list(plan.housekeeping_cpus), "\n");
  if (!plan.dpdk_conf.empty())
    absl::StrAppend(&out, "/etc/dpdk/dpdk.conf (instead of hugepages= at boot):\n  ",
                    plan.dpdk_conf);
  if (!plan.dpdk_interfaces.empty()) {
    absl::StrAppend(&out, "/etc/dpdk/interfaces:\n");
    for (absl::string_view line : absl::StrSplit(plan.dpdk_interfaces, '\n', absl::SkipEmpty()))
      absl::StrAppend(&out, "  ", line, "\n");
  }
  for (const std::string& n : plan.notes) absl::StrAppend(&out, "note: ", n, "\n");
  return out;
}

}  // namespace sluice
