// Where sluice-intercept reaches the appliance's control plane (`learning.api`): one target for
// both directions of learning — the reports of refused certificates it sends, and the bypass
// table it follows for the flows it decides itself.
#pragma once

#include "absl/status/statusor.h"
#include "ctl/api_client.h"
#include "interceptor/intercept_config.h"

namespace sluice::intercept {

// The API target of `learning.api` (with the bearer token read from `learning.token_file` and
// `learning.timeout` per request). NotFound when the token file cannot be read. Only meaningful
// when learning.api is set.
absl::StatusOr<ctl::ApiTarget> learning_api_target(const InterceptConfig& config);

}  // namespace sluice::intercept
