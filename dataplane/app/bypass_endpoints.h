// GET/POST /v1/bypass and DELETE /v1/bypass/ID: the bypass table through the API. Every change
// is saved to the state file and published to the workers before the answer (BypassControl).
// POST /v1/bypass/failures: sluice-intercept's reports of clients that reject its certificate,
// from which entries are learned (control/bypass_learner.h).
#pragma once

#include <cstdint>

#include "control/api/http_server.h"
#include "dataplane/app/bypass_control.h"

namespace sluice {

// `bypass` must outlive the router. `max_body`: the JSON body cap of POST.
void add_bypass_endpoints(ApiRouter& router, BypassControl& bypass, uint64_t max_body);

}  // namespace sluice
