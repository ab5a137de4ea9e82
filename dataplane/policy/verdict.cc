#include "dataplane/policy/verdict.h"

namespace sluice {

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kBlock:
      return "block";
    case Verdict::kIntercept:
      return "intercept";
  }
  return "unknown";
}

}  // namespace sluice
