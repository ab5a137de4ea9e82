// Audit events from a worker to the management core through a single-producer,
// single-consumer DPDK ring of fixed-size elements: the worker never blocks or allocates, and a
// full ring is counted by the worker (audit_dropped), never silent.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "dataplane/core/audit_event.h"

struct rte_ring;

namespace sluice {

class AuditRing : public AuditSink {
 public:
  // `capacity` is rounded up to a power of two by DPDK.
  static absl::StatusOr<std::unique_ptr<AuditRing>> create(const std::string& name,
                                                           unsigned capacity);
  ~AuditRing() override;

  bool publish(const AuditEvent& event) override;

  // Worker side: room left, so a shutdown can close flows no faster than the ring drains.
  unsigned free_count() const;

  // Management side: moves up to `max` events into `out`; returns how many.
  unsigned drain(AuditEvent* out, unsigned max);

 private:
  explicit AuditRing(rte_ring* ring) : ring_(ring) {}
  rte_ring* ring_;
};

}  // namespace sluice
