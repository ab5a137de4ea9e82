// The net_tap port of EthdevPorts.TapPortChecksL4Checksums, created by the EAL environment.
// Its kernel interface is named per process: ctest runs the tests of this binary side by side,
// each in a process of its own with an EAL of its own.
#pragma once

#include <unistd.h>

#include <string>

namespace sluice {

inline constexpr const char* kChecksumTapDevice = "net_tap0";

inline std::string checksum_tap_iface() { return "slck" + std::to_string(getpid()); }

}  // namespace sluice
