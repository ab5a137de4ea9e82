// Real policies for the RCU tests: lists written to a temporary directory and compiled with
// compile_policy(), wrapped so a test sees when the publisher frees a snapshot.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dataplane/core/decision.h"
#include "dataplane/policy/policy_snapshot.h"

namespace sluice::test {

// A directory under the test temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Called with the snapshot's generation when the publisher frees it.
using FreedHook = std::function<void(uint64_t generation)>;

// Generation `g`: rule `gen_<g>` blocks `.gen<g>.example` and `.every.example` (list file
// `<dir>/gen<g>.domains`); everything else passes under the final default `default`.
// The result is a real compiled snapshot; `freed` runs in its destructor.
std::unique_ptr<const PolicySnapshot> compile_generation(const std::string& dir, uint64_t g,
                                                         FreedHook freed = nullptr);

// A TLS flow to `name` from 10.0.0.1 to 192.0.2.1:443.
FlowFacts tls_flow(std::string_view name);

}  // namespace sluice::test
