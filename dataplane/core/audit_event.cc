#include "dataplane/core/audit_event.h"

namespace sluice {

std::string_view close_reason_name(CloseReason r) {
  switch (r) {
    case CloseReason::kNone:
      return "none";
    case CloseReason::kFin:
      return "fin";
    case CloseReason::kRst:
      return "rst";
    case CloseReason::kIdle:
      return "idle";
    case CloseReason::kEvicted:
      return "evicted";
    case CloseReason::kShutdown:
      return "shutdown";
    case CloseReason::kReused:
      return "reused";
    case CloseReason::kBlocked:
      return "blocked";
  }
  return "unknown";
}

}  // namespace sluice
