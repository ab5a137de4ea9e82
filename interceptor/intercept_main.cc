// sluice-intercept: `ca init` makes the school's interception CA; `run` serves the explicit
// proxy and transparent (TPROXY / adopted) connections until SIGINT or SIGTERM. SIGHUP reopens
// the audit file. Counters go to stats.file every stats.interval and to stderr at exit.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "control/atomic_file.h"
#include "interceptor/intercept_app.h"

namespace sluice::intercept {
namespace {

int ca_init(const std::string& dir, const std::string& name) {
  absl::StatusOr<CaInitResult> r = init_school_ca(dir, name);
  if (!r.ok()) {
    std::fprintf(stderr, "sluice-intercept ca init: %s\n", std::string(r.status().message()).c_str());
    return 1;
  }
  std::fputs(deployment_instructions(*r).c_str(), stdout);
  return 0;
}

int fail(const absl::Status& s) {
  std::fprintf(stderr, "sluice-intercept: %s\n", std::string(s.message()).c_str());
  return 1;
}

int run(const std::string& config_path) {
  absl::StatusOr<InterceptConfig> config = load_intercept_config(config_path);
  if (!config.ok()) return fail(config.status());

  // Signals are taken by this thread only (sigtimedwait); every thread started later inherits
  // the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<InterceptApp>> app = InterceptApp::start(*config);
  if (!app.ok()) return fail(app.status());
  std::fprintf(stderr, "sluice-intercept: running with %u threads; explicit %s, transparent %s; policy: %s\n",
               config->threads, config->explicit_listen.empty() ? "off" : config->explicit_listen.c_str(),
               config->transparent_listen.empty() ? "off" : config->transparent_listen.c_str(),
               (*app)->policy_summary().c_str());
  InterceptStats& stats = (*app)->stats();
  auto write_stats = [&] {
    if (config->stats_file.empty()) return;
    absl::Status s = write_file_atomically(config->stats_file, stats.to_json() + "\n");
    if (!s.ok()) std::fprintf(stderr, "sluice-intercept: stats.file: %s\n", std::string(s.message()).c_str());
  };
  write_stats();
  uint64_t since_stats = 0;
  for (;;) {
    timespec one_second{1, 0};
    const int sig = sigtimedwait(&signals, nullptr, &one_second);
    (*app)->audit().flush();
    if (sig == SIGINT || sig == SIGTERM) break;
    if (sig == SIGHUP) (*app)->audit().reopen();
    since_stats += 1'000'000'000ULL;
    if (since_stats >= config->stats_interval_ns) {
      since_stats = 0;
      write_stats();
    }
  }
  (*app)->stop();
  write_stats();
  std::fprintf(stderr, "sluice-intercept: stopped. Counters:\n%s", stats.to_text().c_str());
  return 0;
}

}  // namespace
}  // namespace sluice::intercept

int main(int argc, char** argv) {
  CLI::App app{"sluice-intercept: the school's TLS interception proxy"};
  app.require_subcommand(1);
  CLI::App* ca = app.add_subcommand("ca", "the school's interception CA");
  ca->require_subcommand(1);
  CLI::App* init = ca->add_subcommand("init", "make a CA: DIR/ca.crt and DIR/ca.key (mode 0600)");
  std::string dir, name = "School Trust Interception CA";
  init->add_option("--dir", dir, "directory for ca.crt and ca.key")->required();
  init->add_option("--name", name, "the CA's common name, shown to users in certificate details");
  CLI::App* run = app.add_subcommand("run", "serve the proxy until SIGINT/SIGTERM");
  std::string config;
  run->add_option("--config", config, "the YAML configuration")->required();
  CLI11_PARSE(app, argc, argv);
  if (init->parsed()) return sluice::intercept::ca_init(dir, name);
  return sluice::intercept::run(config);
}
