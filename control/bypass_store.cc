#include "control/bypass_store.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <cerrno>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "control/atomic_file.h"
#include "control/audit_json.h"
#include "dataplane/policy/list_parser.h"
#include "dataplane/policy/name_entry.h"

namespace sluice {
namespace {

using nlohmann::json;

constexpr char kFormat[] = "sluice-bypass/1";

std::string name_text(const NameEntry& e) {
  switch (e.scope) {
    case kScopeTree:
      return absl::StrCat(".", e.name);
    case kScopeSubdomains:
      return absl::StrCat("*.", e.name);
    default:
      return e.name;
  }
}

std::string cidr_text(const Cidr& c) {
  const bool v4 = c.address.is_v4();
  const int bits = v4 ? c.prefix_length - 96 : c.prefix_length;
  return absl::StrCat(c.address.to_string(), "/", bits);
}

std::string time_text(absl::Time t) {
  return rfc3339_micros(static_cast<uint64_t>(absl::ToUnixNanos(t)));
}

absl::StatusOr<absl::Time> parse_time(const std::string& text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err))
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an RFC 3339 time"));
  return t;
}

json evidence_json(const BypassEvidence& e) {
  return {{"failures", e.failures},
          {"first_seen", time_text(e.first_seen)},
          {"last_seen", time_text(e.last_seen)},
          {"reasons", e.reasons},
          {"clients", e.clients}};
}

std::vector<std::string> strings(const json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const json& s : j)
    if (s.is_string() && out.size() < BypassStore::kMaxEvidence) out.push_back(s.get<std::string>());
  return out;
}

// Evidence is what the appliance saw, kept for the reader: a damaged part of it is dropped,
// never a reason to refuse the whole state file.
std::optional<BypassEvidence> parse_evidence(const json& j) {
  if (!j.is_object() || !j.contains("failures") || !j["failures"].is_number_unsigned())
    return std::nullopt;
  BypassEvidence e;
  e.failures = j["failures"].get<uint32_t>();
  if (j.contains("first_seen") && j["first_seen"].is_string())
    if (absl::StatusOr<absl::Time> t = parse_time(j["first_seen"]); t.ok()) e.first_seen = *t;
  if (j.contains("last_seen") && j["last_seen"].is_string())
    if (absl::StatusOr<absl::Time> t = parse_time(j["last_seen"]); t.ok()) e.last_seen = *t;
  if (j.contains("reasons")) e.reasons = strings(j["reasons"]);
  if (j.contains("clients")) e.clients = strings(j["clients"]);
  return e;
}

// Checks and normalises what a request (or the state file) says about one entry.
absl::Status normalise(const BypassRequest& request, BypassRecord& out) {
  absl::StatusOr<NameEntry> name = parse_name_entry(request.name);
  if (!name.ok()) return absl::InvalidArgumentError(absl::StrCat("name: ", name.status().message()));
  out.name = name_text(*name);
  if (request.clients.size() > BypassStore::kMaxClients)
    return absl::InvalidArgumentError(absl::StrCat("clients: at most ", BypassStore::kMaxClients,
                                                   " prefixes per entry"));
  out.clients.clear();
  for (const std::string& c : request.clients) {
    absl::StatusOr<Cidr> cidr = parse_cidr(c);
    if (!cidr.ok())
      return absl::InvalidArgumentError(absl::StrCat("clients: ", cidr.status().message()));
    out.clients.push_back(cidr_text(*cidr));
  }
  std::sort(out.clients.begin(), out.clients.end());
  out.clients.erase(std::unique(out.clients.begin(), out.clients.end()), out.clients.end());
  if (!request.ja4.empty() && !is_ja4_fingerprint(request.ja4))
    return absl::InvalidArgumentError(absl::StrCat(
        "ja4: '", request.ja4,
        "' is not a JA4 fingerprint (36 characters, e.g. t13d1516h2_8daaf6152771_e5627efa2ab1)"));
  out.ja4 = request.ja4;
  if (request.reason.size() > BypassStore::kMaxReasonBytes)
    return absl::InvalidArgumentError(absl::StrCat("reason: at most ", BypassStore::kMaxReasonBytes,
                                                   " bytes"));
  out.reason = request.reason;
  out.source = request.source.empty() ? "api" : request.source;
  out.evidence = request.evidence;
  return absl::OkStatus();
}

}  // namespace

bool is_ja4_fingerprint(std::string_view s) {
  if (s.size() != 36 || s[10] != '_' || s[23] != '_') return false;
  if (s[0] != 't' && s[0] != 'q' && s[0] != 'd') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 10 || i == 23) continue;
    const char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

nlohmann::json bypass_record_json(const BypassRecord& r) {
  json j = {{"id", r.id},         {"name", r.name},           {"clients", r.clients},
            {"ja4", nullptr},     {"reason", r.reason},       {"source", r.source},
            {"created", time_text(r.created)},                {"expires", nullptr},
            {"evidence", nullptr}};
  if (!r.ja4.empty()) j["ja4"] = r.ja4;
  if (r.expires) j["expires"] = time_text(*r.expires);
  if (r.evidence) j["evidence"] = evidence_json(*r.evidence);
  return j;
}

absl::StatusOr<BypassRecord> bypass_record_from_json(const nlohmann::json& e, absl::Time now) {
  const auto bad = [](const std::string& why) { return absl::InvalidArgumentError(why); };
  if (!e.is_object() || !e.contains("id") || !e["id"].is_number_unsigned() || !e.contains("name") ||
      !e["name"].is_string())
    return bad("needs a numeric \"id\" and a \"name\"");
  BypassRequest request;
  request.name = e["name"].get<std::string>();
  if (e.contains("clients") && !e["clients"].is_null()) {
    if (!e["clients"].is_array()) return bad("\"clients\" is not a list");
    for (const json& c : e["clients"]) {
      if (!c.is_string()) return bad("a client is not a string");
      request.clients.push_back(c.get<std::string>());
    }
  }
  if (e.contains("ja4") && e["ja4"].is_string()) request.ja4 = e["ja4"];
  if (e.contains("evidence")) request.evidence = parse_evidence(e["evidence"]);
  if (e.contains("reason") && e["reason"].is_string()) request.reason = e["reason"];
  if (e.contains("source") && e["source"].is_string()) request.source = e["source"];
  BypassRecord r;
  if (absl::Status s = normalise(request, r); !s.ok()) return s;
  r.id = e["id"].get<uint64_t>();
  if (r.id == 0) return bad("id 0");
  r.created = now;
  if (e.contains("created") && e["created"].is_string()) {
    absl::StatusOr<absl::Time> t = parse_time(e["created"]);
    if (!t.ok()) return bad(absl::StrCat("created: ", t.status().message()));
    r.created = *t;
  }
  if (e.contains("expires") && !e["expires"].is_null()) {
    if (!e["expires"].is_string()) return bad("\"expires\" is not a time");
    absl::StatusOr<absl::Time> t = parse_time(e["expires"]);
    if (!t.ok()) return bad(absl::StrCat("expires: ", t.status().message()));
    r.expires = *t;
  }
  return r;
}

BypassEntry bypass_entry(const BypassRecord& r) {
  BypassEntry e;
  e.id = r.id;
  e.name = *parse_name_entry(r.name);  // normalised when the record was made
  for (const std::string& c : r.clients) e.clients.push_back(*parse_cidr(c));
  e.ja4 = r.ja4;
  return e;
}

absl::StatusOr<std::unique_ptr<BypassStore>> BypassStore::open(std::string path,
                                                               size_t max_entries,
                                                               absl::Time now) {
  std::unique_ptr<BypassStore> store(new BypassStore(std::move(path), max_entries));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->load(now); !s.ok()) return s;
  return store;
}

absl::Status BypassStore::load(absl::Time now) {
  std::ifstream in(path_);
  if (!in) {
    if (errno == ENOENT) return absl::OkStatus();  // nothing bypassed yet
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the bypass state file ", path_, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  const auto refuse = [this](const std::string& why) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bypass state file ", path_, ": ", why,
        "; fix it, or move it aside to start with no bypass entries"));
  };
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return refuse("not valid JSON");
  if (!j.is_object() || j.value("format", "") != kFormat)
    return refuse(absl::StrCat("not a \"", kFormat, "\" file"));
  if (!j.contains("entries") || !j["entries"].is_array()) return refuse("no \"entries\" array");
  uint64_t highest = 0;
  for (size_t i = 0; i < j["entries"].size(); ++i) {
    const std::string where = absl::StrCat("entry ", i + 1);
    absl::StatusOr<BypassRecord> r = bypass_record_from_json(j["entries"][i], now);
    if (!r.ok()) return refuse(absl::StrCat(where, ": ", r.status().message()));
    for (const BypassRecord& other : records_)
      if (other.id == r->id) return refuse(absl::StrCat(where, ": id ", r->id, " twice"));
    highest = std::max(highest, r->id);
    if (r->expires && *r->expires <= now) continue;  // ran out while we were stopped
    records_.push_back(std::move(*r));
  }
  std::sort(records_.begin(), records_.end(),
            [](const BypassRecord& a, const BypassRecord& b) { return a.id < b.id; });
  next_id_ = std::max<uint64_t>(j.value("next_id", uint64_t{1}), highest + 1);
  return absl::OkStatus();
}

absl::Status BypassStore::save() const {
  json entries = json::array();
  for (const BypassRecord& r : records_) entries.push_back(bypass_record_json(r));
  const json j = {{"format", kFormat}, {"next_id", next_id_}, {"entries", std::move(entries)}};
  return write_file_atomically(path_, j.dump(1) + "\n", 0600);
}

absl::StatusOr<BypassRecord> BypassStore::add(const BypassRequest& request, absl::Time now) {
  BypassRecord r;
  if (absl::Status s = normalise(request, r); !s.ok()) return s;
  if (request.ttl && *request.ttl <= absl::ZeroDuration())
    return absl::InvalidArgumentError("ttl: must be positive (leave it out for no expiry)");
  absl::MutexLock lock(&mu_);
  for (const BypassRecord& other : records_) {
    if (other.name == r.name && other.clients == r.clients && other.ja4 == r.ja4) {
      return absl::AlreadyExistsError(absl::StrCat(
          "entry ", other.id, " already bypasses ", r.name,
          r.clients.empty() ? "" : " for these clients",
          r.ja4.empty() ? "" : absl::StrCat(" for client app ", r.ja4),
          "; delete it first to change it"));
    }
  }
  if (records_.size() >= max_entries_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the bypass table is full (", max_entries_,
        " entries): remove entries, or raise bypass.max_entries in the configuration"));
  }
  r.id = next_id_;
  r.created = now;
  if (request.ttl) r.expires = now + *request.ttl;
  records_.push_back(r);
  ++next_id_;
  if (absl::Status s = save(); !s.ok()) {
    records_.pop_back();
    --next_id_;
    return absl::Status(s.code(), absl::StrCat("bypass not added: ", s.message()));
  }
  return r;
}

absl::Status BypassStore::remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = std::find_if(records_.begin(), records_.end(),
                         [id](const BypassRecord& r) { return r.id == id; });
  if (it == records_.end())
    return absl::NotFoundError(absl::StrCat("no bypass entry ", id));
  BypassRecord removed = *it;
  const size_t at = static_cast<size_t>(it - records_.begin());
  records_.erase(it);
  if (absl::Status s = save(); !s.ok()) {
    records_.insert(records_.begin() + static_cast<ptrdiff_t>(at), std::move(removed));
    return absl::Status(s.code(), absl::StrCat("bypass entry ", id, " not removed: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> BypassStore::expire(absl::Time now) {
  absl::MutexLock lock(&mu_);
  std::vector<BypassRecord> kept;
  for (const BypassRecord& r : records_)
    if (!r.expires || *r.expires > now) kept.push_back(r);
  const size_t dropped = records_.size() - kept.size();
  if (dropped == 0) return 0;
  std::swap(records_, kept);
  if (absl::Status s = save(); !s.ok()) {
    std::swap(records_, kept);
    return s;
  }
  return dropped;
}

std::vector<BypassRecord> BypassStore::list() const {
  absl::MutexLock lock(&mu_);
  return records_;
}

std::vector<BypassEntry> BypassStore::entries() const {
  absl::MutexLock lock(&mu_);
  std::vector<BypassEntry> out;
  out.reserve(records_.size());
  for (const BypassRecord& r : records_) out.push_back(bypass_entry(r));
  return out;
}

}  // namespace sluice
