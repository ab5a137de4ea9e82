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

bool parse_verdict(std::string_view name, Verdict& out) {
  for (Verdict v : {Verdict::kPass, Verdict::kIntercept, Verdict::kBlock}) {
    if (verdict_name(v) == name) {
      out = v;
      return true;
    }
  }
  return false;
}

}  // namespace sluice
