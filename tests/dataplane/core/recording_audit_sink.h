// An AuditSink for tests: keeps every event, in order, and picks them out by kind.
#pragma once

#include <vector>

#include "dataplane/core/audit_event.h"

namespace sluice::test {

class RecordingAuditSink : public AuditSink {
 public:
  bool publish(const AuditEvent& e) override {
    events.push_back(e);
    return true;
  }
  std::vector<AuditEvent> of(AuditKind kind) const {
    std::vector<AuditEvent> out;
    for (const auto& e : events)
      if (e.kind == kind) out.push_back(e);
    return out;
  }
  std::vector<AuditEvent> events;
};

}  // namespace sluice::test
