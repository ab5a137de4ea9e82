#include "dataplane/app/run_command.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <memory>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/audit_file.h"
#include "control/api/view_endpoints.h"
#include "control/audit_json.h"
#include "control/syslog_export.h"
#include "dataplane/app/bypass_control.h"
#include "dataplane/app/bypass_endpoints.h"
#include "dataplane/app/management_api.h"
#include "dataplane/app/policy_reloader.h"
#include "dataplane/app/service_notifier.h"
#include "dataplane/config/mbuf_budget.h"
#include "dataplane/config/policy_source.h"
#include "dataplane/config/run_config.h"
#include "dataplane/dpdk/audit_ring.h"
#include "dataplane/dpdk/bridge_worker.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/ethdev_ports.h"
#include "dataplane/dpdk/policy_publisher.h"
#include "dataplane/dpdk/stats_mailbox.h"
#include "dataplane/dpdk/telemetry.h"
#include "dataplane/policy/absl_text.h"

namespace sluice {
namespace {

constexpr unsigned kDrainBatch = 256;

// Set by signal handlers, read by the management loop.
std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
std::atomic<bool> g_reopen{false};  // SIGUSR1: reopen the audit files only (logrotate)

void on_stop_signal(int) { g_stop.store(true); }
void on_reload_signal(int) { g_reload.store(true); }
void on_reopen_signal(int) { g_reopen.store(true); }

void catch_signal(int signal, void (*handler)(int)) {
  struct sigaction sa = {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sigaction(signal, &sa, nullptr);
}

// SIGHUP and SIGUSR1 are caught from the very start: their default action is to end the
// process, and a logrotate postrotate or a reload may come while the policy compiles (minutes
// at trust scale). The management loop acts on them once it runs.
void catch_reload_and_reopen_signals() {
  catch_signal(SIGHUP, on_reload_signal);
  catch_signal(SIGUSR1, on_reopen_signal);
}

// SIGTERM and SIGINT are caught once the workers are about to start; before that, ending the
// process at once is the right answer to them.
void catch_stop_signals() {
  catch_signal(SIGTERM, on_stop_signal);
  catch_signal(SIGINT, on_stop_signal);
}

uint64_t wall_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + ts.tv_nsec;
}

void log_line(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\n", message.c_str());
  std::fflush(stderr);
}

// What a worker lcore runs.
struct WorkerLaunch {
  BridgeWorker* worker;
  const std::atomic<bool>* stop;
  std::atomic<int>* finished;
};

int worker_main(void* arg) {
  auto* launch = static_cast<WorkerLaunch*>(arg);
  launch->worker->run(*launch->stop);
  launch->finished->fetch_add(1);
  return 0;
}

// The audit export of the management side: every event as one JSON line in every file, and
// as one RFC 5424 message to every syslog receiver (control/syslog_export.h: never blocks).
class AuditExport {
 public:
  absl::Status open(const AuditConfig& config) {
    for (const AuditFileOptions& o : config.files) {
      absl::StatusOr<std::unique_ptr<AuditFile>> f = AuditFile::open(o, wall_ns());
      if (!f.ok()) return f.status();
      files_.push_back(std::move(*f));
    }
    for (const SyslogExportOptions& o : config.syslog) {
      absl::StatusOr<std::unique_ptr<SyslogExport>> x = SyslogExport::create(o);
      if (!x.ok()) return x.status();
      syslog_.push_back({std::move(*x), {}});
    }
    return absl::OkStatus();
  }

  // Returns how many events it moved.
  size_t drain(AuditRing& ring) {
    size_t total = 0;
    unsigned n;
    while ((n = ring.drain(batch_.data(), kDrainBatch)) > 0) {
      const uint64_t now = wall_ns();
      const absl::Time at = absl::FromUnixNanos(static_cast<int64_t>(now));
      for (unsigned i = 0; i < n; ++i) {
        // The API's views see every flow, exported or not.
        if (batch_[i].kind == AuditKind::kVerdict) {
          live_flows_.add_verdict(batch_[i]);
          top_names_.add_verdict(batch_[i], at);
        } else {
          const AuditEvent& close = batch_[i];
          top_names_.add_close(live_flows_.add_close(close),
                               close.bytes_to_server + close.bytes_to_client, at);
        }
        if (!batch_[i].audit) continue;  // the deciding rule says `audit: false`
        line_.clear();
        append_event_record(line_, batch_[i]);
        for (auto& f : files_) {
          if (absl::Status s = f->write_line(line_, now); !s.ok()) {
            if (write_errors_++ == 0) log_line(absl::StrCat("audit: ", s.message()));
          }
        }
        for (Syslog& s : syslog_) s.exporter->enqueue(batch_[i], line_);  // full: counted
      }
      total += n;
    }
    records_ += total;
    return total;
  }

  // Moves syslog messages as far as the sockets take them now; logs connection changes.
  void pump() {
    const uint64_t now = monotonic_now_ns();
    for (Syslog& s : syslog_) {
      s.exporter->pump(now);
      const SyslogExportStats st = s.exporter->stats();
      const std::string who = absl::StrCat("audit syslog ", s.exporter->address(), ": ");
      if (st.connects > s.seen.connects)
        log_line(absl::StrCat(who, "connected; ", st.buffered_records, " records held to send"));
      if (st.disconnects > s.seen.disconnects)
        log_line(absl::StrCat(who, "connection lost (", s.exporter->last_error(), "); ",
                              st.buffered_records, " records held to send again"));
      // The first failed attempt of a series only: a receiver that stays down is not logged
      // once per try.
      if (st.connects > s.seen.connects) s.failing = false;
      if (st.connect_failures > s.seen.connect_failures && !s.failing) {
        log_line(absl::StrCat(who, "cannot connect (", s.exporter->last_error(),
                              "); retrying with back-off, records are buffered"));
        s.failing = true;
      }
      if (st.dropped > s.seen.dropped && s.seen.dropped == 0)
        log_line(absl::StrCat(who, "buffer full: new records are dropped and counted"));
      s.seen = st;
    }
  }

  void flush() {
    for (auto& f : files_)
      if (absl::Status s = f->flush(); !s.ok()) log_line(absl::StrCat("audit: ", s.message()));
  }
  // At exit: flush the files, try for up to 2 s to deliver what the syslog buffers hold, and
  // report what each receiver got.
  void finish() {
    flush();
    const uint64_t deadline = monotonic_now_ns() + 2'000'000'000ULL;
    for (Syslog& s : syslog_) {
      const uint64_t undelivered = s.exporter->finish(deadline);
      const SyslogExportStats st = s.exporter->stats();
      log_line(absl::StrCat("audit syslog ", s.exporter->address(), ": ", st.queued,
                            " records queued, ", st.acknowledged, " acknowledged (", st.resent,
                            " sent again after ", st.disconnects, " lost connections), ",
                            st.dropped, " dropped (buffer full), ", undelivered,
                            " not delivered at exit; ", st.connects, " connections, ",
                            st.connect_failures, " failed attempts"));
    }
  }
  void reopen() {
    for (auto& f : files_)
      if (absl::Status s = f->reopen(wall_ns()); !s.ok())
        log_line(absl::StrCat("audit: ", s.message()));
  }
  uint64_t records() const { return records_; }
  // For the API (GET /v1/flows, GET /v1/top/sni): thread-safe.
  const LiveFlows& live_flows() const { return live_flows_; }
  const TopNames& top_names() const { return top_names_; }
  uint64_t write_errors() const { return write_errors_; }
  // Each syslog receiver's counters; any thread may call it once open() returned.
  std::vector<SyslogReceiverView> syslog_stats() const {
    std::vector<SyslogReceiverView> out;
    for (const Syslog& s : syslog_) out.push_back({s.exporter->address(), s.exporter->stats()});
    return out;
  }

 private:
  struct Syslog {
    std::unique_ptr<SyslogExport> exporter;
    SyslogExportStats seen;  // at the last pump, to log changes once
    bool failing = false;    // attempts fail since the last connection (logged once)
  };
  std::vector<std::unique_ptr<AuditFile>> files_;
  std::vector<Syslog> syslog_;
  LiveFlows live_flows_;
  TopNames top_names_;
  std::vector<AuditEvent> batch_ = std::vector<AuditEvent>(kDrainBatch);
  std::string line_;
  uint64_t records_ = 0;
  uint64_t write_errors_ = 0;
};

std::string render_counters(const WorkerStats& s) {
  std::string out;
#define SLUICE_RENDER_COUNTER(name, help) \
  if (s.name != 0) absl::StrAppend(&out, "  ", #name, " ", s.name, "\n");
  SLUICE_WORKER_COUNTERS(SLUICE_RENDER_COUNTER)
#undef SLUICE_RENDER_COUNTER
  for (size_t i = 0; i < s.malformed_by_reason.size(); ++i)
    if (s.malformed_by_reason[i] != 0)
      absl::StrAppend(&out, "  malformed.", std::string(malformed_name(static_cast<Malformed>(i))),
                      " ", s.malformed_by_reason[i], "\n");
  for (size_t i = 0; i < s.flows_by_verdict.size(); ++i)
    if (s.flows_by_verdict[i] != 0)
      absl::StrAppend(&out, "  verdict.", std::string(verdict_name(static_cast<Verdict>(i))), " ",
                      s.flows_by_verdict[i], "\n");
  for (size_t i = 0; i < static_cast<size_t>(Anomaly::kCount); ++i)
    if (s.flows_by_anomaly[i] != 0)
      absl::StrAppend(&out, "  anomaly.", std::string(anomaly_name(static_cast<Anomaly>(i))), " ",
                      s.flows_by_anomaly[i], "\n");
  return out;
}

}  // namespace

int run_appliance(const RunOptions& options) {
  catch_reload_and_reopen_signals();
  ServiceNotifier notifier;  // systemd (Type=notify); does nothing outside systemd
  notifier.status("reading the configuration and compiling the policy");
  absl::StatusOr<RunConfig> loaded = load_run_config(options.config);
  if (!loaded.ok()) {
    log_line(std::string(loaded.status().message()));
    return 2;
  }
  const RunConfig& config = *loaded;
  absl::StatusOr<ConfiguredPolicy> policy = load_configured_policy(options.config);
  if (!policy.ok()) {
    log_line(std::string(policy.status().message()));
    return 2;
  }
  const uint16_t workers = static_cast<uint16_t>(config.lcores.workers.size());

  notifier.status("starting DPDK and the ports");
  if (absl::Status s = init_eal(eal_arguments(config, "sluice")); !s.ok()) {
    log_line(std::string(s.message()));
    return 2;
  }
  absl::StatusOr<std::unique_ptr<EthdevPorts>> ports = EthdevPorts::open(config);
  if (!ports.ok()) {
    log_line(std::string(ports.status().message()));
    return 2;
  }
  std::fprintf(stderr, "%s", (*ports)->summary().c_str());

  absl::StatusOr<std::unique_ptr<PolicyPublisher>> publisher = PolicyPublisher::create(workers);
  if (!publisher.ok()) {
    log_line(std::string(publisher.status().message()));
    return 1;
  }
  // Saved bypass entries go out with the first policy.
  absl::StatusOr<std::unique_ptr<BypassControl>> bypass =
      BypassControl::open(config.bypass, **publisher, absl::Now());
  if (!bypass.ok()) {
    log_line(std::string(bypass.status().message()));
    return 2;
  }
  if (absl::Status s = (*publisher)->publish(std::move(policy->snapshot),
                                             policy->intercept_fallback,
                                             absl::StrCat(options.config, " (load 1)"));
      !s.ok()) {
    log_line(std::string(s.message()));
    return 2;
  }

  AuditExport audit;
  if (absl::Status s = audit.open(config.audit); !s.ok()) {
    log_line(std::string(s.message()));
    return 2;
  }

  // Per-worker state, created before any worker starts and destroyed after all have stopped.
  std::vector<std::unique_ptr<AuditRing>> rings;
  std::vector<StatsMailbox> mailboxes(workers);
  std::vector<std::unique_ptr<FlowInspector>> inspectors;
  std::vector<std::unique_ptr<BridgeWorker>> bridge_workers;
  std::vector<std::vector<rte_ring*>> dispatch(workers, std::vector<rte_ring*>(workers, nullptr));
  std::vector<bool> software_dispatch(RTE_MAX_ETHPORTS, false);
  for (const EthdevPort& p : (*ports)->ports()) software_dispatch[p.port_id] = !p.rss();
  for (uint16_t from = 0; from < workers; ++from) {
    for (uint16_t to = 0; to < workers; ++to) {
      if (from == to) continue;
      const std::string name = absl::StrCat("sl_dsp_", from, "_", to);
      dispatch[from][to] = rte_ring_create(name.c_str(), kDispatchRingSize, SOCKET_ID_ANY,
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (dispatch[from][to] == nullptr) {
        log_line(absl::StrCat("cannot create dispatch ring ", name, ": ", rte_strerror(rte_errno),
                              " (raise eal.memory_mb)"));
        return 1;
      }
    }
  }
  // Interception: the TAP into the appliance namespace (docs/design.md, "Interception handoff").
  InterceptPath intercept;
  uint16_t intercept_outside = UINT16_MAX;
  std::atomic<uint64_t> interceptor_seen_ns{0};
  if (config.intercept.enabled) {
    const EthdevPort* tap = (*ports)->find(config.ports[config.intercept.port].name);
    const EthdevPort* outside = (*ports)->find(config.ports[config.intercept.outside].name);
    if (tap == nullptr || outside == nullptr) {
      log_line("intercept: the TAP or outside port did not open");
      return 2;
    }
    intercept.enabled = true;
    intercept.tap_port = tap->port_id;
    intercept.tap_mac = tap->mac;
    intercept.appliance_ip = config.intercept.address;
    intercept.source_ip = config.intercept.handoff_source;
    intercept.ipv6 = config.intercept.has_address6;
    intercept.appliance_ip6 = config.intercept.address6;
    intercept.port = config.intercept.handoff_port;
    intercept.fallback = config.policy.intercept_fallback;
    intercept_outside = outside->port_id;
    log_line(absl::StrCat("intercept: handoffs into ", tap->name, " (MAC ", format_mac(tap->mac),
                          "), the appliance's own traffic out of ", outside->name,
                          "; until the interceptor's heartbeat arrives, intercept verdicts are "
                          "carried out as ", av(verdict_name(config.policy.intercept_fallback))));
  }
  const EnforcementMode enforcement =
      config.mode == RunMode::kInline ? EnforcementMode::kInline : EnforcementMode::kMonitor;
  for (uint16_t w = 0; w < workers; ++w) {
    absl::StatusOr<std::unique_ptr<AuditRing>> ring =
        AuditRing::create(absl::StrCat("sl_audit_", w), config.audit.ring_size);
    if (!ring.ok()) {
      log_line(std::string(ring.status().message()));
      return 1;
    }
    rings.push_back(std::move(*ring));
    InspectorConfig ic = config.inspector;
    ic.worker_id = w;
    ic.flow_hash_seed = 0;  // a random seed per worker
    ic.enforcement = enforcement;
    ic.block_response = config.policy.block_response;
    // Held frames are mbufs: never more than a quarter of the pool across workers.
    ic.held_frames = held_frames_per_worker(config.mempool.mbufs, workers);
    ic.intercept = intercept;
    inspectors.push_back(std::make_unique<FlowInspector>(ic, *rings.back()));
    BridgeWorkerSetup setup;
    setup.id = w;
    setup.workers = workers;
    setup.rx = (*ports)->rx_queues_for_worker(w);
    setup.software_dispatch = software_dispatch;
    setup.peers = (*ports)->port_pair_peer();
    setup.burst = config.queues.burst;
    setup.idle = config.lcores.idle_backoff;
    for (uint16_t o = 0; o < workers; ++o) {
      setup.dispatch_out.push_back(dispatch[w][o]);
      setup.dispatch_in.push_back(dispatch[o][w]);
    }
    setup.inject_pool = (*ports)->mempool(0);
    setup.intercept = intercept;
    setup.intercept_outside = intercept_outside;
    setup.interceptor_seen_ns = intercept.enabled ? &interceptor_seen_ns : nullptr;
    setup.interceptor_liveness_ns = config.intercept.liveness_ns;
    bridge_workers.push_back(std::make_unique<BridgeWorker>(setup, *inspectors.back(),
                                                            *rings.back(), **publisher,
                                                            mailboxes[w]));
  }

  std::unique_ptr<TelemetryRegistration> telemetry;
  if (config.stats.telemetry) {
    TelemetrySources sources;
    sources.workers = std::span<const StatsMailbox>(mailboxes.data(), mailboxes.size());
    sources.policy = publisher->get();
    EthdevPorts* port_set = ports->get();
    sources.ports = [port_set]() {
      std::vector<TelemetryPort> out;
      for (size_t i = 0; i < port_set->ports().size(); ++i) {
        absl::StatusOr<PortStatus> st = port_set->read_status(i);
        if (!st.ok()) continue;
        out.push_back({port_set->ports()[i].name,
                       {{"link_up", st->link_up},
                        {"rx_packets", st->rx_packets},
                        {"tx_packets", st->tx_packets},
                        {"rx_bytes", st->rx_bytes},
                        {"tx_bytes", st->tx_bytes},
                        {"rx_missed", st->rx_missed},
                        {"rx_errors", st->rx_errors},
                        {"tx_errors", st->tx_errors},
                        {"rx_no_mbuf", st->rx_no_mbuf}}});
      }
      return out;
    };
    absl::StatusOr<std::unique_ptr<TelemetryRegistration>> t =
        TelemetryRegistration::install(std::move(sources));
    if (!t.ok()) {
      log_line(absl::StrCat("telemetry: ", t.status().message()));
    } else {
      telemetry = std::move(*t);
    }
  }

  // Reloads build off the management loop; SIGHUP and the API share the one reloader.
  auto reloader = std::make_unique<PolicyReloader>(options.config, **publisher, 1, log_line);
  ManagementApi::Sources api_sources;
  api_sources.config = &config;
  api_sources.config_path = options.config;
  api_sources.ports = ports->get();
  api_sources.mailboxes = std::span<const StatsMailbox>(mailboxes.data(), mailboxes.size());
  api_sources.publisher = publisher->get();
  api_sources.reloader = reloader.get();
  api_sources.syslog = [&audit] { return audit.syslog_stats(); };
  api_sources.more_endpoints.push_back([&audit](ApiRouter& router, uint64_t) {
    add_view_endpoints(router, audit.live_flows(), audit.top_names());
  });
  BypassControl* bypass_control = bypass->get();
  api_sources.more_endpoints.push_back([bypass_control](ApiRouter& router, uint64_t max_json_body) {
    add_bypass_endpoints(router, *bypass_control, max_json_body);
  });
  absl::StatusOr<std::unique_ptr<ManagementApi>> api = ManagementApi::start(api_sources);
  if (!api.ok()) {
    log_line(std::string(api.status().message()));
    return 2;
  }
  bool sighup_pending = false;  // SIGHUP while a reload builds: started once it has finished
  uint64_t notified_reload = 0;  // the last reload systemd was told of (RELOADING=1)

  catch_stop_signals();
  std::atomic<bool> stop_workers{false};
  std::atomic<int> finished{0};
  std::vector<WorkerLaunch> launches(workers);
  for (uint16_t w = 0; w < workers; ++w) {
    launches[w] = WorkerLaunch{bridge_workers[w].get(), &stop_workers, &finished};
    const int rc = rte_eal_remote_launch(worker_main, &launches[w], config.lcores.workers[w]);
    if (rc != 0) {
      log_line(absl::StrCat("cannot start worker ", w, " on lcore ", config.lcores.workers[w],
                            ": ", rte_strerror(-rc)));
      stop_workers.store(true);
      rte_eal_mp_wait_lcore();
      return 1;
    }
  }
  const std::string running =
      absl::StrCat("running (", workers, " workers, ", (*ports)->ports().size(), " ports, ",
                   config.mode == RunMode::kInline ? "inline" : "monitor", " mode)");
  log_line(running);
  notifier.ready(running, (*publisher)->current().generation);

  // The management loop: audit export, RCU reclaim, reloads, periodic counters.
  uint64_t next_log_ns = config.stats.log_interval_ns ? wall_ns() + config.stats.log_interval_ns : 0;
  uint64_t next_flush_ns = wall_ns() + 1'000'000'000ULL;
  bool bypass_healthy = true;
  for (;;) {
    size_t moved = 0;
    for (auto& r : rings) moved += audit.drain(*r);
    audit.pump();
    (*publisher)->reclaim();
    const uint64_t now = wall_ns();
    if (g_stop.load() && !stop_workers.load()) {
      log_line("stopping: closing flows and flushing the audit");
      notifier.stopping();
      stop_workers.store(true);
    }
    if (stop_workers.load() && finished.load() == workers) break;
    if (g_reload.exchange(false)) {
      sighup_pending = true;
      audit.reopen();
    }
    if (g_reopen.exchange(false)) audit.reopen();
    if (sighup_pending && reloader->start("SIGHUP").ok()) sighup_pending = false;
    // Every reload, from SIGHUP or the API (the unit's ExecReload goes through sluicectl), is
    // RELOADING=1 and then READY=1 with its outcome in STATUS=.
    if (const uint64_t n = reloader->last_started(); n != notified_reload) {
      notified_reload = n;
      const ReloadState r = reloader->state();
      notifier.reloading(n, r.building && r.building_number == n ? r.building_origin : r.last.origin);
    }
    if (notifier.reload_pending())
      notifier.reload_finished(reloader->state(), (*publisher)->current().generation);
    notifier.watchdog(monotonic_now_ns());
    if (*api) (*api)->maybe_sample(absl::FromUnixNanos(static_cast<int64_t>(now)),
                                   audit.records(), audit.write_errors());
    if (now >= next_flush_ns) {
      audit.flush();
      next_flush_ns = now + 1'000'000'000ULL;
      // Logged when it starts failing, not every second after.
      const absl::Status ticked = (*bypass)->tick(absl::Now());
      if (!ticked.ok() && bypass_healthy) log_line(std::string(ticked.message()));
      bypass_healthy = ticked.ok();
    }
    if (next_log_ns != 0 && now >= next_log_ns) {
      WorkerStats total;
      for (const StatsMailbox& m : mailboxes) {
        WorkerSample sample;
        if (m.read(sample)) total.add(sample.stats);
      }
      log_line(absl::StrCat("counters:\n", render_counters(total)));
      next_log_ns = now + config.stats.log_interval_ns;
    }
    if (moved == 0) {
      timespec ts{0, 1'000'000};  // the management lcore may sleep: nothing here is line rate
      nanosleep(&ts, nullptr);
    }
  }
  api->reset();       // no API thread reads the ports or mailboxes after this
  reloader.reset();  // a reload still building finishes first
  rte_eal_mp_wait_lcore();
  for (auto& r : rings) audit.drain(*r);
  audit.finish();
  telemetry.reset();
  if (absl::Status s = (*publisher)->drain(absl::Seconds(5)); !s.ok())
    log_line(std::string(s.message()));

  WorkerStats total;
  for (const auto& i : inspectors) total.add(i->stats());
  if (config.stats.print_on_exit)
    log_line(absl::StrCat("stopped; ", audit.records(), " audit records written; counters:\n",
                          render_counters(total)));
  (*ports)->stop();
  for (auto& row : dispatch)
    for (rte_ring* r : row) rte_ring_free(r);
  return 0;
}

}  // namespace sluice
