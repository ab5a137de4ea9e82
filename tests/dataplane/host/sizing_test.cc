#include "dataplane/host/sizing.h"

#include <gtest/gtest.h>

#include "dataplane/core/flow.h"
#include "tests/dataplane/host/host_test_data.h"

namespace sluice {
namespace {

TEST(Sizing, MbufsCoverRingsCachesBurstsAndHeldFirstFlights) {
  const RunConfig c = testing::appliance_config();
  const Sizing s = compute_sizing(c, {});
  // 2 ports x 2 queues x (1024 RX + 1024 TX), 3 lcores x 384 cached, 2 x 2 x 32 in hand.
  EXPECT_EQ(s.mbufs.fixed, 4096u + 4096u + 1152u + 128u);
  // Held first flights take up to a quarter of the pool: the smallest m with
  // m - 2 x held_frames_per_worker(m, 2) >= 9472.
  EXPECT_EQ(s.mbufs.needed, 12628u);
  EXPECT_EQ(s.mbufs.recommended, 16383u);
  EXPECT_EQ(s.mbufs.held, 2u * held_frames_per_worker(16383, 2));
  EXPECT_GE(s.mbufs.needed - 2 * held_frames_per_worker(12628, 2), s.mbufs.fixed);
  EXPECT_LT(12627 - 2 * held_frames_per_worker(12627, 2), s.mbufs.fixed);
}

TEST(Sizing, SoftwareDispatchRingsCountForVdevPorts) {
  RunConfig c = testing::appliance_config();
  const uint64_t pci = compute_sizing(c, {}).mbufs.fixed;
  for (PortConfig& p : c.ports) p.kind = PortKind::kVdev;
  EXPECT_EQ(compute_sizing(c, {}).mbufs.fixed, pci + 2 * 1 * 4096);
}

TEST(Sizing, MemoryFollowsTheRealStructures) {
  const RunConfig c = testing::appliance_config();
  SizingInputs in;
  in.policy_names = 1'000'000;
  const Sizing s = compute_sizing(c, in);
  ASSERT_FALSE(s.ram_terms.empty());
  EXPECT_EQ(s.ram_terms[0].amount, 2 * (65536 * sizeof(Flow) + 131072 * 4));
  EXPECT_EQ(s.ram_terms.back().amount, 2 * 1'000'000 * kPolicyBytesPerName);
  // The packet pool dominates hugepage memory: mbufs x a whole mbuf (header + data room).
  EXPECT_GT(s.mbuf_object_bytes, 128u + 2176u);
  EXPECT_EQ(s.huge_terms[0].amount, 16383 * s.mbuf_object_bytes);
  EXPECT_EQ(s.huge_bytes_total, s.huge_bytes_per_socket);
  in.pools = 2;
  EXPECT_EQ(compute_sizing(c, in).huge_bytes_total, 2 * s.huge_bytes_per_socket);
}

TEST(Sizing, SocketMemReservesAtLeastThat) {
  RunConfig c = testing::appliance_config();
  const Sizing plain = compute_sizing(c, {});
  c.eal.extra_args = {"--socket-mem=2048,1024"};
  const Sizing s = compute_sizing(c, {});
  EXPECT_EQ(s.socket_mem_bytes, (std::vector<uint64_t>{2048ull << 20, 1024ull << 20}));
  EXPECT_EQ(s.huge_bytes_per_socket, std::max<uint64_t>(plain.huge_bytes_per_socket, 2048ull << 20));
  EXPECT_EQ(s.huge_bytes_pools, plain.huge_bytes_pools);  // what the pools and rings take
  EXPECT_EQ(s.huge_bytes_total, std::max<uint64_t>(plain.huge_bytes_total, 3072ull << 20));
  c.eal.extra_args = {"--socket-mem", "64"};
  EXPECT_EQ(compute_sizing(c, {}).huge_bytes_per_socket, plain.huge_bytes_per_socket);
}

TEST(Sizing, SyslogBuffersAndListUploadsAreOrdinaryMemory) {
  const RunConfig plain_config = testing::appliance_config();
  const Sizing plain = compute_sizing(plain_config, {});
  const RunConfig c = testing::appliance_config_with(
      "mempool:\n",
      "audit:\n"
      "  sinks:\n"
      "    - {type: syslog, address: \"192.0.2.50:514\", buffer_size: 256MiB}\n"
      "    - {type: syslog, address: \"192.0.2.51:514\"}\n"
      "api:\n"
      "  unix_socket: {path: /tmp/sluice-sizing-test.sock}\n"
      "  max_list_body: 64MiB\n"
      "mempool:\n");
  const Sizing s = compute_sizing(c, {});
  // A sink holds up to twice its buffer (control/syslog_export.cc compacts at half dead); the
  // default buffer is 64 MiB. One list upload is held whole.
  EXPECT_EQ(s.ram_bytes, plain.ram_bytes + 2 * (256ull << 20) + 2 * (64ull << 20) + (64ull << 20));
  ASSERT_EQ(s.ram_terms.size(), plain.ram_terms.size() + 3);
  const std::vector<SizingTerm> added(s.ram_terms.end() - 3, s.ram_terms.end());
  EXPECT_NE(added[0].what.find("syslog sink 192.0.2.50:514: up to 2 x buffer_size (268435456 "
                               "bytes)"),
            std::string::npos) << added[0].what;
  EXPECT_EQ(added[0].key, "audit.sinks[].buffer_size");
  EXPECT_EQ(added[1].amount, 2 * (64ull << 20));
  EXPECT_NE(added[2].what.find("api.max_list_body (67108864 bytes)"), std::string::npos);
  EXPECT_EQ(added[2].amount, 64ull << 20);
  // Not hugepages.
  EXPECT_EQ(s.huge_bytes_total, plain.huge_bytes_total);
  // The largest term is what a memory gap tells to lower.
  EXPECT_EQ(s.largest_ram_term()->key, "audit.sinks[].buffer_size");
}

TEST(Sizing, CountsPolicyListEntries) {
  const RunConfig c = testing::appliance_config();
  SizingInputs in;
  ASSERT_TRUE(count_policy_inputs(c, in).ok());
  EXPECT_EQ(in.policy_names, 3u);  // comments and blank lines are not entries
  EXPECT_EQ(in.policy_cidrs, 1u);
  EXPECT_FALSE(count_list_entries(testing::host_data("lists/missing.txt")).ok());
  // A missing list is named, and the others are still counted.
  RunConfig broken = c;
  broken.policy.rules[0].files.push_back(testing::host_data("lists/missing.txt"));
  SizingInputs partial;
  const absl::Status s = count_policy_inputs(broken, partial);
  EXPECT_NE(s.message().find("lists/missing.txt"), std::string::npos) << s;
  EXPECT_EQ(partial.policy_names, 3u);
  EXPECT_EQ(partial.policy_cidrs, 1u);
}

TEST(Sizing, FlowCapacityForTheExpectedFlowsIsAShareWithHeadroom) {
  EXPECT_EQ(required_flow_capacity(1'000'000, 4), 313'344u);  // 250 000 + 25% = 312 500, to 1024s
  EXPECT_EQ(required_flow_capacity(100, 2), 1024u);           // never below the config's minimum
  EXPECT_EQ(required_flow_capacity(2'000'000, 1), 2'500'608u);
}

}  // namespace
}  // namespace sluice
