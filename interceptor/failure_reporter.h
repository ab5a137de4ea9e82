// Learning: a client that refused our forged certificate is reported to the control plane as
// POST /v1/bypass/failures {"sni","ja4","client","reason"}. Loop threads only queue a report
// (bounded; a full queue drops and counts); one reporter thread delivers them with libcurl
// through the same client sluicectl uses (ctl/api_client.h).
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "ctl/api_client.h"
#include "interceptor/intercept_config.h"
#include "interceptor/intercept_stats.h"

namespace sluice::intercept {

struct CertificateFailure {
  std::string sni;
  std::string ja4;
  std::string client;  // IP address text
  std::string reason;  // "alert unknown_ca", "closed after certificate", ...
};

std::string failure_json(const CertificateFailure& f);

class FailureReporter {
 public:
  // Null when learning.api is not configured (reports are then only audited).
  static absl::StatusOr<std::unique_ptr<FailureReporter>> start(const InterceptConfig& config,
                                                                InterceptStats& stats);
  ~FailureReporter();

  // Never blocks on the network: queues or drops.
  void report(CertificateFailure failure);

 private:
  FailureReporter(InterceptStats& stats, size_t capacity, ctl::ApiTarget target)
      : stats_(stats), capacity_(capacity), target_(std::move(target)) {}
  void run();

  InterceptStats& stats_;
  size_t capacity_;
  ctl::ApiTarget target_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<CertificateFailure> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sluice::intercept
