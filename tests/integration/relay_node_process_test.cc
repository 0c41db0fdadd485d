// samples/relay-node as a real process against the in-process control plane:
// not ready before a snapshot exists, ready and routing after a write, its
// metrics rendered, 4xx JSON errors, clean exit on SIGTERM, exit 1 on a port
// in use.
#include "relay_node_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>

#include "daemon_process.h"
#include "relay_fleet.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {
namespace {

// The tour of samples/relay-node/README.md, as a test.
TEST(RelayNodeProcessTest, ServesReadinessAndRoutesFromTheControlPlane) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::string token_file = (dir.path() / "node.token").string();
  std::ofstream(token_file) << cp.NodeToken("edge-1") << "\n";

  RelayNodeProcess node(
      {"--node-id=edge-1", std::string("--scope-chain=") + kChain,
       "--controlplane=" + cp.grpc_endpoint(), "--controlplane-http=" + cp.http_endpoint(),
       "--token-file=" + token_file, "--trusted-keys=" + cp.trusted_keys_path(),
       "--lkg=" + (dir.path() / "edge-1.lkg").string()},
      (dir.path() / "node.log").string());
  ASSERT_TRUE(Eventually([&] {
    auto res = node.Get("/healthz");
    return res && res->status == 200;
  }));
  auto ready = node.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << ready->body;
  auto early = node.Get("/route?route=billing&key=user-42");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 503);

  const std::int64_t v1 = cp.PutLayer("global");
  ASSERT_TRUE(Eventually([&] {
    auto res = node.Get("/readyz");
    return res && res->status == 200;
  }));
  auto route = node.Get("/route?route=billing&key=user-42");
  ASSERT_TRUE(route);
  ASSERT_EQ(route->status, 200) << route->body;
  const Json body = Json::parse(route->body);
  EXPECT_EQ(body["version"], v1);
  EXPECT_TRUE(body["cluster"] == "billing-v1" || body["cluster"] == "billing-v2") << body;
  EXPECT_TRUE(body.contains("shadow"));
  // Same key, same answer.
  EXPECT_EQ(Json::parse(node.Get("/route?route=billing&key=user-42")->body), body);

  auto unknown = node.Get("/route?route=nope&key=k");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(Json::parse(unknown->body)["error"]["code"], "not_found");
  auto missing = node.Get("/route?route=billing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 400);
  EXPECT_EQ(Json::parse(missing->body)["error"]["code"], "invalid_argument");

  auto metrics = node.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(
      metrics->body.find("omnirelay_relay_snapshot_refusals_total{reason=\"scope_mismatch\"} 0"),
      std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("omnirelay_relay_watcher_stream_connected{node=\"edge-1\"} 1"),
            std::string::npos);

  // The daemon's node status shows the ACK.
  EXPECT_TRUE(Eventually([&] {
    const Json n = cp.Node("edge-1");
    return n.is_object() && n.value("appliedVersion", 0) == v1;
  }));
  EXPECT_EQ(node.Stop(), 0);
  // One line per state change on stderr.
  std::ifstream in(dir.path() / "node.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("relay-node: node stream up to " + cp.grpc_endpoint()), std::string::npos)
      << log;
  EXPECT_NE(log.find("relay-node: applied version " + std::to_string(v1) + " (notify)"),
            std::string::npos)
      << log;
}

// The value of the series `name` (labels included) in Prometheus text; -1 when absent.
double Series(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

// --fail-cluster answers 503 to requests routed to the cluster while other
// routes answer; both reach the control plane as the node's SLO window
// (errors = the 503s), here with --synthetic-rps sending the traffic.
TEST(RelayNodeProcessTest, FailClusterAnswers503AndReportsThemAsErrors) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::string token_file = (dir.path() / "node.token").string();
  std::ofstream(token_file) << cp.NodeToken("edge-1") << "\n";
  cp.PutLayer("global");
  RelayNodeProcess node({"--node-id=edge-1", std::string("--scope-chain=") + kChain,
                         "--controlplane=" + cp.grpc_endpoint(), "--token-file=" + token_file,
                         "--trusted-keys=" + cp.trusted_keys_path(), "--fail-cluster=billing-v1",
                         "--fail-cluster=billing-v2", "--status-interval-ms=100",
                         "--synthetic-rps=40", "--synthetic-route=billing"},
                        (dir.path() / "node.log").string());
  ASSERT_TRUE(Eventually([&] {
    auto res = node.Get("/readyz");
    return res && res->status == 200;
  }));
  auto failed = node.Get("/route?route=billing&key=user-42");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503) << failed->body;
  const Json error = Json::parse(failed->body)["error"];
  EXPECT_EQ(error["code"], "unavailable");
  EXPECT_NE(error["message"].get<std::string>().find("is failing (--fail-cluster)"),
            std::string::npos)
      << error;
  for (int i = 0; i < 5; ++i) {
    auto ok = node.Get("/route?route=auth&key=k" + std::to_string(i));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << ok->body;
  }
  // The windows sent: the synthetic billing requests as errors, auth as not.
  const std::string requests = "omnirelay_relay_watcher_slo_requests_total{node=\"edge-1\"}";
  const std::string errors = "omnirelay_relay_watcher_slo_errors_total{node=\"edge-1\"}";
  std::string text;
  EXPECT_TRUE(Eventually([&] {
    auto m = node.Get("/metrics");
    if (!m) return false;
    text = m->body;
    return Series(text, errors) >= 20 && Series(text, requests) >= Series(text, errors) + 5;
  })) << text;
  EXPECT_EQ(node.Stop(), 0);  // the synthetic sender stops with the process
}

// Two relay-node processes with one --node-id: the newer instance keeps the
// node's stream; the older is superseded — /readyz, its metrics, its log and
// the daemon's node status say so — keeps serving its snapshot, and neither
// reconnects in a loop. Restarting the older one makes it the newest again.
TEST(RelayNodeProcessTest, DuplicateNodeIdIsSupersededInsteadOfFlapping) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::string token_file = (dir.path() / "node.token").string();
  std::ofstream(token_file) << cp.NodeToken("edge-1") << "\n";
  const std::int64_t v1 = cp.PutLayer("global");
  const auto start = [&](const std::string& name) {
    // A short backoff cap: a reconnect loop would show within the window below.
    return std::make_unique<RelayNodeProcess>(
        std::vector<std::string>{
            "--node-id=edge-1", std::string("--scope-chain=") + kChain,
            "--controlplane=" + cp.grpc_endpoint(), "--controlplane-http=" + cp.http_endpoint(),
            "--token-file=" + token_file, "--trusted-keys=" + cp.trusted_keys_path(),
            "--lkg=" + (dir.path() / (name + ".lkg")).string(), "--backoff-max-ms=500",
            "--poll-interval-ms=300"},
        (dir.path() / (name + ".log")).string());
  };
  const auto readyz = [](RelayNodeProcess& node) {
    auto res = node.Get("/readyz");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  };
  const auto superseded = [&](RelayNodeProcess& node) {
    const Json r = readyz(node);
    return r.is_object() && r["controlPlane"].value("superseded", false);
  };
  const auto following = [&](RelayNodeProcess& node) {
    const Json r = readyz(node);
    return r.is_object() && r.value("configVersion", 0) == v1 &&
           r["controlPlane"].value("connected", false);
  };

  auto older = start("older");
  ASSERT_TRUE(Eventually([&] { return following(*older); }));
  auto newer = start("newer");
  ASSERT_TRUE(Eventually([&] { return superseded(*older); })) << readyz(*older).dump();
  ASSERT_TRUE(Eventually([&] { return following(*newer); })) << readyz(*newer).dump();

  // The loser keeps serving what it has, and says why it no longer follows.
  auto ready = older->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  const Json lost = Json::parse(ready->body);
  EXPECT_EQ(lost["configVersion"], v1);
  EXPECT_FALSE(lost["controlPlane"]["connected"]);
  EXPECT_EQ(lost["lastError"]["code"], "superseded") << lost;
  EXPECT_EQ(older->Get("/route?route=billing&key=user-42")->status, 200);
  EXPECT_NE(older->Get("/metrics")
                ->body.find("omnirelay_relay_watcher_superseded_total{node=\"edge-1\"} 1"),
            std::string::npos);
  EXPECT_FALSE(readyz(*newer).contains("lastError")) << readyz(*newer);

  // The daemon counted it once and shows it on the node; one stream is left.
  EXPECT_EQ(cp.Metric("omnirelay_cp_node_superseded_total"), 1);
  EXPECT_EQ(cp.Metric("omnirelay_cp_connected_nodes"), 1);
  // (Node status is written coalesced, a moment later.)
  Json node;
  EXPECT_TRUE(Eventually([&] {
    node = cp.Node("edge-1");
    return node.is_object() && node.value("lastError", "").rfind("superseded: ", 0) == 0;
  })) << node;
  EXPECT_TRUE(node.value("connected", false)) << node;

  // No flapping: over 3 s not one more hello (a measured window, not a wait).
  const double hellos = cp.Metric("omnirelay_cp_node_hellos_total");
  EXPECT_LT(hellos, 5);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(cp.Metric("omnirelay_cp_node_hellos_total"), hellos);
  EXPECT_EQ(cp.Metric("omnirelay_cp_node_superseded_total"), 1);
  EXPECT_TRUE(following(*newer));

  // Logged once on the node's side.
  std::ifstream in(dir.path() / "older.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string took_over = "another process with node id \"edge-1\" took over";
  const auto first = log.find(took_over);
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find(took_over, first + 1), std::string::npos) << log;

  // A restarted process has a new instance id, so it is the newest again.
  EXPECT_EQ(older->Stop(), 0);
  auto restarted = start("older");
  ASSERT_TRUE(Eventually([&] { return superseded(*newer); })) << readyz(*newer).dump();
  ASSERT_TRUE(Eventually([&] { return following(*restarted); })) << readyz(*restarted).dump();
  EXPECT_EQ(cp.Metric("omnirelay_cp_node_superseded_total"), 2);
}

// A --listen port already in use ends relay-node with exit 1 and a message naming it.
TEST(RelayNodeProcessTest, ExitsOneWhenItsPortIsInUse) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::string token_file = (dir.path() / "node.token").string();
  std::ofstream(token_file) << cp.NodeToken("edge-1") << "\n";
  // Hold a port with a listening socket of our own.
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  RelayNodeProcess node({"--node-id=edge-1", std::string("--scope-chain=") + kChain,
                         "--controlplane=" + cp.grpc_endpoint(), "--token-file=" + token_file,
                         "--trusted-keys=" + cp.trusted_keys_path()},
                        (dir.path() / "node.log").string(), port);
  std::optional<int> status;
  ASSERT_TRUE(Eventually([&] { return (status = node.Exited()).has_value(); }));
  EXPECT_EQ(*status, 1);
  std::ifstream in(dir.path() / "node.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << log;
  EXPECT_NE(log.find("in use"), std::string::npos) << log;
  ::close(holder);
}

// Runs relay-node with `base` + `flags`, expects it to exit 2 by itself
// (a usage error) and returns what it logged.
std::string UsageErrorLog(const TempDir& dir, std::vector<std::string> base,
                          const std::vector<std::string>& flags, const std::string& named) {
  base.insert(base.end(), flags.begin(), flags.end());
  const std::string log_path = (dir.path() / "node.log").string();
  RelayNodeProcess node(base, log_path);
  std::optional<int> status;
  EXPECT_TRUE(Eventually([&] { return (status = node.Exited()).has_value(); })) << named;
  EXPECT_EQ(status.value_or(-1), 2) << named;
  std::ifstream in(log_path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A malformed --scope-chain or an empty endpoint in a list is a usage error
// (exit 2, the flag named), before anything connects.
TEST(RelayNodeProcessTest, MalformedListFlagsExitTwo) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::string token_file = (dir.path() / "node.token").string();
  std::ofstream(token_file) << cp.NodeToken("edge-1") << "\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--scope-chain=global,,region:eu-west", "--controlplane=" + cp.grpc_endpoint()},
       "--scope-chain"},
      {{std::string("--scope-chain=") + kChain, "--controlplane=" + cp.grpc_endpoint() + ","},
       "--controlplane"},
  };
  for (const auto& [flags, named] : cases) {
    const std::string log = UsageErrorLog(dir,
                                          {"--node-id=edge-1", "--token-file=" + token_file,
                                           "--trusted-keys=" + cp.trusted_keys_path()},
                                          flags, named);
    EXPECT_NE(log.find(named), std::string::npos) << log;
  }
}

// An address without a host is a usage error (exit 2, the flag named) before
// anything happens: --listen before the last-known-good is loaded (it used
// to fail late with exit 1), an endpoint before it is dialled (it used to be
// retried for ever).
TEST(RelayNodeProcessTest, AddressWithoutHostExitsTwo) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::string token_file = (dir.path() / "node.token").string();
  std::ofstream(token_file) << cp.NodeToken("edge-1") << "\n";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--listen=30903", "--controlplane=" + cp.grpc_endpoint()}, "--listen \"30903\""},
      {{"--controlplane=30443"}, "--controlplane \"30443\""},
      {{"--controlplane=" + cp.grpc_endpoint() + ",:7443"}, "--controlplane \":7443\""},
      {{"--controlplane-http=7080"}, "--controlplane-http \"7080\""},
  };
  for (const auto& [flags, named] : cases) {
    const std::string log =
        UsageErrorLog(dir,
                      {"--node-id=edge-1", std::string("--scope-chain=") + kChain,
                       "--token-file=" + token_file, "--trusted-keys=" + cp.trusted_keys_path()},
                      flags, named);
    EXPECT_NE(log.find(named + " is not host:port"), std::string::npos) << log;
    EXPECT_EQ(log.find("connect"), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace omnirelay::relay::testing
