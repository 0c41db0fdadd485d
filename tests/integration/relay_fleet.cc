#include "relay_fleet.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <random>
#include <sstream>

#include "omnirelay/config/scope.h"

namespace omnirelay::relay::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Json SampleGlobalLayer() {
  return Json::parse(ReadFile(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json"));
}

ControlPlane::ControlPlane() {
  std::random_device rd;
  dir_ = (std::filesystem::temp_directory_path() /
          ("omni-relay-it-" + std::to_string(rd()) + std::to_string(rd())))
             .string();
  std::filesystem::create_directories(dir_);
}

ControlPlane::~ControlPlane() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void ControlPlane::Start(int grpc_port, int http_port) {
  cp::DaemonOptions options;
  options.grpc_listen = "127.0.0.1:" + std::to_string(grpc_port);
  options.http_listen = "127.0.0.1:" + std::to_string(http_port);
  options.data_dir = dir_;
  options.sqlite_synchronous_full = false;
  if (configure_) configure_(options);
  auto daemon = cp::Daemon::Start(options);
  ASSERT_TRUE(daemon.ok()) << daemon.status().ToString();
  daemon_ = std::move(daemon).value();
  grpc_port_ = daemon_->grpc_port();
  http_port_ = daemon_->http_port();
  if (std::filesystem::exists(daemon_->admin_token_path())) {
    admin_token_ = ReadFile(daemon_->admin_token_path());
  }
}

void ControlPlane::Stop() {
  if (!daemon_) return;
  daemon_->Shutdown();
  daemon_.reset();
}

TrustedKeySet ControlPlane::TrustedKeys() const {
  auto keys = TrustedKeySet::Load(trusted_keys_path());
  EXPECT_TRUE(keys.ok()) << keys.status().ToString();
  return keys.ok() ? *keys : TrustedKeySet();
}

std::int64_t ControlPlane::PutLayer(const std::string& scope,
                                    const std::function<void(Json&)>& edit) {
  Json doc = SampleGlobalLayer();
  doc["metadata"]["scope"] = scope;
  if (edit) edit(doc["spec"]);
  httplib::Client client("127.0.0.1", http_port_);
  // allowLargeChange: some tests write a large topology on purpose.
  auto res =
      client.Put("/v1/layers/" + scope + "?allowLargeChange=true",
                 {{"Authorization", "Bearer " + admin_token_}}, doc.dump(), "application/json");
  EXPECT_TRUE(res) << "PUT layer: no answer";
  if (!res) return 0;
  EXPECT_EQ(res->status, 200) << res->body;
  Json body = Json::parse(res->body, nullptr, false);
  return body.is_object() ? body.value("revision", std::int64_t{0}) : 0;
}

std::string ControlPlane::NodeToken(const std::string& node_id) {
  std::string& cached = node_tokens_[node_id];
  if (!cached.empty()) return cached;
  httplib::Client client("127.0.0.1", http_port_);
  Json request = {{"name", "node:" + node_id}, {"scopes", {"node"}}};
  auto res = client.Post("/v1/tokens", {{"Authorization", "Bearer " + admin_token_}},
                         request.dump(), "application/json");
  EXPECT_TRUE(res && res->status == 201) << (res ? res->body : "no answer");
  if (!res || res->status != 201) return "";
  cached = Json::parse(res->body).value("token", "");
  return cached;
}

Json ControlPlane::Node(const std::string& node_id) {
  httplib::Client client("127.0.0.1", http_port_);
  auto res = client.Get("/v1/nodes/" + node_id, {{"Authorization", "Bearer " + admin_token_}});
  if (!res || res->status != 200) return nullptr;
  return Json::parse(res->body, nullptr, false);
}

double ControlPlane::Metric(const std::string& series) {
  httplib::Client client("127.0.0.1", http_port_);
  auto res = client.Get("/metrics", {{"Authorization", "Bearer " + admin_token_}});
  if (!res || res->status != 200) return -1;
  std::istringstream lines(res->body);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

std::string ControlPlane::SnapshotEnvelope(const std::string& node_id, const std::string& chain) {
  httplib::Client client("127.0.0.1", http_port_);
  auto res = client.Get("/v1/nodes/" + node_id + "/snapshot?chain=" + chain,
                        {{"Authorization", "Bearer " + admin_token_}});
  EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
  return res && res->status == 200 ? res->body : "";
}

Relay::Relay(std::string id, std::string token, const std::string& lkg_dir, TrustedKeySet keys,
             MetricsRegistry& metrics, const RelayConfig& config)
    : id_(std::move(id)),
      token_(std::move(token)),
      lkg_path_(lkg_dir + "/" + id_ + ".lkg"),
      keys_(std::move(keys)),
      metrics_(metrics),
      config_(config) {
  Build();
}

Relay::~Relay() {
  StopWatcher();
}

void Relay::Build() {
  ConfigHostOptions options;
  options.trusted_keys = keys_;
  options.key_set = config_.key_set;
  options.lkg_path = lkg_path_;
  options.node_id = id_;
  options.verify.scope_chain = SplitCommaList(config_.scope_chain);
  if (!config_.features.empty()) options.verify.capabilities.features = config_.features;
  const Clock& clock = config_.clock ? *config_.clock : SystemClock::Instance();
  host_ = std::make_unique<ConfigHost>(std::move(options), clock, metrics_);
  auto loaded = host_->LoadLastKnownGood();
  lkg_status_ = loaded.status();
}

void Relay::StartWatcher() {
  WatcherOptions o;
  o.node_id = id_;
  o.scope_chain = SplitCommaList(config_.scope_chain);
  o.grpc_endpoints = config_.grpc_endpoints;
  o.http_endpoints = config_.http_endpoints;
  o.token = token_;
  o.features = config_.features;  // empty: the host's
  o.tls = config_.tls;
  o.backoff_initial_ms = 50;
  o.backoff_max_ms = 500;
  o.poll_interval_ms = config_.poll_interval_ms;
  o.failback_interval_ms = config_.failback_interval_ms;
  o.staleness_threshold_ms = config_.staleness_threshold_ms;
  o.connect_timeout_ms = 2'000;
  o.rpc_timeout_ms = 2'000;
  o.status_interval_ms = 1'000;
  o.key_set_poll_interval_ms = config_.key_set_poll_interval_ms;
  const Clock& clock = config_.clock ? *config_.clock : SystemClock::Instance();
  watcher_ = std::make_unique<Watcher>(o, *host_, clock, metrics_);
  ASSERT_TRUE(watcher_->Start().ok());
}

void Relay::StopWatcher() {
  if (watcher_) watcher_->Stop();
  watcher_.reset();
}

void Relay::Restart() {
  StopWatcher();
  host_.reset();
  Build();
}

std::vector<std::unique_ptr<Relay>> StartFleet(ControlPlane& cp, int n, const RelayConfig& config,
                                               MetricsRegistry& metrics,
                                               const std::string& lkg_dir) {
  std::vector<std::unique_ptr<Relay>> fleet;
  const TrustedKeySet keys = cp.TrustedKeys();
  for (int i = 0; i < n; ++i) {
    const std::string id = "relay-" + std::to_string(i);
    fleet.push_back(std::make_unique<Relay>(id, cp.NodeToken(id), lkg_dir, keys, metrics, config));
    fleet.back()->StartWatcher();
  }
  return fleet;
}

bool AllAt(const std::vector<std::unique_ptr<Relay>>& fleet, std::int64_t version) {
  const bool ok = Eventually([&] {
    for (const auto& r : fleet) {
      if (r->version() != version) return false;
    }
    return true;
  });
  if (!ok) {
    for (const auto& r : fleet) {
      if (r->version() != version) {
        ADD_FAILURE() << r->id() << " at version " << r->version() << ", want " << version
                      << "; last error " << r->host().health().last_error.ToString();
        break;
      }
    }
  }
  return ok;
}

std::string Unconnected(const std::vector<std::unique_ptr<Relay>>& fleet,
                        const std::function<bool(const WatcherStats&)>& ok) {
  std::ostringstream out;
  int failing = 0;
  for (const auto& r : fleet) {
    const WatcherStats s = r->watcher()->stats();
    if (ok(s)) continue;
    if (++failing > 5) continue;  // the first five tell the story
    out << r->id() << ": connected=" << s.stream_connected << " endpoint=" << s.grpc_endpoint
        << " welcomed=" << s.streams_welcomed << " failed=" << s.streams_failed << " last_end=\""
        << s.last_stream_end << "\" last_error=\"" << s.last_stream_error
        << "\" pulls_failed=" << s.pulls_failed << " tried=";
    for (const auto& e : s.endpoints_tried) out << e << ' ';
    out << "delays=";
    for (auto d : s.backoff_delays_ms) out << d << ' ';
    out << '\n';
  }
  out << failing << " of " << fleet.size() << " relays not there\n";
  return out.str();
}

}  // namespace omnirelay::relay::testing
