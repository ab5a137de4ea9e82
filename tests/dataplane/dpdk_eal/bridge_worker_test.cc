// The real BridgeWorker, two of them on std::threads, bridging two ports inline with a real
// compiled policy published through the real PolicyPublisher.
//
// The ports are ring ports (rte_eth_from_rings) with two RX and two TX queues each, on rings the
// test owns: the test plays the NIC by enqueueing mbufs on the RX rings (setting mbuf->port as a
// NIC's driver does) and reads what the workers transmit from the TX rings, queue w being worker
// w's. Both ports take the software dispatch path. Each direction of a flow is put on the RX
// queue of the worker that does NOT own it half of the time, so frames cross the dispatch rings.
//
// The flows go through their handshake step by step (each step waits until the workers have
// forwarded the previous one), so the two directions never race each other on the way to the
// owner; within one direction frames keep their order, as they do on one NIC queue.
#include "dataplane/dpdk/bridge_worker.h"

#include <gtest/gtest.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <arpa/inet.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dataplane/core/packet.h"
#include "dataplane/dpdk/flow_dispatch.h"
#include "dataplane/policy/compile_policy.h"
#include "tests/dataplane/core/client_hello_builder.h"
#include "tests/dataplane/core/packet_builder.h"

namespace sluice {
namespace {

using test::build_tcp_frame;
using test::TcpSpec;

constexpr uint16_t kWorkers = 2;
constexpr uint16_t kQueues = 2;     // per port, RX and TX: one each per worker
constexpr unsigned kRingSize = 1024;
constexpr unsigned kPoolSize = 4095;
constexpr int kInside = 0;   // index into ports_: the clients' side
constexpr int kOutside = 1;  // the servers' side

IpAddress ip(const std::string& text) {
  uint8_t b[16];
  if (inet_pton(AF_INET, text.c_str(), b) == 1) return IpAddress::from_v4(b);
  EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), b), 1) << text;
  return IpAddress::from_v6(b);
}

// A compiled policy: rule `block_test` blocks `.blocked.example`; everything else passes.
std::unique_ptr<const PolicySnapshot> blocking_policy() {
  PolicySource source;
  source.generation = 1;
  source.description = "bridge worker test";
  source.lists = {ListSource{"blocked", ListFormat::kDomains, "test:blocked",
                             std::string(".blocked.example\n")}};
  source.rules = {RuleSource{"block_test", "test:1", {"blocked"}, {}, {Verdict::kBlock, true}}};
  absl::StatusOr<std::unique_ptr<const PolicySnapshot>> compiled = compile_policy(source);
  EXPECT_TRUE(compiled.ok()) << compiled.status();
  return compiled.ok() ? *std::move(compiled) : nullptr;
}

// One TCP connection through the bridge: the client behind the inside port, the server behind
// the outside port.
struct TestFlow {
  enum Kind { kPass, kBlock, kPending };  // pending: only part of the hello before the stop
  static constexpr uint32_t kClientIsn = 0x10000000;
  static constexpr uint32_t kServerIsn = 0x7ffffff0;

  Kind kind = kPass;
  std::string sni;
  TcpSpec c;  // client -> server template
  TcpSpec s;  // server -> client template
  Bytes hello;
  std::vector<Bytes> hello_segments;  // as sent, in order
  int client_queue = 0;  // RX queue of the inside port the client's frames arrive on
  int server_queue = 0;  // RX queue of the outside port the server's frames arrive on
  uint16_t owner = 0;    // the worker dispatch_worker_for_frame() names
  uint64_t to_server = 0;  // frames sent in each direction
  uint64_t to_client = 0;

  Endpoint client() const { return {ip(c.frame.src_ip), c.src_port}; }
  Endpoint server() const { return {ip(c.frame.dst_ip), c.dst_port}; }

  Bytes client_frame(uint32_t offset, Bytes payload, uint8_t flags) const {
    TcpSpec t = c;
    t.seq = kClientIsn + 1 + offset;
    t.ack = kServerIsn + 1;
    t.flags = flags;
    t.payload = std::move(payload);
    return build_tcp_frame(t);
  }
  Bytes syn() const {
    TcpSpec t = c;
    t.seq = kClientIsn;
    t.ack = 0;
    t.flags = kTcpSyn;
    t.options.mss = 1460;
    return build_tcp_frame(t);
  }
  Bytes synack() const {
    TcpSpec t = s;
    t.seq = kServerIsn;
    t.ack = kClientIsn + 1;
    t.flags = kTcpSyn | kTcpAck;
    t.options.mss = 1460;
    return build_tcp_frame(t);
  }
  Bytes server_data() const {
    TcpSpec t = s;
    t.seq = kServerIsn + 1;
    t.ack = kClientIsn + 1 + static_cast<uint32_t>(hello.size());
    t.flags = kTcpPsh | kTcpAck;
    t.payload = Bytes(700, 0x16);
    return build_tcp_frame(t);
  }
};

// A frame the workers transmitted.
struct Sent {
  int port = 0;   // kInside / kOutside
  int queue = 0;  // TX queue: the worker that sent it
  Bytes frame;
  ParsedPacket p;
  bool parsed = false;
};

class BridgeWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int instance = 0;
    tag_ = absl::StrCat("bw", instance++);
    pool_ = rte_pktmbuf_pool_create(absl::StrCat(tag_, "_pool").c_str(), kPoolSize, 0, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr) << rte_strerror(rte_errno);
    for (int p = 0; p < 2; ++p) {
      for (int q = 0; q < kQueues; ++q) {
        rx_[p][q] = make_ring(absl::StrCat(tag_, "_rx", p, q));
        tx_[p][q] = make_ring(absl::StrCat(tag_, "_tx", p, q));
        ASSERT_NE(rx_[p][q], nullptr);
        ASSERT_NE(tx_[p][q], nullptr);
      }
      const int id = rte_eth_from_rings(absl::StrCat(tag_, "_port", p).c_str(), rx_[p], kQueues,
                                        tx_[p], kQueues, 0);
      ASSERT_GE(id, 0) << rte_strerror(rte_errno);
      port_[p] = static_cast<uint16_t>(id);
      rte_eth_conf conf{};
      ASSERT_EQ(rte_eth_dev_configure(port_[p], kQueues, kQueues, &conf), 0);
      for (uint16_t q = 0; q < kQueues; ++q) {
        ASSERT_EQ(rte_eth_rx_queue_setup(port_[p], q, 256, 0, nullptr, pool_), 0);
        ASSERT_EQ(rte_eth_tx_queue_setup(port_[p], q, 256, 0, nullptr), 0);
      }
      ASSERT_EQ(rte_eth_dev_start(port_[p]), 0);
      started_.push_back(port_[p]);
    }
    for (uint16_t from = 0; from < kWorkers; ++from)
      for (uint16_t to = 0; to < kWorkers; ++to)
        if (from != to) {
          dispatch_[from][to] =
              rte_ring_create(absl::StrCat(tag_, "_d", from, to).c_str(), 1024, SOCKET_ID_ANY,
                              RING_F_SP_ENQ | RING_F_SC_DEQ);
          ASSERT_NE(dispatch_[from][to], nullptr);
        }

    absl::StatusOr<std::unique_ptr<PolicyPublisher>> publisher = PolicyPublisher::create(kWorkers);
    ASSERT_TRUE(publisher.ok()) << publisher.status();
    publisher_ = *std::move(publisher);
    std::unique_ptr<const PolicySnapshot> policy = blocking_policy();
    ASSERT_NE(policy, nullptr);
    ASSERT_TRUE(publisher_->publish(std::move(policy), Verdict::kPass, "test").ok());

    std::vector<bool> software(RTE_MAX_ETHPORTS, false);
    software[port_[kInside]] = software[port_[kOutside]] = true;
    PortPeers peers;
    peers.mode = RunMode::kInline;
    peers.peer = {{port_[kInside], port_[kOutside]}, {port_[kOutside], port_[kInside]}};
    for (uint16_t w = 0; w < kWorkers; ++w) {
      absl::StatusOr<std::unique_ptr<AuditRing>> ring =
          AuditRing::create(absl::StrCat(tag_, "_audit", w), 4096);
      ASSERT_TRUE(ring.ok()) << ring.status();
      audit_.push_back(*std::move(ring));
      InspectorConfig ic;
      ic.worker_id = w;
      ic.flow_capacity = 1024;
      ic.first_flight_buffers = 64;
      ic.enforcement = EnforcementMode::kInline;
      ic.block_response = BlockResponse::kReset;
      ic.held_frames = 256;
      inspectors_.push_back(std::make_unique<FlowInspector>(ic, *audit_.back()));
      BridgeWorkerSetup setup;
      setup.id = w;
      setup.workers = kWorkers;
      setup.rx = {RxQueueRef{port_[kInside], w}, RxQueueRef{port_[kOutside], w}};
      setup.software_dispatch = software;
      setup.peers = peers;
      setup.idle.enabled = true;  // two CPUs shared with everything else
      setup.idle.empty_polls = 50;
      setup.idle.max_sleep_ns = 200'000;
      for (uint16_t o = 0; o < kWorkers; ++o) {
        setup.dispatch_out.push_back(dispatch_[w][o]);
        setup.dispatch_in.push_back(dispatch_[o][w]);
      }
      setup.inject_pool = pool_;
      workers_.push_back(std::make_unique<BridgeWorker>(setup, *inspectors_.back(),
                                                        *audit_.back(), *publisher_,
                                                        mailboxes_[w]));
    }
    for (uint16_t w = 0; w < kWorkers; ++w) {
      threads_.emplace_back([this, w] {
        workers_[w]->run(stop_);
        returned_[w].store(true);
      });
    }
  }

  void TearDown() override {
    stop_workers();
    for (auto& t : threads_) t.join();
    threads_.clear();
    collect();
    sent_.clear();
    workers_.clear();
    inspectors_.clear();
    audit_.clear();
    publisher_.reset();
    for (uint16_t p : started_) {
      rte_eth_dev_stop(p);
      rte_eth_dev_close(p);
    }
    for (auto& port_rings : rx_)
      for (rte_ring* r : port_rings) free_ring(r);
    for (auto& port_rings : tx_)
      for (rte_ring* r : port_rings) free_ring(r);
    for (auto& row : dispatch_)
      for (rte_ring* r : row) free_ring(r);
    rte_mempool_free(pool_);
  }

  static rte_ring* make_ring(const std::string& name) {
    return rte_ring_create(name.c_str(), kRingSize, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  }
  // Frees whatever mbufs are left on a ring, then the ring.
  static void free_ring(rte_ring* r) {
    if (r == nullptr) return;
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(r);
  }

  // Plays the NIC: the frame arrives on RX queue `queue` of ports_[port].
  void receive(int port, int queue, const Bytes& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    ASSERT_NE(m, nullptr);
    char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
    ASSERT_NE(data, nullptr);
    std::memcpy(data, frame.data(), frame.size());
    // What a NIC's driver fills in. The ring driver does not: its mbufs keep whatever port the
    // producer left (a fresh one from the pool: RTE_MBUF_PORT_INVALID).
    if (driver_sets_port_) m->port = port_[port];
    ASSERT_EQ(rte_ring_enqueue(rx_[port][queue], m), 0);
  }
  void from_client(TestFlow& f, const Bytes& frame) {
    receive(kInside, f.client_queue, frame);
    ++f.to_server;
  }
  void from_server(TestFlow& f, const Bytes& frame) {
    receive(kOutside, f.server_queue, frame);
    ++f.to_client;
  }

  // Moves what the workers transmitted into sent_, and the audit events into events_.
  void collect() {
    for (int p = 0; p < 2; ++p)
      for (int q = 0; q < kQueues; ++q) {
        void* obj;
        while (rte_ring_sc_dequeue(tx_[p][q], &obj) == 0) {
          auto* m = static_cast<rte_mbuf*>(obj);
          Sent s;
          s.port = p;
          s.queue = q;
          s.frame.resize(m->pkt_len);
          const void* d = rte_pktmbuf_read(m, 0, m->pkt_len, s.frame.data());
          if (d != s.frame.data()) std::memcpy(s.frame.data(), d, m->pkt_len);
          rte_pktmbuf_free(m);
          ParseOptions options;
          s.parsed = parse_frame(ByteSpan(s.frame.data(), s.frame.size()), options, s.p).status ==
                     ParseStatus::kOk;
          sent_.push_back(std::move(s));
        }
      }
    AuditEvent batch[64];
    for (size_t w = 0; w < audit_.size(); ++w)
      for (unsigned n; (n = audit_[w]->drain(batch, 64)) > 0;)
        for (unsigned i = 0; i < n; ++i) events_[w].push_back(batch[i]);
    if (publisher_) publisher_->reclaim();
  }

  // Collects until `done` holds, for at most 20 s.
  bool wait_for(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (;;) {
      collect();
      if (done()) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  size_t count_sent(int port, const std::function<bool(const Sent&)>& pred) const {
    size_t n = 0;
    for (const Sent& s : sent_) n += s.port == port && pred(s);
    return n;
  }
  size_t count_events(AuditKind kind) const {
    size_t n = 0;
    for (const auto& [w, list] : events_)
      for (const AuditEvent& e : list) n += e.kind == kind;
    return n;
  }

  void stop_workers() { stop_.store(true); }
  bool all_returned(std::chrono::seconds within) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
      collect();  // the shutdown writes close records no faster than they are drained
      bool all = true;
      for (auto& r : returned_) all &= r.load();
      if (all) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // `n` flows of each kind, with addresses chosen so that both workers own some.
  std::vector<TestFlow> make_flows(int n_pass, int n_block, int n_pending) {
    std::vector<TestFlow> flows;
    int i = 0;
    auto add = [&](TestFlow::Kind kind, int count) {
      for (int k = 0; k < count; ++k, ++i) {
        TestFlow f;
        f.kind = kind;
        f.sni = kind == TestFlow::kBlock ? absl::StrCat("www", i, ".blocked.example")
                                         : absl::StrCat("site", i, ".example");
        const bool v6 = i % 3 == 2;
        for (TcpSpec* t : {&f.c, &f.s}) {
          t->frame.ipv6 = v6;
          t->frame.vlans = i % 4 == 1 ? std::vector<uint16_t>{20} : std::vector<uint16_t>{};
          t->window = 64000;
        }
        f.c.frame.src_ip = f.s.frame.dst_ip =
            v6 ? absl::StrCat("2001:db8:1::", i + 10) : absl::StrCat("10.1.", i, ".", 10 + i);
        f.c.frame.dst_ip = f.s.frame.src_ip =
            v6 ? absl::StrCat("2001:db8:2::", 3 * i + 7) : absl::StrCat("203.0.113.", 3 * i + 7);
        f.c.frame.src_mac = f.s.frame.dst_mac = {0x02, 0xc1, 0, 0, 0, static_cast<uint8_t>(i)};
        f.c.frame.dst_mac = f.s.frame.src_mac = {0x02, 0x5e, 0, 0, 0, static_cast<uint8_t>(i)};
        f.c.src_port = f.s.dst_port = static_cast<uint16_t>(41000 + i);
        f.c.dst_port = f.s.src_port = 443;
        HelloSpec spec;
        spec.sni = f.sni;
        spec.alpn = {"h2", "http/1.1"};
        f.hello = build_client_hello_records(spec);
        const size_t a = f.hello.size() / 3, b = 2 * f.hello.size() / 3;
        f.hello_segments = {
            f.client_frame(0, Bytes(f.hello.begin(), f.hello.begin() + a), kTcpAck),
            f.client_frame(a, Bytes(f.hello.begin() + a, f.hello.begin() + b), kTcpAck),
            f.client_frame(b, Bytes(f.hello.begin() + b, f.hello.end()), kTcpPsh | kTcpAck)};
        const Bytes syn = f.syn();
        f.owner = dispatch_worker_for_frame(ByteSpan(syn.data(), syn.size()), kWorkers, 0);
        // Half the flows arrive on the queue of the worker that does not own them (dispatch
        // ring), in one direction or the other.
        f.client_queue = i % 2;
        f.server_queue = (i / 2) % 2;
        flows.push_back(std::move(f));
      }
    };
    add(TestFlow::kPass, n_pass);
    add(TestFlow::kBlock, n_block);
    add(TestFlow::kPending, n_pending);
    return flows;
  }

  // Frames that belong to `f`, from the client (to_server) or from the server.
  static bool of_flow(const Sent& s, const TestFlow& f, bool to_server) {
    if (!s.parsed) return false;
    const Endpoint src{s.p.src, s.p.src_port}, dst{s.p.dst, s.p.dst_port};
    return to_server ? (src == f.client() && dst == f.server())
                     : (src == f.server() && dst == f.client());
  }
  static bool is_reset(const Sent& s) { return s.parsed && (s.p.tcp_flags & kTcpRst); }

  std::string tag_;
  rte_mempool* pool_ = nullptr;
  rte_ring* rx_[2][kQueues] = {};
  rte_ring* tx_[2][kQueues] = {};
  uint16_t port_[2] = {};
  std::vector<uint16_t> started_;
  rte_ring* dispatch_[kWorkers][kWorkers] = {};
  std::unique_ptr<PolicyPublisher> publisher_;
  std::vector<std::unique_ptr<AuditRing>> audit_;
  StatsMailbox mailboxes_[kWorkers];
  std::vector<std::unique_ptr<FlowInspector>> inspectors_;
  std::vector<std::unique_ptr<BridgeWorker>> workers_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> returned_[kWorkers] = {};
  std::vector<std::thread> threads_;

  bool driver_sets_port_ = true;
  std::vector<Sent> sent_;
  std::map<size_t, std::vector<AuditEvent>> events_;  // by worker
};

TEST_F(BridgeWorkerTest, FlowsMeetOnOneWorkerPassBlockAndCloseOnStop) {
  std::vector<TestFlow> flows = make_flows(10, 4, 4);
  std::set<uint16_t> owners;
  for (const TestFlow& f : flows) owners.insert(f.owner);
  ASSERT_EQ(owners.size(), 2u) << "the addresses must give both workers flows";
  const auto n = flows.size();
  size_t n_pass = 0, n_block = 0, n_pending = 0;
  for (const TestFlow& f : flows)
    (f.kind == TestFlow::kPass ? n_pass : f.kind == TestFlow::kBlock ? n_block : n_pending)++;

  // Handshakes, one step at a time: each step waits until every frame of the previous one went
  // out of the peer port.
  const auto with_flag = [](uint8_t flags) {
    return [flags](const Sent& s) { return s.parsed && s.p.tcp_flags == flags; };
  };
  for (TestFlow& f : flows) from_client(f, f.syn());
  ASSERT_TRUE(wait_for([&] { return count_sent(kOutside, with_flag(kTcpSyn)) == n; }))
      << count_sent(kOutside, with_flag(kTcpSyn)) << " of " << n << " SYNs forwarded";
  for (TestFlow& f : flows) from_server(f, f.synack());
  ASSERT_TRUE(
      wait_for([&] { return count_sent(kInside, with_flag(kTcpSyn | kTcpAck)) == n; }));
  for (TestFlow& f : flows) from_client(f, f.client_frame(0, {}, kTcpAck));
  ASSERT_TRUE(wait_for([&] { return count_sent(kOutside, with_flag(kTcpAck)) == n; }));

  // The first flights: whole for passed and blocked flows, a third for pending ones.
  for (TestFlow& f : flows) {
    const size_t segments = f.kind == TestFlow::kPending ? 1 : f.hello_segments.size();
    for (size_t k = 0; k < segments; ++k) from_client(f, f.hello_segments[k]);
  }
  const auto verdicts_and_resets = [&] {
    return count_events(AuditKind::kVerdict) == n_pass + n_block &&
           count_sent(kOutside, is_reset) == n_block && count_sent(kInside, is_reset) == n_block &&
           count_sent(kOutside, [](const Sent& s) { return s.parsed && !s.p.payload.empty(); }) ==
               3 * n_pass;
  };
  ASSERT_TRUE(wait_for(verdicts_and_resets))
      << count_events(AuditKind::kVerdict) << " verdicts, " << count_sent(kOutside, is_reset)
      << "/" << count_sent(kInside, is_reset) << " resets out/in";
  // The servers of passed flows answer.
  for (TestFlow& f : flows)
    if (f.kind == TestFlow::kPass) from_server(f, f.server_data());
  ASSERT_TRUE(wait_for([&] {
    return count_sent(kInside, [](const Sent& s) { return s.parsed && !s.p.payload.empty(); }) ==
           n_pass;
  }));

  // Pending first flights are held: not one of their segments went out.
  for (const TestFlow& f : flows) {
    if (f.kind != TestFlow::kPending) continue;
    EXPECT_EQ(count_sent(kOutside,
                         [&](const Sent& s) { return of_flow(s, f, true) && !s.p.payload.empty(); }),
              0u)
        << f.sni << ": held until judged";
  }
  size_t held = 0;
  for (const auto& i : inspectors_) held += i->held_frames();
  (void)held;  // read across threads only as a hint; checked exactly after the stop

  // (d) Stop: run() returns on both workers, the pending flights are judged incomplete and
  // released (the policy passes incomplete flights), every flow is closed.
  stop_workers();
  ASSERT_TRUE(all_returned(std::chrono::seconds(20))) << "run() did not return";
  for (auto& t : threads_) t.join();
  threads_.clear();
  collect();
  for (const auto& i : inspectors_) {
    EXPECT_EQ(i->held_frames(), 0u);
    EXPECT_EQ(i->active_flows(), 0u);
  }

  // Every flow: its verdict and close events on exactly one worker, the one the dispatcher
  // names; both directions' packets counted there; everything it sent from that worker's queue.
  std::map<uint16_t, int> flows_per_worker;
  for (const TestFlow& f : flows) {
    SCOPED_TRACE(f.sni);
    std::set<size_t> seen_on;
    std::vector<AuditEvent> verdicts, closes;
    for (const auto& [w, list] : events_)
      for (const AuditEvent& e : list)
        if (e.client == f.client() && e.server == f.server()) {
          seen_on.insert(w);
          EXPECT_EQ(e.worker, w);
          (e.kind == AuditKind::kVerdict ? verdicts : closes).push_back(e);
        }
    ASSERT_EQ(seen_on.size(), 1u) << "the flow's events are on one worker";
    const size_t w = *seen_on.begin();
    EXPECT_EQ(w, f.owner);
    ++flows_per_worker[static_cast<uint16_t>(w)];
    ASSERT_EQ(verdicts.size(), 1u);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(verdicts[0].flow_id, closes[0].flow_id);
    EXPECT_EQ(closes[0].flow_id >> 48, w);
    EXPECT_EQ(closes[0].packets_to_server, f.to_server) << "client's frames counted on the owner";
    EXPECT_EQ(closes[0].packets_to_client, f.to_client) << "server's frames counted on the owner";
    for (const Sent& s : sent_)
      if (of_flow(s, f, true) || of_flow(s, f, false)) {
        EXPECT_EQ(s.queue, static_cast<int>(w)) << "sent from the owner's TX queue";
      }

    switch (f.kind) {
      case TestFlow::kPass: {
        EXPECT_EQ(verdicts[0].verdict, Verdict::kPass);
        EXPECT_EQ(closes[0].close_reason, CloseReason::kShutdown);
        // (b) The hello's segments left the outside port unchanged, in order.
        std::vector<Bytes> out;
        for (const Sent& s : sent_)
          if (s.port == kOutside && of_flow(s, f, true) && !s.p.payload.empty())
            out.push_back(s.frame);
        EXPECT_EQ(out, f.hello_segments);
        EXPECT_EQ(count_sent(kInside, [&](const Sent& s) { return of_flow(s, f, false); }), 2u)
            << "SYN-ACK and the server's data";
        EXPECT_EQ(count_sent(kInside, is_reset) + count_sent(kOutside, is_reset), 2 * n_block);
        break;
      }
      case TestFlow::kBlock: {
        EXPECT_EQ(verdicts[0].verdict, Verdict::kBlock);
        EXPECT_EQ(verdicts[0].rule_view(), "block_test");
        // (c) Not one byte of the hello reached the server's side ...
        EXPECT_EQ(count_sent(kOutside,
                             [&](const Sent& s) { return of_flow(s, f, true) && !s.p.payload.empty(); }),
                  0u);
        // ... and each end got one reset, as if from the other.
        std::vector<const Sent*> to_server, to_client;
        for (const Sent& s : sent_) {
          if (s.port == kOutside && of_flow(s, f, true) && is_reset(s)) to_server.push_back(&s);
          if (s.port == kInside && of_flow(s, f, false) && is_reset(s)) to_client.push_back(&s);
          EXPECT_FALSE(s.port == kInside && of_flow(s, f, true)) << "nothing of the client's goes back";
          EXPECT_FALSE(s.port == kOutside && of_flow(s, f, false) && !is_reset(s));
        }
        ASSERT_EQ(to_server.size(), 1u);
        ASSERT_EQ(to_client.size(), 1u);
        EXPECT_EQ(check_l4_checksum(to_server[0]->p), ChecksumState::kValid);
        EXPECT_EQ(check_l4_checksum(to_client[0]->p), ChecksumState::kValid);
        EXPECT_EQ(to_server[0]->p.seq, TestFlow::kClientIsn + 1) << "in the server's window";
        EXPECT_EQ(to_client[0]->p.seq, TestFlow::kServerIsn + 1) << "in the client's window";
        EXPECT_EQ(to_client[0]->p.ip_version, f.c.frame.ipv6 ? 6 : 4);
        EXPECT_EQ(to_client[0]->p.vlan_count, f.c.frame.vlans.size());
        break;
      }
      case TestFlow::kPending: {
        // Released at the stop, unchanged: the only hello segment it sent.
        EXPECT_EQ(verdicts[0].verdict, Verdict::kPass);
        EXPECT_EQ(closes[0].close_reason, CloseReason::kShutdown);
        std::vector<Bytes> out;
        for (const Sent& s : sent_)
          if (s.port == kOutside && of_flow(s, f, true) && !s.p.payload.empty())
            out.push_back(s.frame);
        EXPECT_EQ(out, std::vector<Bytes>{f.hello_segments[0]});
        break;
      }
    }
  }
  EXPECT_EQ(flows_per_worker.size(), 2u);
  EXPECT_EQ(count_events(AuditKind::kClose), n);
  // Both workers handed frames to the other through the dispatch rings.
  for (const auto& i : inspectors_) EXPECT_GT(i->stats().dispatched, 0u);
  for (const auto& i : inspectors_) EXPECT_EQ(i->stats().dispatch_dropped, 0u);

  // Nothing leaked: every mbuf the test put in, and every reset, is back in the pool.
  sent_.clear();
  for (int p = 0; p < 2; ++p)
    for (int q = 0; q < kQueues; ++q) EXPECT_EQ(rte_ring_count(rx_[p][q]), 0u);
  for (uint16_t a = 0; a < kWorkers; ++a)
    for (uint16_t b = 0; b < kWorkers; ++b)
      if (dispatch_[a][b]) {
        EXPECT_EQ(rte_ring_count(dispatch_[a][b]), 0u);
      }
  EXPECT_EQ(rte_mempool_avail_count(pool_), kPoolSize);
}

// KNOWN GAP, disabled until BridgeWorker is fixed: the worker decides where a frame leaves (and
// where a reset for its flow goes) from mbuf->port, which the driver is trusted to fill in. The
// ring driver (net_ring vdevs and rte_eth_from_rings ports, which ethdev_ports.h lists among the
// software-dispatch vdevs) never sets it: out_port() then finds no peer and send() frees the
// frame, so a bridge of ring ports forwards nothing and counts no drop. The worker knows which
// port it polled (RxQueueRef::port_id in poll_once()); setting m->port from it would close this.
// Observed: the workers receive all 4 SYNs, 0 leave the outside port, tx_packets and tx_dropped
// stay 0 (the frames vanish uncounted).
TEST_F(BridgeWorkerTest, FramesAreBridgedEvenIfTheDriverLeavesMbufPortUnset) {
  driver_sets_port_ = false;
  std::vector<TestFlow> flows = make_flows(4, 0, 0);
  for (TestFlow& f : flows) from_client(f, f.syn());
  const auto syns_out = [&] {
    return count_sent(kOutside, [](const Sent& s) { return s.parsed && s.p.tcp_flags == kTcpSyn; });
  };
  EXPECT_TRUE(wait_for([&] { return syns_out() == flows.size(); }))
      << syns_out() << " of " << flows.size() << " SYNs left the outside port";
  stop_workers();
  ASSERT_TRUE(all_returned(std::chrono::seconds(20)));
  for (auto& t : threads_) t.join();
  threads_.clear();
  uint64_t rx = 0, tx = 0, tx_dropped = 0;
  for (const auto& i : inspectors_) {
    rx += i->stats().rx_packets;
    tx += i->stats().tx_packets;
    tx_dropped += i->stats().tx_dropped;
  }
  EXPECT_EQ(rx, flows.size()) << "the workers did receive them";
  EXPECT_EQ(tx, flows.size()) << "but sent " << tx << " and counted " << tx_dropped
                              << " TX drops";
}

}  // namespace
}  // namespace sluice
