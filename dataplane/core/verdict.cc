#include "dataplane/core/verdict.h"

namespace sluice {

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kIntercept:
      return "intercept";
    case Verdict::kBlock:
      return "block";
  }
  return "unknown";
}

}  // namespace sluice
