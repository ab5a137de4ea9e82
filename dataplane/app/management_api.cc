#include "dataplane/app/management_api.h"

#include "control/api/endpoints.h"
#include "control/api/list_upload.h"

namespace sluice {

absl::StatusOr<std::unique_ptr<ManagementApi>> ManagementApi::start(const Sources& sources) {
  const ApiConfig& c = sources.config->api;
  if (!c.enabled) return std::unique_ptr<ManagementApi>();
  std::unique_ptr<ManagementApi> api(new ManagementApi(sources));
  api->sample(absl::Now(), 0, 0);

  ApiServerOptions options;
  options.unix_path = c.unix_path;
  options.unix_mode = static_cast<mode_t>(c.unix_mode);
  options.unix_group = c.unix_group;
  options.tcp_listen = c.tcp_listen;
  if (!c.tcp_listen.empty()) {
    absl::StatusOr<std::string> token = read_token_file(c.token_file);
    if (!token.ok()) return token.status();
    options.bearer_token = std::move(*token);
  }
  options.max_connections = c.max_connections;
  options.timeout_seconds = static_cast<uint32_t>(c.timeout_ns / 1'000'000'000ULL);

  ApiSources s;
  s.version = "sluice " SLUICE_VERSION;
  s.config_path = sources.config_path;
  s.mode = sources.config->mode == RunMode::kInline ? "inline" : "monitor";
  s.started_at = absl::Now();
  s.state = &api->state_;
  const PolicyPublisher* publisher = sources.publisher;
  const std::string config_path = sources.config_path;
  s.policy = [publisher, config_path] {
    const PublishedPolicy p = publisher->current();
    PolicyView v;
    v.generation = p.generation;
    v.source = config_path;
    v.description = p.description;
    v.summary = p.summary;
    v.published_at = p.published_at;
    return v;
  };
  PolicyReloader* reloader = sources.reloader;
  s.reload_state = [reloader] { return reloader->state(); };
  s.reload = [reloader](std::string origin) { return reloader->reload(std::move(origin)); };

  auto router = std::make_shared<ApiRouter>();
  ApiLimits limits;
  limits.max_json_body = c.max_json_body;
  add_core_endpoints(*router, s, limits);
  add_list_upload_endpoint(*router, s, c.max_list_body);
  for (const auto& add : sources.more_endpoints) add(*router, c.max_json_body);

  absl::StatusOr<std::unique_ptr<ApiServer>> server = ApiServer::start(options, router);
  if (!server.ok()) return server.status();
  api->server_ = std::move(*server);
  return api;
}

ManagementApi::~ManagementApi() { server_.reset(); }

void ManagementApi::maybe_sample(absl::Time now, uint64_t audit_records,
                                 uint64_t audit_write_errors) {
  if (now - last_sample_ < absl::Seconds(1)) return;
  sample(now, audit_records, audit_write_errors);
}

void ManagementApi::sample(absl::Time now, uint64_t audit_records, uint64_t audit_write_errors) {
  last_sample_ = now;
  ControlSample s;
  s.at = now;
  s.audit_records = audit_records;
  s.audit_write_errors = audit_write_errors;
  if (sources_.syslog) s.syslog = sources_.syslog();
  for (size_t w = 0; w < sources_.mailboxes.size(); ++w) {
    WorkerView v;
    v.id = static_cast<uint32_t>(w);
    v.lcore = sources_.config->lcores.workers[w];
    WorkerSample sample;
    if (sources_.mailboxes[w].read(sample)) {
      v.updates = sources_.mailboxes[w].updates();
      v.stats = sample.stats;
      v.held_frames = sample.gauges.held_frames;
      v.active_flows = sample.gauges.active_flows;
      v.idle_sleeps = sample.gauges.idle_sleeps;
      s.total.add(sample.stats);
    }
    s.workers.push_back(std::move(v));
  }
  const std::vector<EthdevPort>& ports = sources_.ports->ports();
  for (size_t i = 0; i < ports.size(); ++i) {
    PortView v;
    v.name = ports[i].name;
    v.device = ports[i].device;
    absl::StatusOr<PortStatus> st = sources_.ports->read_status(i);
    if (!st.ok()) {
      v.error = std::string(st.status().message());
    } else {
      v.readable = true;
      v.link_up = st->link_up;
      v.link_speed_mbps = st->link_speed_mbps;
      v.full_duplex = st->full_duplex;
      v.rx_packets = st->rx_packets;
      v.tx_packets = st->tx_packets;
      v.rx_bytes = st->rx_bytes;
      v.tx_bytes = st->tx_bytes;
      v.rx_missed = st->rx_missed;
      v.rx_errors = st->rx_errors;
      v.tx_errors = st->tx_errors;
      v.rx_no_mbuf = st->rx_no_mbuf;
    }
    s.ports.push_back(std::move(v));
  }
  state_.publish(std::move(s));
}

}  // namespace sluice
