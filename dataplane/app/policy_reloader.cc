#include "dataplane/app/policy_reloader.h"

#include "absl/strings/str_cat.h"
#include "dataplane/config/policy_source.h"

namespace sluice {

namespace {
constexpr size_t kRecentResults = 64;  // far more than can wait at once (max_connections)
}

PolicyReloader::PolicyReloader(std::string config_path, PolicyPublisher& publisher,
                               uint64_t loads_so_far, Log log)
    : config_path_(std::move(config_path)),
      publisher_(publisher),
      log_(std::move(log)),
      loads_(loads_so_far) {
  thread_ = std::thread([this] { run(); });
}

PolicyReloader::~PolicyReloader() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

absl::StatusOr<uint64_t> PolicyReloader::start(std::string origin) {
  absl::MutexLock lock(&mu_);
  if (stop_) return absl::UnavailableError("sluice is stopping; no reload now");
  if (state_.building || requested_)
    return absl::UnavailableError(absl::StrCat(
        "reload ", state_.building_number, " (", state_.building_origin, ", started ",
        absl::FormatTime("%H:%M:%S", state_.building_since, absl::UTCTimeZone()),
        " UTC) is still building; retry when it has finished (GET /v1/policy shows it)"));
  state_.building = true;
  state_.building_number = ++requests_;
  state_.building_origin = std::move(origin);
  state_.building_since = absl::Now();
  requested_ = true;
  last_started_.store(state_.building_number, std::memory_order_release);
  return state_.building_number;
}

ReloadResult PolicyReloader::wait(uint64_t number) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, number]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !recent_.empty() && recent_.back().number >= number;
  };
  mu_.Await(absl::Condition(&done));
  for (const ReloadResult& r : recent_)
    if (r.number == number) return r;
  ReloadResult lost;
  lost.number = number;
  lost.message = "the outcome of this reload is no longer kept (too many reloads since)";
  return lost;
}

absl::StatusOr<ReloadResult> PolicyReloader::reload(std::string origin) {
  absl::StatusOr<uint64_t> number = start(std::move(origin));
  if (!number.ok()) return number.status();
  return wait(*number);
}

ReloadState PolicyReloader::state() const {
  absl::MutexLock lock(&mu_);
  return state_;
}

void PolicyReloader::run() {
  for (;;) {
    ReloadResult r;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_ || requested_; };
      mu_.Await(absl::Condition(&wake));
      if (!requested_) return;  // stopping, nothing asked
      requested_ = false;
      r.number = state_.building_number;
      r.origin = state_.building_origin;
      r.started = state_.building_since;
    }
    ++loads_;
    absl::StatusOr<ConfiguredPolicy> policy = load_configured_policy(config_path_, loads_);
    absl::Status s = policy.ok()
                         ? publisher_.publish(std::move(policy->snapshot),
                                              policy->intercept_fallback,
                                              absl::StrCat(config_path_, " (load ", loads_, ")"))
                         : policy.status();
    r.ok = s.ok();
    r.message = std::string(s.message());
    r.generation = publisher_.generation();
    r.finished = absl::Now();
    if (r.ok) {
      log_(absl::StrCat("policy reloaded (generation ", r.generation, ", ", r.origin, ", ",
                        absl::FormatDuration(absl::Trunc(r.finished - r.started, absl::Milliseconds(1))),
                        ")"));
    } else {
      log_(absl::StrCat("policy reload refused, the running policy stays: ", r.message));
    }
    absl::MutexLock lock(&mu_);
    state_.building = false;
    state_.last = r;
    ++(r.ok ? state_.succeeded : state_.failed);
    recent_.push_back(std::move(r));
    if (recent_.size() > kRecentResults) recent_.pop_front();
  }
}

}  // namespace sluice
