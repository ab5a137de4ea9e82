#include "dataplane/app/replay_command.h"

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <unordered_map>
#include <vector>

#include "control/audit_json.h"
#include "control/flow_summary.h"
#include "dataplane/config/policy_source.h"
#include "dataplane/config/run_config.h"
#include "dataplane/dpdk/audit_ring.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/pcap_port.h"
#include "dataplane/dpdk/worker.h"
#include "dataplane/policy/compile_policy.h"
#include "dataplane/policy/snapshot_judge.h"

namespace sluice {
namespace {

constexpr char kPortName[] = "net_pcap_replay";
// Drained after every burst, which produces at most a few events per packet plus one expiry batch.
constexpr unsigned kRingSize = 2048;
constexpr unsigned kDrainBatch = 256;
// net_pcap returns an empty burst only at the end of the file; a few in a row to be sure.
constexpr int kEmptyBurstsAtEnd = 4;

// The management side of a replay: keeps each flow's judgement from its verdict event until
// its close event, and prints one record per flow.
class ReplayPrinter {
 public:
  ReplayPrinter(bool print_records) : print_records_(print_records) { line_.reserve(2048); }

  void drain(AuditRing& ring) {
    unsigned n;
    while ((n = ring.drain(batch_.data(), kDrainBatch)) > 0) {
      for (unsigned i = 0; i < n; ++i) handle(batch_[i]);
    }
  }
  const FlowSummary& summary() const { return summary_; }

 private:
  void handle(const AuditEvent& e) {
    if (e.kind == AuditKind::kVerdict) {
      summary_.add_verdict(e);
      if (print_records_) append_judgement(judgements_[e.flow_id], e);
      return;
    }
    summary_.add_close(e);
    if (!print_records_) return;
    auto it = judgements_.find(e.flow_id);
    if (it == judgements_.end()) {
      // The verdict event was lost (counted as audit_dropped): say what the close event knows.
      it = judgements_.emplace(e.flow_id, std::string()).first;
      append_judgement(it->second, e);
    }
    line_.clear();
    append_flow_record(line_, it->second, e);
    line_ += '\n';
    std::fwrite(line_.data(), 1, line_.size(), stdout);
    judgements_.erase(it);
  }

  bool print_records_;
  std::vector<AuditEvent> batch_ = std::vector<AuditEvent>(kDrainBatch);
  // Open flows' judgements, already as JSON (a few hundred bytes, not the whole event).
  std::unordered_map<uint64_t, std::string> judgements_;
  FlowSummary summary_;
  std::string line_;
};

// The policy of a configuration file, compiled, and a judge over it.
struct ReplayPolicy {
  std::unique_ptr<const PolicySnapshot> snapshot;
  std::unique_ptr<SnapshotJudge> judge;
  Verdict intercept_fallback = Verdict::kPass;
};

absl::StatusOr<ReplayPolicy> load_policy(const std::string& path) {
  absl::StatusOr<ConfiguredPolicy> configured = load_configured_policy(path);
  if (!configured.ok()) return configured.status();
  ReplayPolicy policy;
  policy.snapshot = std::move(configured->snapshot);
  policy.intercept_fallback = configured->intercept_fallback;
  absl::StatusOr<std::unique_ptr<SnapshotJudge>> judge =
      SnapshotJudge::create(*policy.snapshot, policy.intercept_fallback);
  if (!judge.ok()) return judge.status();
  policy.judge = std::move(*judge);
  return policy;
}

}  // namespace

int run_replay(const ReplayOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  if (absl::Status s = check_capture_file(options.capture); !s.ok()) {
    std::fprintf(stderr, "sluice replay: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  ReplayPolicy policy;
  if (!options.config.empty()) {
    absl::StatusOr<ReplayPolicy> loaded = load_policy(options.config);
    if (!loaded.ok()) {
      std::fprintf(stderr, "sluice replay: %s\n", std::string(loaded.status().message()).c_str());
      return 2;
    }
    policy = std::move(*loaded);
  }
  if (absl::Status s = init_eal(no_hardware_eal_args("sluice", options.eal_memory_mb)); !s.ok()) {
    std::fprintf(stderr, "sluice replay: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  rte_mempool* pool = create_capture_mbuf_pool("replay_mbufs");
  if (pool == nullptr) {
    std::fprintf(stderr, "sluice replay: cannot allocate packet buffers (raise -m)\n");
    return 1;
  }
  absl::StatusOr<PcapPort> port = open_pcap_port(kPortName, options.capture, pool);
  if (!port.ok()) {
    std::fprintf(stderr, "sluice replay: %s\n", std::string(port.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<AuditRing>> ring = AuditRing::create("replay_audit", kRingSize);
  if (!ring.ok()) {
    std::fprintf(stderr, "sluice replay: %s\n", std::string(ring.status().message()).c_str());
    return 1;
  }

  static char stdout_buffer[1 << 20];
  std::setvbuf(stdout, stdout_buffer, _IOFBF, sizeof(stdout_buffer));

  auto inspector = std::make_unique<FlowInspector>(options.inspector, **ring);
  inspector->set_judge(policy.judge.get());
  WorkerRx rx;
  rx.port_id = port->port_id;
  rx.capture_timestamps = port->has_timestamps;
  rx.timestamp_offset = port->timestamp_offset;
  rx.timestamp_flag = port->timestamp_flag;
  auto worker = std::make_unique<Worker>(*inspector, rx);
  ReplayPrinter printer(options.print_records);

  for (int empty = 0; empty < kEmptyBurstsAtEnd;) {
    empty = worker->poll_once() == 0 ? empty + 1 : 0;
    printer.drain(**ring);
  }
  // End of capture: every flow still open ends here, judged with what it had.
  while (inspector->close_some(worker->now_ns(), kRingSize / 4) > 0) printer.drain(**ring);
  printer.drain(**ring);
  std::fflush(stdout);

  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (options.print_summary) {
    std::fputs(printer.summary().render(inspector->stats(), elapsed).c_str(), stderr);
    if (policy.snapshot) {
      std::fprintf(stderr, "policy: %s\n", policy.snapshot->summary().c_str());
      std::fprintf(stderr, "intercept fallbacks: %llu (intercept carried out as %s)\n",
                   static_cast<unsigned long long>(inspector->stats().intercept_fallbacks),
                   std::string(verdict_name(policy.intercept_fallback)).c_str());
    }
  }
  close_pcap_port(*port, kPortName);
  return 0;
}

}  // namespace sluice
