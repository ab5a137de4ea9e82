// GET /v1/flows and GET /v1/top/sni: what the management side knows from the audit stream
// (control/live_flows.h, control/top_names.h), filtered by query parameters that are checked
// with a 400 that says what to fix.
#pragma once

#include "control/api/http_server.h"
#include "control/live_flows.h"
#include "control/top_names.h"

namespace sluice {

// `flows` and `names` must outlive the router.
void add_view_endpoints(ApiRouter& router, const LiveFlows& flows, const TopNames& names);

}  // namespace sluice
