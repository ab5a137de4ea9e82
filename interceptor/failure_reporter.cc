#include "interceptor/failure_reporter.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "control/json_writer.h"
#include "interceptor/learning_api.h"

namespace sluice::intercept {

std::string failure_json(const CertificateFailure& f) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("sni", f.sni);
  w.field("ja4", f.ja4);
  w.field("client", f.client);
  w.field("reason", f.reason);
  w.end_object();
  return out;
}

absl::StatusOr<std::unique_ptr<FailureReporter>> FailureReporter::start(const InterceptConfig& config,
                                                                       InterceptStats& stats) {
  if (config.learning_api.empty()) return std::unique_ptr<FailureReporter>();
  absl::StatusOr<ctl::ApiTarget> target = learning_api_target(config);
  if (!target.ok()) return target.status();
  std::unique_ptr<FailureReporter> r(
      new FailureReporter(stats, config.learning_queue_size, std::move(*target)));
  r->thread_ = std::thread([p = r.get()] { p->run(); });
  return r;
}

FailureReporter::~FailureReporter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void FailureReporter::report(CertificateFailure failure) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.size() >= capacity_) {
      bump(stats_.failure_reports_dropped);
      return;
    }
    queue_.push_back(std::move(failure));
  }
  bump(stats_.failure_reports_queued);
  wake_.notify_one();
}

void FailureReporter::run() {
  const ctl::ApiClient client(target_);
  for (;;) {
    CertificateFailure f;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      // Deliver what is queued before stopping, each within its timeout.
      if (queue_.empty()) return;
      f = std::move(queue_.front());
      queue_.pop_front();
    }
    absl::StatusOr<ctl::ApiReply> reply = client.call("POST", "/v1/bypass/failures", failure_json(f));
    if (reply.ok() && reply->status >= 200 && reply->status < 300) {
      bump(stats_.failure_reports_sent);
    } else {
      bump(stats_.failure_reports_failed);
      std::fprintf(stderr, "sluice-intercept: learning report for %s (%s) not accepted: %s\n",
                   f.sni.c_str(), f.ja4.c_str(),
                   reply.ok() ? absl::StrCat("HTTP ", reply->status, " ", reply->body).c_str()
                              : std::string(reply.status().message()).c_str());
    }
  }
}

}  // namespace sluice::intercept
