// sluicectl policy show | reload | upload.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ctl/commands.h"
#include "ctl/table.h"

namespace sluice::ctl {
namespace {

using nlohmann::json;

void print_reload(const json& r) {
  if (r.is_null()) return;
  std::cout << "reload " << json_text(r.at("number")) << " (" << json_text(r.at("origin")) << "): "
            << (r.at("ok").get<bool>() ? "published as generation " + json_text(r.at("generation"))
                                       : "REFUSED: " + json_text(r.value("error", json())))
            << absl::StrFormat(", %.1f s", r.at("seconds").get<double>()) << "\n";
}

// While a long request runs (a list upload, a build of millions of names), says on stderr
// what it is waiting for, if stderr is a terminal: people see progress, scripts see nothing.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), tty_(isatty(STDERR_FILENO)) {
    if (tty_) ticker_ = std::thread([this] { tick(); });
  }
  ~Progress() {
    done_ = true;
    if (ticker_.joinable()) ticker_.join();
    if (tty_) std::cerr << "\r\033[K" << std::flush;
  }
  void sent(uint64_t bytes, uint64_t total) {
    sent_ = bytes;
    total_ = total;
  }

 private:
  void tick() {
    const auto start = std::chrono::steady_clock::now();
    static const char kSpin[] = "|/-\\";
    for (int i = 0; !done_; ++i) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::string line;
      if (total_ > 0 && sent_ < total_) {
        line = absl::StrFormat("%s: uploading %s of %s (%.0f%%)", what_, human_bytes(sent_),
                               human_bytes(total_), 100.0 * sent_ / total_);
      } else {
        line = absl::StrFormat("%s: %s sluice is checking and building the policy (%.0f s)",
                               what_, std::string(1, kSpin[i % 4]), s);
      }
      std::cerr << "\r\033[K" << line << std::flush;
      for (int k = 0; k < 5 && !done_; ++k) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::string what_;
  bool tty_;
  std::atomic<bool> done_{false};
  std::atomic<uint64_t> sent_{0}, total_{0};
  std::thread ticker_;
};

}  // namespace

int policy_show_command(const Context& ctx) {
  return request(ctx, "GET", "/v1/policy", "", [](const json& j) {
    std::cout << "generation " << json_text(j.at("generation")) << ", loaded " << json_text(j.at("loaded_at"))
              << "\nsource     " << json_text(j.at("source")) << "\nsummary    " << json_text(j.at("summary"))
              << "\nreloads    " << json_text(j.at("reloads").at("succeeded")) << " succeeded, "
              << json_text(j.at("reloads").at("failed")) << " failed\n";
    if (!j.at("reload_building").is_null())
      std::cout << "building   reload " << json_text(j.at("reload_building").at("number")) << " since "
                << json_text(j.at("reload_building").at("since")) << "\n";
    print_reload(j.at("last_reload"));
    Table lists({"LIST", "FORMAT", "PATH"});
    for (const json& l : j.at("configured_lists"))
      lists.add({json_text(l.at("name")), json_text(l.at("format")), json_text(l.at("path"))});
    std::cout << "\n" << lists.render();
    if (!j.at("configured_lists_error").is_null())
      std::cout << "lists: " << json_text(j.at("configured_lists_error")) << "\n";
  });
}

int policy_reload_command(const Context& ctx) {
  absl::StatusOr<ApiReply> reply = [&] {
    Progress progress("reload");  // until the answer: a big policy takes seconds to build
    return ctx.client.call("POST", "/v1/policy/reload", "{}");
  }();
  if (!reply.ok()) {
    std::cerr << "sluicectl: " << reply.status().message() << "\n";
    return kExitUnreachable;
  }
  const json j = json::parse(reply->body, nullptr, false);
  if (ctx.json) {
    std::cout << reply->body << "\n";
  } else if (j.is_object() && j.contains("reload")) {
    print_reload(j.at("reload"));
  }
  if (reply->status >= 400) {
    if (!ctx.json || !j.is_object()) std::cerr << "sluicectl: reload: " << error_message(*reply) << "\n";
    return reply->status >= 500 ? kExitFailed : kExitRefused;
  }
  return kExitOk;
}

int policy_upload_command(const Context& ctx, const std::string& list, const std::string& file,
                          bool reload) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "sluicectl: cannot read " << file << "\n";
    return kExitUsage;
  }
  std::stringstream body;
  body << in.rdbuf();
  const std::string path =
      with_query(absl::StrCat("/v1/policy/lists/", list), {{"reload", reload ? "1" : ""}});
  int rc;
  {
    Progress progress(absl::StrCat("upload ", list));
    rc = request(
        ctx, "PUT", path, body.str(),
        [&](const json& j) {
          const json& l = j.at("list");
          std::cout << "list " << json_text(l.at("name")) << ": " << json_text(l.at("entries"))
                    << " entries, " << human_bytes(l.at("bytes").get<double>()) << " written to "
                    << json_text(l.at("path")) << "\n";
          if (j.contains("reload")) print_reload(j.at("reload"));
          if (!reload) std::cout << "not in force until `sluicectl policy reload`\n";
        },
        [&](uint64_t sent, uint64_t total) { progress.sent(sent, total); }, "text/plain");
  }
  return rc;
}

}  // namespace sluice::ctl
