// pipeline_bench: the in-memory half of the pipeline benchmark (perf/run-pipeline-bench.sh).
// It drives the real worker loop of `sluice run` (BridgeWorker::run on its own lcore, with a
// FlowInspector in inline mode, a PolicyPublisher and an AuditRing) from memory:
//
//   * Two ring ethdevs (rte_eth_from_rings) stand in for the inside and outside ports. The
//     outside port's TX ring *is* the inside port's RX ring, so every frame the worker forwards
//     comes back to it: frames are built once, preloaded into mbufs, and recycled by the loop
//     itself, with no per-packet copy and no other thread touching them.
//   * Bursts stay aligned (the population is a multiple of the burst), so a held-and-released
//     ClientHello never overtakes another frame of its own flow.
//
// Rows, each beside a floor run on the same frames, same rings, same lcore, same run:
//   floor      rte_eth_rx_burst + the 5-tuple swap of testpmd's 5tswap + rte_eth_tx_burst
//   est        established TLS flows, IMIX 64/590/1514 (7:4:1); handshakes are sent once
//              (through the outside port) before the recycled data frames start
//   new        new TLS flows: SYN, SYN-ACK, ACK, 590-byte ClientHello, RST; 5 frames a flow;
//              the RST closes the flow, so every pass the same 5-tuples are new flows again;
//              a 1M-name policy (half the server names hit it, half miss)
//   stall      the `new` workload keeps running while the main thread builds and publishes a
//              5M-name policy; an RX callback on the inside port timestamps (TSC) every poll of
//              the loop and keeps the longest gap per window: baseline, compile, publish+reclaim
//
// Output: `key value` lines (the script parses them).
//
//   pipeline_bench [--seconds S] [--new-flows N] [--est-flows N] [--est-data M]
//                  [--policy-names N] [--swap-names N] [--main-cpu C] [--worker-cpu C]
//                  [--rows est,new,stall]   (a subset for quick A/B runs; stall needs new)
//                  [--huge 0|1] [--nic-checksum 0|1]
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/core/flow_inspector.h"
#include "dataplane/dpdk/audit_ring.h"
#include "dataplane/dpdk/bridge_worker.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/policy_publisher.h"
#include "dataplane/dpdk/stats_mailbox.h"
#include "dataplane/policy/compile_policy.h"
#include "perf/pipeline_frames.h"

namespace sluice::perf {
namespace {

constexpr uint16_t kBurst = 32;
constexpr unsigned kWorkerLcore = 1;

struct Options {
  double seconds = 4.0;
  uint32_t new_flows = 16384;  // x 5 frames
  uint32_t est_flows = 256;
  uint32_t est_data = 124;
  uint32_t policy_names = 1'000'000;
  uint32_t swap_names = 5'000'000;
  int main_cpu = 0;
  int worker_cpu = 1;
  std::string rows = "est,new,stall";  // which rows to run (quick A/B runs of one row)
  bool huge = false;  // DPDK memory (mbufs, rings) in hugepages, as on an appliance
  // The frames carry the verdict of a NIC's RX checksum offload (IP and L4 checksums good), as
  // every appliance NIC (ixgbe, i40e, ice, mlx5) delivers them; without it the worker sums each
  // first-flight segment itself, as behind af_packet.
  bool nic_checksum = false;
};
bool g_nic_checksum = false;  // Options::nic_checksum, for enqueue_frames

void die(const std::string& what) {
  std::fprintf(stderr, "pipeline_bench: %s\n", what.c_str());
  std::exit(1);
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- the longest gap between two polls of the inside port (RX callback, worker lcore) ----
struct GapProbe {
  uint64_t last = 0;
  uint64_t last_cpu_ns = 0;
  std::atomic<uint64_t> max_gap{0};      // TSC ticks, wall clock: includes preemption
  std::atomic<uint64_t> max_cpu_gap{0};  // ns of the worker thread's own CPU time
  std::atomic<uint64_t> polls{0};
  std::atomic<uint32_t> reset{0};
  std::atomic<bool> cpu_time{false};  // also read the thread's CPU clock (a system call a poll)
  std::atomic<uint64_t> over_50us{0};  // polls that came more than 50 us after the previous
  uint64_t limit_50us = 0;             // in TSC ticks
  uint32_t seen_reset = 0;
};

uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ULL + ts.tv_nsec;
}

// Called by rte_eth_rx_burst on the inside port: once per iteration of the worker loop.
uint16_t gap_callback(uint16_t, uint16_t, rte_mbuf**, uint16_t nb, uint16_t, void* arg) {
  auto* p = static_cast<GapProbe*>(arg);
  const uint64_t t = rte_rdtsc();
  const bool cpu = p->cpu_time.load(std::memory_order_relaxed);
  const uint64_t c = cpu ? thread_cpu_ns() : 0;
  const uint32_t r = p->reset.load(std::memory_order_relaxed);
  if (r != p->seen_reset) {
    p->seen_reset = r;
    p->max_gap.store(0, std::memory_order_relaxed);
    p->max_cpu_gap.store(0, std::memory_order_relaxed);
    p->over_50us.store(0, std::memory_order_relaxed);
    p->last = 0;
  }
  if (p->last != 0) {
    if (t - p->last > p->limit_50us)
      p->over_50us.store(p->over_50us.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
    if (t - p->last > p->max_gap.load(std::memory_order_relaxed))
      p->max_gap.store(t - p->last, std::memory_order_relaxed);
    if (cpu && c - p->last_cpu_ns > p->max_cpu_gap.load(std::memory_order_relaxed))
      p->max_cpu_gap.store(c - p->last_cpu_ns, std::memory_order_relaxed);
  }
  p->last = t;
  p->last_cpu_ns = c;
  p->polls.fetch_add(1, std::memory_order_relaxed);
  return nb;
}

// ---- the worker lcore's CPU time, read from the main thread ----
// On a shared machine the lcore's thread is preempted now and then; packets per second of its
// own CPU time is the figure that preemption does not move (both the floor and sluice report it).
std::atomic<clockid_t> lcore_clock{0};
std::atomic<bool> lcore_clock_set{false};
std::atomic<pid_t> lcore_tid{0};

void note_lcore_clock() {
  lcore_tid.store(gettid());
  clockid_t c;
  if (pthread_getcpuclockid(pthread_self(), &c) == 0) {
    lcore_clock.store(c);
    lcore_clock_set.store(true);
  }
}

double lcore_cpu_s() {
  if (!lcore_clock_set.load()) return 0;
  timespec ts;
  if (clock_gettime(lcore_clock.load(), &ts) != 0) return 0;
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// Page faults the lcore's thread has taken (minor, major), from /proc: a worker that faults in
// policy or table pages during a swap would show it here.
void lcore_faults(uint64_t& minor, uint64_t& major) {
  minor = major = 0;
  const std::string path = "/proc/self/task/" + std::to_string(lcore_tid.load()) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return;
  char line[1024];
  if (std::fgets(line, sizeof line, f) != nullptr) {
    const char* p = std::strrchr(line, ')');  // the command name may hold spaces
    unsigned long long v[9] = {};
    // after the state: ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    if (p != nullptr && std::sscanf(p + 2, "%*c %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                                    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
      minor = v[6];
      major = v[8];
    }
  }
  std::fclose(f);
}

// ---- one loop: two ring ports whose rings make a circle, and the frames preloaded ----
struct Loop {
  rte_ring* inside_rx = nullptr;   // = outside TX: the circle
  rte_ring* inside_tx = nullptr;   // toward the inside (nothing, unless resets)
  rte_ring* outside_rx = nullptr;  // one-shot frames (handshakes before recycled data)
  uint16_t inside = 0, outside = 0;
  uint32_t population = 0;
};

// `shared_producer`: the main thread may add frames while the worker transmits into the ring.
rte_ring* make_ring(const std::string& name, unsigned count, bool shared_producer = false) {
  rte_ring* r = rte_ring_create(name.c_str(), rte_align32pow2(count + 1), SOCKET_ID_ANY,
                                (shared_producer ? 0 : RING_F_SP_ENQ) | RING_F_SC_DEQ);
  if (r == nullptr) die("rte_ring_create " + name);
  return r;
}

uint16_t ring_port(const std::string& name, rte_ring* rx, rte_ring* tx, rte_mempool* pool) {
  const int id = rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, SOCKET_ID_ANY);
  if (id < 0) die("rte_eth_from_rings " + name);
  const uint16_t port = static_cast<uint16_t>(id);
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, nullptr, pool) != 0 ||
      rte_eth_tx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, nullptr) != 0 ||
      rte_eth_dev_start(port) != 0)
    die("cannot start ring port " + name);
  return port;
}

Loop make_loop(const std::string& tag, uint32_t circle, uint32_t one_shot, rte_mempool* pool) {
  Loop l;
  // The circle is multi-producer: the established row adds its data frames while the worker
  // already runs (one bulk enqueue, so they stay contiguous). Every row uses the same rings.
  l.inside_rx = make_ring(tag + "_irx", circle + one_shot, /*shared_producer=*/true);
  l.inside_tx = make_ring(tag + "_itx", one_shot + 4096);
  l.outside_rx = make_ring(tag + "_orx", one_shot + 64);
  l.inside = ring_port(tag + "_in", l.inside_rx, l.inside_tx, pool);
  l.outside = ring_port(tag + "_out", l.outside_rx, l.inside_rx, pool);
  return l;
}

void free_ring(rte_ring* r) {
  void* m;
  while (rte_ring_sc_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
}

void close_loop(Loop& l) {
  rte_eth_dev_stop(l.inside);
  rte_eth_dev_stop(l.outside);
  rte_eth_dev_close(l.inside);
  rte_eth_dev_close(l.outside);
  for (rte_ring* r : {l.inside_rx, l.inside_tx, l.outside_rx}) {
    free_ring(r);
    rte_ring_free(r);
  }
}

void enqueue_frames(rte_ring* ring, const std::vector<const Frame*>& frames, uint16_t port,
                    rte_mempool* pool) {
  std::vector<void*> mbufs;
  mbufs.reserve(frames.size());
  for (const Frame* f : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) die("mbuf pool too small");
    char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(f->size()));
    if (d == nullptr) die("frame does not fit an mbuf");
    std::memcpy(d, f->data(), f->size());
    m->port = port;  // the ring PMD does not set it; BridgeWorker forwards by it
    if (g_nic_checksum) m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
    mbufs.push_back(m);
  }
  if (rte_ring_enqueue_bulk(ring, mbufs.data(), static_cast<unsigned>(mbufs.size()), nullptr) !=
      mbufs.size())
    die("ring full while preloading");
}

// ---- the floor: testpmd's 5tswap on the same rings ----
struct FloorArgs {
  Loop* loop;
  const std::atomic<bool>* stop;
  std::atomic<uint64_t> packets{0};
};

inline void swap_5tuple(rte_mbuf* m) {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  rte_ether_addr a = eth->src_addr;
  eth->src_addr = eth->dst_addr;
  eth->dst_addr = a;
  if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return;
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  const rte_be32_t src = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = src;
  if (ip->next_proto_id != IPPROTO_TCP) return;
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(reinterpret_cast<uint8_t*>(ip) +
                                             (ip->version_ihl & 0xf) * 4);
  const rte_be16_t sport = tcp->src_port;
  tcp->src_port = tcp->dst_port;
  tcp->dst_port = sport;
}

int floor_main(void* arg) {
  auto* a = static_cast<FloorArgs*>(arg);
  note_lcore_clock();
  rte_mbuf* burst[kBurst];
  uint64_t total = 0;
  while (!a->stop->load(std::memory_order_relaxed)) {
    for (uint16_t port : {a->loop->inside, a->loop->outside}) {
      const uint16_t n = rte_eth_rx_burst(port, 0, burst, kBurst);
      for (uint16_t i = 0; i < n; ++i) swap_5tuple(burst[i]);
      const uint16_t peer = port == a->loop->inside ? a->loop->outside : a->loop->inside;
      uint16_t sent = 0;
      while (sent < n) sent += rte_eth_tx_burst(peer, 0, burst + sent, n - sent);
      total += n;
    }
    a->packets.store(total, std::memory_order_relaxed);
  }
  return 0;
}

// Runs the floor on `loop` for `seconds`; returns packets/s (after a warm-up of 0.3 s) and, in
// `per_cpu_s`, packets per second of the lcore thread's CPU time.
double run_floor(Loop& loop, double seconds, double& per_cpu_s) {
  std::atomic<bool> stop{false};
  FloorArgs args;
  args.loop = &loop;
  args.stop = &stop;
  if (rte_eal_remote_launch(floor_main, &args, kWorkerLcore) != 0) die("launch floor");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t p0 = args.packets.load();
  const double t0 = now_s(), c0 = lcore_cpu_s();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t p1 = args.packets.load();
  const double t1 = now_s(), c1 = lcore_cpu_s();
  per_cpu_s = c1 > c0 ? double(p1 - p0) / (c1 - c0) : 0;
  stop.store(true);
  rte_eal_wait_lcore(kWorkerLcore);
  return double(p1 - p0) / (t1 - t0);
}

// ---- the platform's own stalls: a bare loop on the worker lcore, polling the same probe ----
struct BareLoopArgs {
  GapProbe* probe;
  const std::atomic<bool>* stop;
};

int bare_loop_main(void* arg) {
  auto* a = static_cast<BareLoopArgs*>(arg);
  note_lcore_clock();
  while (!a->stop->load(std::memory_order_relaxed)) gap_callback(0, 0, nullptr, 0, 0, a->probe);
  return 0;
}

// ---- the real worker ----
struct WorkerLaunch {
  BridgeWorker* worker;
  const std::atomic<bool>* stop;
};

int worker_main(void* arg) {
  auto* l = static_cast<WorkerLaunch*>(arg);
  note_lcore_clock();
  l->worker->run(*l->stop);
  return 0;
}

struct Harness {
  Loop* loop;
  std::unique_ptr<AuditRing> audit;
  std::unique_ptr<FlowInspector> inspector;
  std::unique_ptr<BridgeWorker> worker;
  StatsMailbox mailbox;
  std::atomic<bool> stop{false};
  WorkerLaunch launch{};
  std::vector<AuditEvent> drained = std::vector<AuditEvent>(256);
  uint64_t audit_records = 0;

  Harness(Loop& l, PolicyPublisher& publisher, rte_mempool* pool, const std::string& tag)
      : loop(&l) {
    absl::StatusOr<std::unique_ptr<AuditRing>> r = AuditRing::create(tag + "_audit", 65536);
    if (!r.ok()) die(std::string(r.status().message()));
    audit = std::move(*r);
    InspectorConfig ic;  // `sluice run`'s defaults (deploy/config/REFERENCE.md)
    ic.worker_id = 0;
    ic.enforcement = EnforcementMode::kInline;
    ic.held_frames = 16384;
    inspector = std::make_unique<FlowInspector>(ic, *audit);
    BridgeWorkerSetup setup;
    setup.id = 0;
    setup.workers = 1;
    setup.rx = {RxQueueRef{l.inside, 0}, RxQueueRef{l.outside, 0}};
    setup.software_dispatch = std::vector<bool>(RTE_MAX_ETHPORTS, false);
    setup.peers.mode = RunMode::kInline;
    setup.peers.peer = {{l.inside, l.outside}, {l.outside, l.inside}};
    setup.burst = kBurst;
    setup.dispatch_out = {nullptr};
    setup.dispatch_in = {nullptr};
    setup.inject_pool = pool;
    worker = std::make_unique<BridgeWorker>(setup, *inspector, *audit, publisher, mailbox);
  }

  void start() {
    launch = WorkerLaunch{worker.get(), &stop};
    if (rte_eal_remote_launch(worker_main, &launch, kWorkerLcore) != 0) die("launch worker");
  }
  // The management side's share: drain audit events (as `sluice run` does, minus the JSON).
  void manage(PolicyPublisher& publisher) {
    unsigned n;
    while ((n = audit->drain(drained.data(), drained.size())) > 0) audit_records += n;
    publisher.reclaim();
  }
  void manage_for(PolicyPublisher& publisher, double seconds) {
    const double end = now_s() + seconds;
    while (now_s() < end) {
      manage(publisher);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  WorkerStats sample(double& at) {
    WorkerSample s;
    while (!mailbox.read(s)) {
    }
    at = now_s();
    return s.stats;
  }
  void finish(PolicyPublisher& publisher) {
    stop.store(true);
    while (rte_eal_get_lcore_state(kWorkerLcore) != WAIT) {
      manage(publisher);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    rte_eal_wait_lcore(kWorkerLcore);
    manage(publisher);
  }
};

uint64_t losses(const WorkerStats& s) {
  return s.tx_dropped + s.malformed + s.hold_exhausted + s.hold_flow_cap + s.decoys_dropped +
         s.blocked_packets + s.frames_discarded + s.dispatch_dropped + s.flow_table_full;
}

std::unique_ptr<const PolicySnapshot> build_policy(uint32_t list, uint32_t names, uint64_t gen,
                                                   double& seconds) {
  const double t0 = now_s();
  PolicySource source;
  source.generation = gen;
  source.description = absl::StrCat("pipeline_bench list ", list, ", ", names, " names");
  source.lists = {ListSource{absl::StrCat("bench", list), ListFormat::kDomains,
                             absl::StrCat("generated:bench", list), domains_list_text(list, names)}};
  // Hits pass (audited under the rule): every frame stays in the circle.
  source.rules = {RuleSource{absl::StrCat("bench_", list), "pipeline_bench:1",
                             {absl::StrCat("bench", list)}, {}, {Verdict::kPass, true}}};
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> p = compile_policy(source);
  if (!p.ok()) die(std::string(p.status().message()));
  seconds = now_s() - t0;
  return std::move(*p);
}

// Time the hypervisor took from CPU `cpu` (the steal column of /proc/stat), in ms.
double steal_ms(int cpu) {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return 0;
  char line[512];
  const std::string want = "cpu" + std::to_string(cpu) + " ";
  double ms = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, want.c_str(), want.size()) != 0) continue;
    unsigned long long v[8] = {};
    std::sscanf(line + want.size(), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    ms = double(v[7]) * 1000.0 / double(sysconf(_SC_CLK_TCK));
  }
  std::fclose(f);
  return ms;
}

void print(const char* key, double v) { std::printf("%s %.6g\n", key, v); }

}  // namespace
}  // namespace sluice::perf

int main(int argc, char** argv) {
  using namespace sluice;
  using namespace sluice::perf;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--seconds") o.seconds = std::atof(v);
    else if (k == "--new-flows") o.new_flows = std::strtoul(v, nullptr, 10);
    else if (k == "--est-flows") o.est_flows = std::strtoul(v, nullptr, 10);
    else if (k == "--est-data") o.est_data = std::strtoul(v, nullptr, 10);
    else if (k == "--policy-names") o.policy_names = std::strtoul(v, nullptr, 10);
    else if (k == "--swap-names") o.swap_names = std::strtoul(v, nullptr, 10);
    else if (k == "--main-cpu") o.main_cpu = std::atoi(v);
    else if (k == "--worker-cpu") o.worker_cpu = std::atoi(v);
    else if (k == "--rows") o.rows = v;
    else if (k == "--huge") o.huge = std::atoi(v) != 0;
    else if (k == "--nic-checksum") o.nic_checksum = std::atoi(v) != 0;
    else die("unknown argument " + k);
  }
  // 256-flow groups: multiples of the burst, so bursts stay aligned pass after pass.
  o.new_flows = std::max<uint32_t>(256, o.new_flows / 256 * 256);
  g_nic_checksum = o.nic_checksum;
  std::vector<std::string> eal = no_hardware_eal_args("pipeline_bench", 2048);
  eal.back() = absl::StrCat("0@", o.main_cpu, ",", kWorkerLcore, "@", o.worker_cpu);
  if (o.huge) {  // and no file left behind in hugetlbfs when the run ends (a per-run prefix)
    std::erase(eal, std::string("--no-huge"));
    eal.push_back("--huge-unlink");
  }
  if (absl::Status s = init_eal(eal); !s.ok()) die(std::string(s.message()));

  // Frames, built once.
  const double tb = now_s();
  std::vector<std::vector<Frame>> est;
  for (uint32_t f = 0; f < o.est_flows; ++f)
    est.push_back(established_flow_frames(f, flow_server_name(1, o.policy_names, f), o.est_data));
  std::vector<std::vector<Frame>> fresh;
  for (uint32_t f = 0; f < o.new_flows; ++f)
    fresh.push_back(new_flow_frames(f, flow_server_name(1, o.policy_names, f)));
  std::vector<const Frame*> est_handshakes, est_data, new_stream;
  for (size_t j = 0; j < est[0].size(); ++j)
    for (auto& flow : est) (j < 4 ? est_handshakes : est_data).push_back(&flow[j]);
  for (uint32_t g = 0; g < o.new_flows; g += 256)
    for (size_t j = 0; j < 5; ++j)
      for (uint32_t f = g; f < g + 256; ++f) new_stream.push_back(&fresh[f][j]);
  if (est_data.size() % kBurst != 0) die("--est-flows x --est-data must be a multiple of 32");
  print("frames_build_s", now_s() - tb);

  const unsigned pool_size = static_cast<unsigned>(new_stream.size() + est_data.size() +
                                                   est_handshakes.size() + 16384);
  rte_mempool* pool = rte_pktmbuf_pool_create("pipe_pool", pool_size, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (pool == nullptr) die("mbuf pool");

  absl::StatusOr<std::unique_ptr<PolicyPublisher>> pub = PolicyPublisher::create(1);
  if (!pub.ok()) die(std::string(pub.status().message()));
  PolicyPublisher& publisher = **pub;
  double compile_s = 0;
  if (absl::Status s = publisher.publish(build_policy(1, o.policy_names, 1, compile_s),
                                         Verdict::kPass, "1M");
      !s.ok())
    die(std::string(s.message()));
  print("policy_names", o.policy_names);
  print("policy_compile_s", compile_s);

  auto wants = [&](const char* row) { return o.rows.find(row) != std::string::npos; };

  // ---- established flows ----
  if (wants("est")) {
    Loop floor_loop = make_loop("ef", static_cast<uint32_t>(est_data.size()), 0, pool);
    enqueue_frames(floor_loop.inside_rx, est_data, floor_loop.inside, pool);
    double floor_cpu_pps = 0;
    print("est_floor_pps", run_floor(floor_loop, o.seconds, floor_cpu_pps));
    print("est_floor_cpu_pps", floor_cpu_pps);
    close_loop(floor_loop);

    Loop loop = make_loop("es", static_cast<uint32_t>(est_data.size()),
                          static_cast<uint32_t>(est_handshakes.size()), pool);
    Harness h(loop, publisher, pool, "es");
    h.start();
    enqueue_frames(loop.outside_rx, est_handshakes, loop.outside, pool);
    while (rte_ring_count(loop.inside_tx) < est_handshakes.size()) h.manage_for(publisher, 0.001);
    enqueue_frames(loop.inside_rx, est_data, loop.inside, pool);
    h.manage_for(publisher, 0.3);
    double t0, t1;
    const WorkerStats s0 = h.sample(t0);
    const double c0 = lcore_cpu_s();
    h.manage_for(publisher, o.seconds);
    const WorkerStats s1 = h.sample(t1);
    const double c1 = lcore_cpu_s();
    h.finish(publisher);
    print("est_frames", double(est_data.size()));
    print("est_pps", double(s1.rx_packets - s0.rx_packets) / (t1 - t0));
    print("est_cpu_pps", double(s1.rx_packets - s0.rx_packets) / (c1 - c0));
    print("est_flows_created_per_s", double(s1.flows_created - s0.flows_created) / (t1 - t0));
    print("est_judged_per_s",
          double(s1.first_flights_judged - s0.first_flights_judged) / (t1 - t0));
    const WorkerStats& fin = h.inspector->stats();
    print("est_losses", double(losses(fin)));
    print("est_judged_total", double(fin.first_flights_judged));
    print("est_frames_missing", double(est_data.size()) - rte_ring_count(loop.inside_rx));
    print("est_inside_tx_count", rte_ring_count(loop.inside_tx));
    print("est_frames_held", double(fin.frames_held));
    print("est_tx_packets", double(fin.tx_packets));
    print("est_rx_packets", double(fin.rx_packets));
    close_loop(loop);
  }

  // ---- new flows, then the policy swap under the same load ----
  if (wants("new") || wants("stall")) {
    const uint32_t frames = static_cast<uint32_t>(new_stream.size());
    Loop floor_loop = make_loop("nf", frames, 0, pool);
    enqueue_frames(floor_loop.inside_rx, new_stream, floor_loop.inside, pool);
    double floor_cpu_pps = 0;
    const double floor_pps = run_floor(floor_loop, o.seconds, floor_cpu_pps);
    print("new_floor_pps", floor_pps);
    print("new_floor_cpu_pps", floor_cpu_pps);
    close_loop(floor_loop);

    Loop loop = make_loop("nw", frames, 0, pool);
    GapProbe probe;
    probe.limit_50us = rte_get_tsc_hz() / 20000;
    if (rte_eth_add_rx_callback(loop.inside, 0, gap_callback, &probe) == nullptr)
      die("rte_eth_add_rx_callback (RTE_ETHDEV_RXTX_CALLBACKS off?)");
    enqueue_frames(loop.inside_rx, new_stream, loop.inside, pool);
    Harness h(loop, publisher, pool, "nw");
    h.start();
    h.manage_for(publisher, 0.3);
    double t0, t1;
    const WorkerStats s0 = h.sample(t0);
    const double c0 = lcore_cpu_s();
    h.manage_for(publisher, o.seconds);
    const WorkerStats s1 = h.sample(t1);
    const double c1 = lcore_cpu_s();
    const double dt = t1 - t0;
    print("new_frames", frames);
    print("new_pps", double(s1.rx_packets - s0.rx_packets) / dt);
    print("new_cpu_pps", double(s1.rx_packets - s0.rx_packets) / (c1 - c0));
    print("new_judged_per_cpu_s",
          double(s1.first_flights_judged - s0.first_flights_judged) / (c1 - c0));
    print("new_flows_created_per_s", double(s1.flows_created - s0.flows_created) / dt);
    print("new_judged_per_s", double(s1.first_flights_judged - s0.first_flights_judged) / dt);
    print("new_closed_per_s", double(s1.flows_closed - s0.flows_closed) / dt);
    print("new_released_per_s", double(s1.frames_released - s0.frames_released) / dt);

    // The swap. Windows: baseline (same load, no swap), compile (5M list built on the main
    // thread), publish + reclaim, after.
    if (wants("stall")) {
      const double hz = double(rte_get_tsc_hz());
      probe.cpu_time.store(true);
      auto window = [&](const char* name, auto&& body) {
        probe.reset.fetch_add(1);
        const uint64_t polls0 = probe.polls.load();
        const double w0 = now_s();
        const double steal0 = steal_ms(o.worker_cpu);
        uint64_t minor0, major0, minor1, major1;
        lcore_faults(minor0, major0);
        body();
        const double w = now_s() - w0;
        lcore_faults(minor1, major1);
        std::printf("stall_%s_worker_minflt %llu\nstall_%s_worker_majflt %llu\n", name,
                    (unsigned long long)(minor1 - minor0), name,
                    (unsigned long long)(major1 - major0));
        std::printf("stall_%s_over_50us %llu\nstall_%s_steal_ms %.0f\n", name,
                    (unsigned long long)probe.over_50us.load(), name,
                    steal_ms(o.worker_cpu) - steal0);
        std::printf("stall_%s_max_gap_us %.3f\nstall_%s_max_cpu_gap_us %.3f\n"
                    "stall_%s_seconds %.3f\nstall_%s_polls %llu\n",
                    name, probe.max_gap.load() / hz * 1e6, name, probe.max_cpu_gap.load() / 1e3,
                    name, w, name, (unsigned long long)(probe.polls.load() - polls0));
      };
      const WorkerStats before = h.sample(t0);
      const uint64_t generation0 = publisher.generation();
      window("baseline", [&] { h.manage_for(publisher, 3.0); });
      std::unique_ptr<const PolicySnapshot> big;
      double swap_compile_s = 0;
      window("compile", [&] {
        // Compiled on this thread while the worker runs, as the management lcore does on reload.
        std::thread t([&] { big = build_policy(2, o.swap_names, 2, swap_compile_s); });
        while (!big) h.manage_for(publisher, 0.01);
        t.join();
      });
      window("publish", [&] {
        if (absl::Status s = publisher.publish(std::move(big), Verdict::kPass, "5M"); !s.ok())
          die(std::string(s.message()));
        while (publisher.pending_reclaim() > 0) h.manage_for(publisher, 0.0005);
        h.manage_for(publisher, 0.2);
      });
      window("after", [&] { h.manage_for(publisher, 1.0); });
      const WorkerStats after = h.sample(t1);
      h.finish(publisher);
      print("swap_names", o.swap_names);
      print("swap_compile_s", swap_compile_s);
      print("swap_publish_ms", absl::ToDoubleMilliseconds(publisher.stats().last_publish));
      print("swap_generations", double(publisher.generation() - generation0));
      print("swap_losses", double(losses(after) - losses(before)));
      print("swap_rx_packets", double(after.rx_packets - before.rx_packets));
      print("swap_pps", double(after.rx_packets - before.rx_packets) / (t1 - t0));
      const WorkerStats& fin = h.inspector->stats();
      print("new_losses_total", double(losses(fin)));
      print("new_frames_missing", double(frames) - rte_ring_count(loop.inside_rx) -
                                      rte_ring_count(loop.inside_tx));
      print("new_resets_sent", double(fin.resets_sent));
      print("new_audit_dropped", double(fin.audit_dropped));
      print("audit_records", double(h.audit_records));

      // The same probe in a loop that does nothing else, on the same lcore: how long this machine
      // keeps a polling thread from running by itself, idle and while the same list compiles.
      std::atomic<bool> bare_stop{false};
      BareLoopArgs bare{&probe, &bare_stop};
      if (rte_eal_remote_launch(bare_loop_main, &bare, kWorkerLcore) != 0) die("launch bare loop");
      window("platform_idle", [&] { std::this_thread::sleep_for(std::chrono::seconds(3)); });
      double platform_compile_s = 0;
      window("platform_compile", [&] {
        std::unique_ptr<const PolicySnapshot> other = build_policy(3, o.swap_names, 3,
                                                                   platform_compile_s);
      });
      bare_stop.store(true);
      rte_eal_wait_lcore(kWorkerLcore);
    } else {
      h.finish(publisher);
    }
    close_loop(loop);
  }
  std::fflush(stdout);
  std::_Exit(0);  // the EAL and its threads need no orderly teardown here
}
