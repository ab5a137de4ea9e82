// What every loop thread of sluice-intercept shares: configuration, counters, the CA's forger,
// the two TLS contexts, the policy, URL rules, the audit sink, the learning reporter, the
// followed bypass table and the resolver. All of it is immutable or internally synchronised.
#pragma once

#include <atomic>
#include <memory>

#include "interceptor/audit_sink.h"
#include "interceptor/bypass_follower.h"
#include "interceptor/cert_forger.h"
#include "interceptor/failure_reporter.h"
#include "interceptor/flow_policy.h"
#include "interceptor/intercept_config.h"
#include "interceptor/intercept_stats.h"
#include "interceptor/openssl_handles.h"
#include "interceptor/resolver.h"
#include "interceptor/url_rules.h"

namespace sluice::intercept {

struct ServerContext {
  const InterceptConfig& config;
  InterceptStats& stats;
  AuditSink& audit;
  FailureReporter* reporter;  // null: learning not configured
  std::unique_ptr<CertForger> forger;
  SslCtxPtr upstream_ctx;
  SslCtxPtr client_ctx;
  std::unique_ptr<FlowPolicy> policy;
  std::unique_ptr<UrlRules> url_rules;
  std::unique_ptr<Resolver> resolver;
  std::unique_ptr<BypassFollower> bypass;  // null: bypass entries not followed
  std::atomic<uint32_t> active{0};  // connections open, against limits.max_connections
};

uint64_t monotonic_ns();

}  // namespace sluice::intercept
