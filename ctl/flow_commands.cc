// sluicectl flows | names.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "ctl/commands.h"
#include "ctl/table.h"

namespace sluice::ctl {
namespace {

using nlohmann::json;

}  // namespace

int flows_command(const Context& ctx, const FlowsOptions& o) {
  const std::string path = with_query("/v1/flows", {{"limit", std::to_string(o.limit)},
                                                    {"client", o.client},
                                                    {"sni", o.sni},
                                                    {"verdict", o.verdict}});
  return request(ctx, "GET", path, "", [](const json& j) {
    Table t({"CLIENT", "SERVER", "NAME", "VERDICT", "RULE", "AGE"});
    for (const json& f : j.at("flows"))
      t.add({absl::StrCat(json_text(f.at("client_ip")), ":", json_text(f.at("client_port"))),
             absl::StrCat(json_text(f.at("server_ip")), ":", json_text(f.at("server_port"))), json_text(f.at("sni")),
             json_text(f.at("verdict")), json_text(f.at("rule")),
             absl::StrCat(f.at("age_seconds").get<uint64_t>(), "s")});
    if (!t.empty()) std::cout << t.render();
    std::cout << j.at("flows").size() << " shown of " << json_text(j.at("matched")) << " matching, "
              << json_text(j.at("tracked")) << " open flows tracked";
    if (j.at("forgotten").get<uint64_t>() > 0)
      std::cout << " (" << json_text(j.at("forgotten")) << " more open but not tracked)";
    std::cout << "\n";
  });
}

int names_command(const Context& ctx, const std::string& window, const std::string& by,
                  int limit) {
  const std::string path = with_query(
      "/v1/top/sni", {{"window", window}, {"by", by}, {"limit", std::to_string(limit)}});
  return request(ctx, "GET", path, "", [](const json& j) {
    Table t({"NAME", "FLOWS", "BLOCKED", "BYTES"});
    for (const json& n : j.at("names"))
      t.add({json_text(n.at("name")), json_text(n.at("flows")), json_text(n.at("blocked")),
             human_bytes(n.at("bytes").get<double>())});
    const json& other = j.at("other");
    if (other.at("flows").get<uint64_t>() > 0 || other.at("bytes").get<uint64_t>() > 0)
      t.add({"(other)", json_text(other.at("flows")), json_text(other.at("blocked")),
             human_bytes(other.at("bytes").get<double>())});
    std::cout << "top names over " << json_text(j.at("window_seconds")) << " s, by " << json_text(j.at("by"))
              << " (" << json_text(j.at("distinct_names")) << " names, "
              << json_text(j.at("flows_without_name")) << " flows without one)\n"
              << t.render();
  });
}

}  // namespace sluice::ctl
