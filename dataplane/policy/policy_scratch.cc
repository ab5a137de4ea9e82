#include "dataplane/policy/policy_scratch.h"

namespace sluice {

PolicyScratch::~PolicyScratch() {
  if (hs_ != nullptr) hs_free_scratch(hs_);
}

}  // namespace sluice
