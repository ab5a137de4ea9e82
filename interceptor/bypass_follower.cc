#include "interceptor/bypass_follower.h"

#include <cstdio>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/bypass_store.h"
#include "interceptor/learning_api.h"

namespace sluice::intercept {

absl::StatusOr<std::unique_ptr<const BypassSet>> bypass_set_from_api(std::string_view body,
                                                                     absl::Time now) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("entries") || !j["entries"].is_array())
    return absl::InvalidArgumentError("GET /v1/bypass: not an {\"entries\": [...]} object");
  std::vector<BypassEntry> entries;
  entries.reserve(j["entries"].size());
  for (size_t i = 0; i < j["entries"].size(); ++i) {
    absl::StatusOr<BypassRecord> r = bypass_record_from_json(j["entries"][i], now);
    if (!r.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("GET /v1/bypass: entry ", i + 1, ": ", r.status().message()));
    if (r->expires && *r->expires <= now) continue;
    entries.push_back(bypass_entry(*r));
  }
  return BypassSet::build(entries);
}

absl::StatusOr<std::unique_ptr<BypassFollower>> BypassFollower::start(const InterceptConfig& config,
                                                                     InterceptStats& stats) {
  if (config.learning_api.empty() || config.learning_bypass_refresh_ns == 0)
    return std::unique_ptr<BypassFollower>();
  absl::StatusOr<ctl::ApiTarget> target = learning_api_target(config);
  if (!target.ok()) return target.status();
  std::unique_ptr<BypassFollower> f(
      new BypassFollower(stats, std::move(*target), config.learning_bypass_refresh_ns));
  f->thread_ = std::thread([p = f.get()] { p->run(); });
  return f;
}

BypassFollower::BypassFollower(InterceptStats& stats, ctl::ApiTarget target, uint64_t refresh_ns)
    : stats_(stats),
      target_(std::move(target)),
      refresh_ns_(refresh_ns),
      current_(BypassSet::build({})) {}

BypassFollower::~BypassFollower() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const BypassSet> BypassFollower::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

void BypassFollower::run() {
  const ctl::ApiClient client(target_);
  for (;;) {
    refresh(client);
    std::unique_lock<std::mutex> lock(mutex_);
    if (wake_.wait_for(lock, std::chrono::nanoseconds(refresh_ns_), [this] { return stopping_; }))
      return;
  }
}

void BypassFollower::refresh(const ctl::ApiClient& client) {
  absl::StatusOr<ctl::ApiReply> reply = client.call("GET", "/v1/bypass");
  absl::StatusOr<std::unique_ptr<const BypassSet>> set =
      !reply.ok() ? absl::StatusOr<std::unique_ptr<const BypassSet>>(reply.status())
      : reply->status != 200
          ? absl::UnavailableError(absl::StrCat("GET /v1/bypass: HTTP ", reply->status, ": ",
                                                ctl::error_message(*reply)))
          : bypass_set_from_api(reply->body, absl::Now());
  if (!set.ok()) {
    bump(stats_.bypass_refresh_failures);
    if (!failing_) {
      std::fprintf(stderr,
                   "sluice-intercept: cannot read the bypass table from %s (%s); the last one "
                   "read stays in use\n",
                   client.where().c_str(), std::string(set.status().message()).c_str());
    }
    failing_ = true;
    return;
  }
  if (failing_) std::fprintf(stderr, "sluice-intercept: the bypass table is readable again\n");
  failing_ = false;
  bump(stats_.bypass_refreshes);
  std::shared_ptr<const BypassSet> next(std::move(*set));
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = std::move(next);
}

}  // namespace sluice::intercept
