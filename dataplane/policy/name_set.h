// A compiled set of name entries (name, .name, *.name) answering "does this server name match
// any entry?" on the packet path: no allocation, no locks, no syscalls, no exceptions.
// Two implementations, chosen by size (see name_set_factory.h for the measurements):
//   HashNameSet     label-suffix walk over an open-addressing hash table;
//   LiteralNameSet  Hyperscan literal mode over the name framed by boundary markers.
#pragma once

#include <cstddef>
#include <string_view>

#include "dataplane/policy/policy_scratch.h"

namespace sluice {

class NameSet {
 public:
  virtual ~NameSet() = default;
  // `name` is normalised (lower case, no trailing dot), at most 255 bytes.
  virtual bool matches(std::string_view name, PolicyScratch& scratch) const = 0;
  // Starts loading what matches(name) will read, and returns without waiting for it: a worker
  // calls it for the names of a whole burst before judging any, so their memory latencies
  // overlap. A hint only; sets whose lookups do not wait on memory leave it empty.
  virtual void prefetch(std::string_view /*name*/) const {}
  // Grows the scratch for this set's needs (Hyperscan). Control path.
  virtual bool prepare_scratch(PolicyScratch& scratch) const = 0;
  // Bytes held by the compiled set (for bytes-per-name figures and status output).
  virtual size_t memory_bytes() const = 0;
  virtual size_t size() const = 0;  // distinct names stored
};

}  // namespace sluice
