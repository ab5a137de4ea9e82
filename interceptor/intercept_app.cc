#include "interceptor/intercept_app.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "interceptor/tls_contexts.h"
#include "interceptor/upstream_sessions.h"
#include "interceptor/verified_chains.h"

namespace sluice::intercept {

namespace {

// getaddrinfo blocks for as long as a slow DNS server takes (seconds): with a couple of threads
// a few slow names would hold up every other client's lookups.
constexpr size_t kResolverThreads = 8;

// Each connection holds two sockets; the usual soft limit of 1024 descriptors would cap
// sluice-intercept near 500 connections, far below limits.max_connections.
void raise_descriptor_limit(uint32_t max_connections) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  const rlim_t want = static_cast<rlim_t>(max_connections) * 2 + 256;
  if (r.rlim_cur >= want) return;
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? want : std::min(want, r.rlim_max);
  setrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < want) {
    std::fprintf(stderr,
                 "sluice-intercept: warning: only %llu file descriptors allowed (hard limit); "
                 "limits.max_connections %u needs about %llu (raise LimitNOFILE / ulimit -Hn)\n",
                 static_cast<unsigned long long>(r.rlim_cur), max_connections,
                 static_cast<unsigned long long>(want));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<InterceptApp>> InterceptApp::start(const InterceptConfig& config) {
  raise_descriptor_limit(config.max_connections);
  std::unique_ptr<InterceptApp> app(new InterceptApp(config));
  const InterceptConfig& c = app->config_;
  absl::StatusOr<SchoolCa> ca = load_school_ca(c.ca_dir);
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::unique_ptr<AuditSink>> audit =
      AuditSink::open(c.audit_file, c.audit_max_bytes, c.audit_keep, app->stats_);
  if (!audit.ok()) return audit.status();
  app->audit_ = std::move(*audit);
  absl::StatusOr<std::unique_ptr<FailureReporter>> reporter = FailureReporter::start(c, app->stats_);
  if (!reporter.ok()) return reporter.status();
  app->reporter_ = std::move(*reporter);
  app->ctx_.reset(new ServerContext{c, app->stats_, *app->audit_, app->reporter_.get()});
  ServerContext& ctx = *app->ctx_;
  absl::StatusOr<std::unique_ptr<CertForger>> forger =
      CertForger::create(std::move(*ca), c.cert_cache_entries, app->stats_);
  if (!forger.ok()) return forger.status();
  ctx.forger = std::move(*forger);
  absl::StatusOr<SslCtxPtr> up = make_upstream_context(c.extra_ca_files);
  if (!up.ok()) return up.status();
  ctx.upstream_ctx = std::move(*up);
  UpstreamSessions::enable(ctx.upstream_ctx.get());
  VerifiedChains::enable(ctx.upstream_ctx.get());
  absl::StatusOr<SslCtxPtr> client = make_client_context();
  if (!client.ok()) return client.status();
  ctx.client_ctx = std::move(*client);
  absl::StatusOr<std::unique_ptr<FlowPolicy>> policy = FlowPolicy::load(c.policy_config);
  if (!policy.ok()) return policy.status();
  ctx.policy = std::move(*policy);
  absl::StatusOr<std::unique_ptr<BypassFollower>> bypass = BypassFollower::start(c, app->stats_);
  if (!bypass.ok()) return bypass.status();
  ctx.bypass = std::move(*bypass);
  absl::StatusOr<std::unique_ptr<UrlRules>> rules = UrlRules::compile(c.url_rules);
  if (!rules.ok()) return rules.status();
  ctx.url_rules = std::move(*rules);
  ctx.resolver = std::make_unique<Resolver>(kResolverThreads);
  absl::StatusOr<std::unique_ptr<InterceptServer>> server = InterceptServer::create(ctx);
  if (!server.ok()) return server.status();
  app->server_ = std::move(*server);
  if (absl::Status s = app->server_->start(); !s.ok()) return s;
  if (!c.handoff_listen.empty()) {
    handoff::ReceiverOptions options;
    const size_t colon = c.handoff_listen.rfind(':');
    options.listen_address = c.handoff_listen.substr(0, colon);
    options.port = static_cast<uint16_t>(std::stoi(c.handoff_listen.substr(colon + 1)));
    options.dataplane_address = c.handoff_dataplane;
    absl::StatusOr<std::unique_ptr<handoff::HandoffReceiver>> receiver =
        handoff::HandoffReceiver::open(options);
    if (!receiver.ok()) {
      return absl::Status(receiver.status().code(),
                          absl::StrCat("handoff.listen ", c.handoff_listen, ": ",
                                       receiver.status().message()));
    }
    app->handoff_ = std::move(*receiver);
    InterceptApp* self = app.get();
    app->handoff_thread_ = std::thread([self] {
      self->handoff_->run(
          self->handoff_stop_,
          [self](int fd, const handoff::Handoff&) { self->server_->adopt_transparent(fd); },
          [self](const absl::Status& error) {
            bump(self->stats_.handoff_errors);
            std::fprintf(stderr, "sluice-intercept: handoff: %s\n",
                         std::string(error.message()).c_str());
          });
    });
  }
  return app;
}

void InterceptApp::stop() {
  // No more adoptions first: a socket adopted after the loops stop would have no owner.
  handoff_stop_ = true;
  if (handoff_thread_.joinable()) handoff_thread_.join();
  handoff_.reset();
  if (server_) server_->stop();
  // The resolver before the loops: a lookup in flight posts its answer to its loop, which must
  // still exist (stopped, it never runs the task).
  if (ctx_) ctx_->resolver.reset();
  server_.reset();
  if (ctx_) ctx_->bypass.reset();
  reporter_.reset();  // delivers what is queued, each within learning.timeout
  if (audit_) audit_->flush();
}

InterceptApp::~InterceptApp() { stop(); }

}  // namespace sluice::intercept
