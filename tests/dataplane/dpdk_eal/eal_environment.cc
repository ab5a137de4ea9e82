// One EAL for the whole test binary, initialised before the first test: DPDK cannot be
// initialised twice in a process (ctest runs each test in its own process, so each gets one).
//
// Closing a vdev port releases it for good, so every test opens its own devices; they are all
// created here, from the EAL command line, exactly as `sluice run` gets its ports.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/dpdk/eal.h"
#include "tests/dataplane/dpdk_eal/checksum_tap.h"

namespace sluice {
namespace {

// Each device belongs to one test (named beside it).
const char* const kVdevs[] = {
    "net_null0",  "net_null1",  // QueuesFollowTheWorkers
    "net_null2",  "net_null3",  // NullPortsCountWhatPasses
    "net_null4",                // TooFewTxQueuesIsRefusedAndTouchesNothing
    "net_null5",  "net_null6",  // MonitorModeNamesMirrorAndInject
    "net_null8",  "net_null9",  // PortStatusAndStop
    "net_ring0",  "net_ring1",  // PacketsGoOutAndComeBackOnARing
    "net_ring2",                // DestructorClosesThePorts
    // af_packet on loopback with its default single queue pair: too few TX queues for two
    // workers. Never started by the tests, so the loopback interface is left as it was.
    "net_af_packet0,iface=lo",
};

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = no_hardware_eal_args("dpdk_eal_tests", 512);
    for (const char* vdev : kVdevs) {
      args.push_back("--vdev");
      args.push_back(vdev);
    }
    // TapPortChecksL4Checksums: a TAP named per process, as ctest runs the tests side by side.
    args.push_back("--vdev");
    args.push_back(std::string(kChecksumTapDevice) + ",iface=" + checksum_tap_iface());
    absl::Status s = init_eal(args);
    ASSERT_TRUE(s.ok()) << s;
  }
};

[[maybe_unused]] ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment);

}  // namespace
}  // namespace sluice
