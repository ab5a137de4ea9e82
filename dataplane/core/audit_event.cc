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

std::string_view handoff_outcome_name(HandoffOutcome h) {
  switch (h) {
    case HandoffOutcome::kNone:
      return "none";
    case HandoffOutcome::kHandedOff:
      return "handed_off";
    case HandoffOutcome::kInterceptorAbsent:
      return "fallback_interceptor_absent";
    case HandoffOutcome::kNotAdoptable:
      return "fallback_not_adoptable";
    case HandoffOutcome::kNoBuffer:
      return "fallback_send_failed";
  }
  return "unknown";
}

}  // namespace sluice
