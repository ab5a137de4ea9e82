#include "dataplane/config/mbuf_budget.h"

#include <gtest/gtest.h>

#include <string>

#include "dataplane/config/run_config.h"
#include "tests/dataplane/config/minimal_config.h"

namespace sluice {
namespace {

RunConfig parse(const std::string& extra) {
  absl::StatusOr<RunConfig> c =
      parse_run_config(std::string(test::kMinimalConfig) + extra, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : RunConfig{};
}

TEST(MbufBudget, SumsRingsCachesAndBursts) {
  // 2 PCI ports, 1 worker, 1024 + 1024 descriptors, cache 256, burst 32.
  const MbufBudget b = mbuf_budget(parse(""));
  ASSERT_EQ(b.terms.size(), 4u);  // PCI ports: no dispatch rings
  EXPECT_EQ(b.terms[0].mbufs, 2048u);
  EXPECT_EQ(b.terms[1].mbufs, 2048u);
  EXPECT_EQ(b.terms[2].mbufs, 2u * 384);  // 2 lcores x 1.5 x cache
  EXPECT_EQ(b.terms[3].mbufs, 64u);       // 1 worker x 2 ports x 32
  EXPECT_EQ(b.queues_fill, 4928u);
  EXPECT_EQ(b.fixed, b.queues_fill);
}

TEST(MbufBudget, NeededLeavesAQuarterForHeldFirstFlights) {
  const MbufBudget b = mbuf_budget(parse(""));
  // With the workers holding all they may, the rest of the pool still covers `fixed`...
  const auto left = [](uint64_t m) { return m - held_frames_per_worker(m, 1); };
  EXPECT_GE(left(b.needed), b.fixed);
  EXPECT_LT(left(b.needed - 1), b.fixed);  // ... and no smaller pool does
  EXPECT_EQ(b.needed, 6570u);              // about 4/3 x 4928
  EXPECT_EQ(b.recommended, 8191u);
  EXPECT_EQ(b.held, 65535u / 4);  // held_frames_per_worker at the default 65535 mbufs
}

TEST(MbufBudget, DispatchRingsForVdevPortsWithSeveralWorkers) {
  absl::StatusOr<RunConfig> c = parse_run_config(R"(eal: {pci: false}
ports:
  - {name: in, device: "net_null0"}
  - {name: out, device: "net_null1"}
pairs:
  - {inside: in, outside: out}
lcores:
  workers: [1, 2, 3]
)", "test.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  const MbufBudget b = mbuf_budget(*c);
  ASSERT_EQ(b.terms.size(), 5u);
  EXPECT_EQ(b.terms[4].mbufs, 3u * 2 * kDispatchRingSize);
  EXPECT_EQ(b.fixed, b.queues_fill + 3u * 2 * kDispatchRingSize);
}

TEST(MbufBudget, HeldFramesAreAQuarterOfThePoolAtLeast256) {
  EXPECT_EQ(held_frames_per_worker(65535, 4), 4095u);
  EXPECT_EQ(held_frames_per_worker(1023, 4), 256u);
  EXPECT_EQ(held_frames_per_worker(1 << 20, 0), (1u << 20) / 4);
}

}  // namespace
}  // namespace sluice
