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
  std::unique_ptr<BypassControl> control(new BypassControl(*std::move(store), publisher));
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
