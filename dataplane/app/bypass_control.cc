#include "dataplane/app/bypass_control.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<BypassControl>> BypassControl::open(const BypassConfig& config,
                                                                   PolicyPublisher& publisher,
                                                                   absl::Time now) {
  const std::filesystem::path dir = std::filesystem::path(config.state_file).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create ", dir.string(), " for bypass.state_file: ", ec.message()));
    }
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all |
                                          std::filesystem::perms::group_read |
                                          std::filesystem::perms::group_exec, ec);
  }
  absl::StatusOr<std::unique_ptr<BypassStore>> store =
      BypassStore::open(config.state_file, config.max_entries, now);
  if (!store.ok()) return store.status();
  std::unique_ptr<BypassLearner> learner;
  if (config.learning.enabled) {
    LearningOptions options;
    options.failures = config.learning.failures;
    options.distinct_clients = config.learning.distinct_clients;
    options.window = absl::Nanoseconds(config.learning.window_ns);
    options.ttl = absl::Nanoseconds(config.learning.ttl_ns);
    options.max_keys = config.learning.max_tracked;
    learner = std::make_unique<BypassLearner>(options);
  }
  std::unique_ptr<BypassControl> control(
      new BypassControl(*std::move(store), std::move(learner), publisher));
  absl::MutexLock lock(&control->mu_);
  if (absl::Status s = control->publish(); !s.ok()) return s;
  return control;
}

absl::Status BypassControl::publish() {
  std::shared_ptr<const BypassSet> set = BypassSet::build(store_->entries());
  absl::Status s = publisher_.publish_bypass(std::move(set));
  publish_owed_ = !s.ok();
  return s;
}

absl::StatusOr<BypassRecord> BypassControl::add(const BypassRequest& request, absl::Time now) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<BypassRecord> added = store_->add(request, now);
  if (!added.ok()) return added;
  if (absl::Status s = publish(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("bypass entry ", added->id,
                                               " was saved but is not in force yet (retried "
                                               "every second): ", s.message()));
  }
  return added;
}

absl::StatusOr<BypassControl::Learned> BypassControl::report_failure(
    const CertificateFailure& failure, absl::Time now) {
  if (learner_ == nullptr)
    return absl::FailedPreconditionError(
        "bypass learning is turned off (bypass.learning.enabled: false in the configuration)");
  absl::StatusOr<LearnResult> result = learner_->report(failure, now);
  if (!result.ok()) return result.status();
  Learned learned;
  learned.failures = result->failures;
  learned.clients = result->clients;
  if (!result->learned) return learned;
  absl::StatusOr<BypassRecord> added = add(*result->learned, now);
  // Someone already bypasses exactly this key (by hand, or a report raced this one): nothing
  // more to learn, and nothing for the interceptor to fix.
  if (!added.ok() && added.status().code() == absl::StatusCode::kAlreadyExists) return learned;
  if (!added.ok()) return added.status();
  learned.added = *std::move(added);
  return learned;
}

absl::Status BypassControl::remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = store_->remove(id); !s.ok()) return s;
  return publish();
}

absl::Status BypassControl::tick(absl::Time now) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<size_t> expired = store_->expire(now);
  if (!expired.ok()) {
    return absl::Status(expired.status().code(),
                        absl::StrCat("expired bypass entries stay in force: ",
                                     expired.status().message()));
  }
  if (*expired > 0 || publish_owed_) return publish();
  return absl::OkStatus();
}

}  // namespace sluice
