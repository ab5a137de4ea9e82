// sluicectl bypass list | add | remove.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "ctl/commands.h"
#include "ctl/table.h"

namespace sluice::ctl {
namespace {

using nlohmann::json;

void print_entry(const json& e) {
  std::cout << "bypass " << json_text(e.at("id")) << ": " << json_text(e.at("name"));
  if (!e.at("clients").empty())
    std::cout << " for " << absl::StrJoin(e.at("clients").get<std::vector<std::string>>(), ", ");
  if (e.contains("ja4") && !e.at("ja4").is_null()) std::cout << " for app " << json_text(e.at("ja4"));
  std::cout << (e.at("expires").is_null() ? ", no expiry" : ", expires " + json_text(e.at("expires")))
            << "\n";
}

}  // namespace

int bypass_list_command(const Context& ctx) {
  return request(ctx, "GET", "/v1/bypass", "", [](const json& j) {
    Table t({"ID", "NAME", "CLIENTS", "APP (JA4)", "EXPIRES", "SOURCE", "REASON"});
    for (const json& e : j.at("entries")) {
      const auto clients = e.at("clients").get<std::vector<std::string>>();
      const bool any_app = !e.contains("ja4") || e.at("ja4").is_null();
      std::string reason = json_text(e.at("reason"));
      // A learned entry's evidence: which clients were seen rejecting the certificate, when.
      if (e.contains("evidence") && e.at("evidence").is_object()) {
        const json& ev = e.at("evidence");
        reason += absl::StrCat(" [clients ", absl::StrJoin(ev.at("clients").get<std::vector<std::string>>(), ","),
                               "; ", json_text(ev.at("first_seen")), " to ", json_text(ev.at("last_seen")), "]");
      }
      t.add({json_text(e.at("id")), json_text(e.at("name")),
             clients.empty() ? "all" : absl::StrJoin(clients, ","), any_app ? "all" : json_text(e.at("ja4")),
             json_text(e.at("expires")), json_text(e.at("source")), reason});
    }
    if (t.empty()) {
      std::cout << "no bypass entries\n";
    } else {
      std::cout << t.render() << j.at("entries").size() << " of at most "
                << json_text(j.at("max_entries")) << " entries\n";
    }
    if (j.contains("learning") && j.at("learning").value("enabled", false)) {
      const json& l = j.at("learning");
      std::cout << "learning: " << json_text(l.at("failures")) << " certificate rejections within "
                << json_text(l.at("window_seconds")) << " s make an entry for "
                << json_text(l.at("ttl_seconds")) << " s; " << json_text(l.at("tracked"))
                << " name/app pairs being counted, " << json_text(l.at("learned"))
                << " learned so far\n";
    } else if (j.contains("learning")) {
      std::cout << "learning: off (bypass.learning.enabled)\n";
    }
  });
}

int bypass_add_command(const Context& ctx, const BypassAddOptions& o) {
  json body = {{"name", o.name}, {"clients", o.clients}, {"reason", o.reason}};
  if (!o.ja4.empty()) body["ja4"] = o.ja4;
  if (!o.ttl.empty()) {
    absl::Duration ttl;
    if (!absl::ParseDuration(o.ttl, &ttl) || ttl <= absl::ZeroDuration()) {
      std::cerr << "sluicectl: --ttl '" << o.ttl << "' is not a positive duration (e.g. 90m, 2h)\n";
      return kExitUsage;
    }
    body["ttl_seconds"] = absl::ToInt64Seconds(ttl);
  }
  return request(ctx, "POST", "/v1/bypass", body.dump(), print_entry);
}

int bypass_remove_command(const Context& ctx, uint64_t id) {
  return request(ctx, "DELETE", absl::StrCat("/v1/bypass/", id), "", [id](const json&) {
    std::cout << "bypass " << id << " removed\n";
  });
}

}  // namespace sluice::ctl
