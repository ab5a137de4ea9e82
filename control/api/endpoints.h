// The endpoints of the REST-lite API (README, "REST-lite API"). Each is a route on an ApiRouter;
// later features (flows sample, bypass, top SNI, list upload) add theirs beside these.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "control/api/control_state.h"
#include "control/api/http_server.h"

namespace sluice {

struct ApiLimits {
  uint64_t max_json_body = 64 * 1024;
};

// GET /v1/status, GET /v1/stats, GET /metrics, GET /v1/policy, POST /v1/policy/reload.
void add_core_endpoints(ApiRouter& router, const ApiSources& sources, const ApiLimits& limits);

// The bodies, for the handlers and their tests.
std::string render_status(const ApiSources& sources, absl::Time now);
std::string render_stats(const ControlSample& latest, const ControlSample& previous);
std::string render_policy(const ApiSources& sources);
// One reload's outcome, as POST /v1/policy/reload and PUT ...?reload=1 report it (null before
// the first reload).
nlohmann::json reload_json(const ReloadResult& result);
// Prometheus text exposition format 0.0.4.
std::string render_metrics(const ApiSources& sources, absl::Time now);

}  // namespace sluice
