// The smallest valid `sluice run` configuration (one inline pair, one worker), shared by the
// config tests: each appends or replaces what it is about.
#pragma once

namespace sluice::test {

inline constexpr const char* kMinimalConfig = R"(ports:
  - name: in
    device: "0000:3b:00.0"
  - name: out
    device: "0000:3b:00.1"
pairs:
  - inside: in
    outside: out
lcores:
  workers: [1]
)";

}  // namespace sluice::test
