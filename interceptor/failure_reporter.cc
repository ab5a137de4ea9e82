#include "interceptor/failure_reporter.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "control/json_writer.h"
#include "ctl/api_client.h"

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
  std::unique_ptr<FailureReporter> r(new FailureReporter(stats, config.learning_queue_size));
  if (config.learning_api.rfind("unix:", 0) == 0) {
    r->unix_socket_ = config.learning_api.substr(5);
  } else {
    r->url_ = config.learning_api;
    while (!r->url_.empty() && r->url_.back() == '/') r->url_.pop_back();
  }
  if (!config.learning_token_file.empty()) {
    std::ifstream in(config.learning_token_file);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("learning.token_file: cannot read ",
                                              config.learning_token_file));
    }
    std::stringstream text;
    text << in.rdbuf();
    r->token_ = std::string(absl::StripAsciiWhitespace(text.str()));
  }
  r->timeout_ns_ = config.learning_timeout_ns;
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
  ctl::ApiTarget target;
  target.unix_socket = unix_socket_;
  target.url = url_;
  target.token = token_;
  target.timeout = absl::Nanoseconds(static_cast<int64_t>(timeout_ns_));
  const ctl::ApiClient client(target);
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
