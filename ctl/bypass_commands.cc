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
  std::cout << (e.at("expires").is_null() ? ", no expiry" : ", expires " + json_text(e.at("expires")))
            << "\n";
}

}  // namespace

int bypass_list_command(const Context& ctx) {
  return request(ctx, "GET", "/v1/bypass", "", [](const json& j) {
    Table t({"ID", "NAME", "CLIENTS", "EXPIRES", "SOURCE", "REASON"});
    for (const json& e : j.at("entries")) {
      const auto clients = e.at("clients").get<std::vector<std::string>>();
      t.add({json_text(e.at("id")), json_text(e.at("name")), clients.empty() ? "all" : absl::StrJoin(clients, ","),
             json_text(e.at("expires")), json_text(e.at("source")), json_text(e.at("reason"))});
    }
    if (t.empty()) {
      std::cout << "no bypass entries\n";
      return;
    }
    std::cout << t.render() << j.at("entries").size() << " of at most "
              << json_text(j.at("max_entries")) << " entries\n";
  });
}

int bypass_add_command(const Context& ctx, const BypassAddOptions& o) {
  json body = {{"name", o.name}, {"clients", o.clients}, {"reason", o.reason}};
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
