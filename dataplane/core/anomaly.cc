#include "dataplane/core/anomaly.h"

namespace sluice {

std::string_view anomaly_name(Anomaly a) {
  switch (a) {
#define SLUICE_ANOMALY_NAME(name, str) \
  case Anomaly::name:                  \
    return str;
    SLUICE_ANOMALIES(SLUICE_ANOMALY_NAME)
#undef SLUICE_ANOMALY_NAME
    case Anomaly::kCount:
      break;
  }
  return "unknown";
}

}  // namespace sluice
