// What a relay-node process shows when the control plane cannot serve it:
// a chain that does not render (the feed's Problem) and a token revoked under
// it. Both reach the node's /readyz `lastError`, one log line and the
// daemon's view of the node (fleet truth: render failures first-class, errors
// that say what to do).
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "relay_fleet.h"
#include "relay_node_process.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {
namespace {

// A relay-node of `id` on `chain` following `cp`, logging to <dir>/<id>.log.
std::unique_ptr<RelayNodeProcess> StartNode(ControlPlane& cp, const TempDir& dir,
                                            const std::string& id, const std::string& chain) {
  const std::string token_file = (dir.path() / (id + ".token")).string();
  std::ofstream(token_file) << cp.NodeToken(id) << "\n";
  return std::make_unique<RelayNodeProcess>(
      std::vector<std::string>{
          "--node-id=" + id, "--scope-chain=" + chain, "--controlplane=" + cp.grpc_endpoint(),
          "--controlplane-http=" + cp.http_endpoint(), "--token-file=" + token_file,
          "--trusted-keys=" + cp.trusted_keys_path(),
          "--lkg=" + (dir.path() / (id + ".lkg")).string(), "--backoff-max-ms=500",
          "--poll-interval-ms=300"},
      (dir.path() / (id + ".log")).string());
}

Json Readyz(RelayNodeProcess& node, int* status = nullptr) {
  auto res = node.Get("/readyz");
  if (status != nullptr) *status = res ? res->status : 0;
  return res ? Json::parse(res->body, nullptr, false) : Json();
}

// /readyz once it carries a lastError (null if it never does); its HTTP
// status in `status`.
Json ReadyzWithLastError(RelayNodeProcess& node, int& status) {
  Json ready;
  const bool seen = Eventually([&] {
    ready = Readyz(node, &status);
    return ready.is_object() && ready.contains("lastError");
  });
  EXPECT_TRUE(seen) << ready;
  return seen ? ready : Json();
}

std::string Log(const TempDir& dir, const std::string& id) {
  std::ifstream in(dir.path() / (id + ".log"));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

httplib::Client Admin(const ControlPlane& cp) {
  httplib::Client client("127.0.0.1", cp.http_port());
  client.set_bearer_token_auth(cp.admin_token());
  return client;
}

// Finding 2: a node layer staged before its node existed breaks the node's
// chain once it joins. The node is told why on its stream: /readyz is 503
// with lastError {code render_failed, message, path}, its log says so once
// (the problem is repeated at every refresh), and `nodes list` shows
// render_failed with the pointer.
TEST(RelayNodeProblemsTest, ChainThatDoesNotRenderShowsOnTheNode) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  cp.PutLayer("global");
  const std::string layer =
      R"({"apiVersion": "omnirelay.config/v1", "kind": "ConfigLayer",
          "metadata": {"scope": "node:edge-7", "author": "test"},
          "spec": {"routes": {"billing": {"weights": {"nowhere": 100}}}}})";
  auto put =
      Admin(cp).Put("/v1/layers/node:edge-7?allowUnknownNode=true", layer, "application/json");
  ASSERT_TRUE(put);
  ASSERT_EQ(put->status, 200) << put->body;

  auto node = StartNode(cp, dir, "edge-7", std::string(kChain) + ",node:edge-7");
  int status = 0;
  const Json ready = ReadyzWithLastError(*node, status);
  ASSERT_TRUE(ready.is_object());
  EXPECT_EQ(status, 503) << ready;
  EXPECT_EQ(ready["lastError"]["code"], "render_failed") << ready;
  EXPECT_NE(ready["lastError"].value("message", "").find("node:edge-7"), std::string::npos)
      << ready;
  EXPECT_FALSE(ready["lastError"].value("path", "").empty()) << ready;
  EXPECT_TRUE(ready["controlPlane"]["connected"]) << ready;

  Json seen;
  ASSERT_TRUE(Eventually([&] {
    seen = cp.Node("edge-7");
    return seen.is_object() && seen.value("state", "") == "render_failed";
  })) << seen;
  EXPECT_EQ(seen["lastErrorCode"], "render_failed");
  EXPECT_EQ(seen["lastErrorPath"], ready["lastError"]["path"]);

  // A refresh repeats the problem; the log says it once.
  cp.PutLayer("global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 900; });
  ASSERT_TRUE(
      Eventually([&] { return cp.Metric("omnirelay_cp_node_render_failures_total") >= 2; }));
  const std::string said = "control plane sends nothing now: render_failed";
  EXPECT_EQ(Count(Log(dir, "edge-7"), said), 1u) << Log(dir, "edge-7");
  EXPECT_EQ(node->Stop(), 0);
}

// Finding 6: a node whose token is revoked under it does not look like a
// network blip: /readyz keeps serving (200) but says unauthenticated and
// revoked, the log says the stream was lost and why, and the daemon's view
// of the node carries the same reason.
TEST(RelayNodeProblemsTest, RevokedTokenShowsOnTheNodeAndInItsStatus) {
  ControlPlane cp;
  cp.Start();
  TempDir dir;
  const std::int64_t v1 = cp.PutLayer("global");
  auto node = StartNode(cp, dir, "edge-8", kChain);
  ASSERT_TRUE(Eventually([&] {
    const Json r = Readyz(*node);
    return r.is_object() && r.value("configVersion", 0) == v1;
  }));

  auto revoke = Admin(cp).Delete("/v1/tokens/node:edge-8");
  ASSERT_TRUE(revoke);
  ASSERT_EQ(revoke->status, 200) << revoke->body;

  int status = 0;
  const Json ready = ReadyzWithLastError(*node, status);
  ASSERT_TRUE(ready.is_object());
  EXPECT_EQ(status, 200) << ready;  // it keeps serving what it has
  EXPECT_EQ(ready["lastError"]["code"], "unauthenticated") << ready;
  EXPECT_NE(ready["lastError"].value("message", "").find("revoked"), std::string::npos) << ready;
  EXPECT_FALSE(ready["controlPlane"]["connected"]) << ready;
  EXPECT_EQ(node->Get("/route?route=billing&key=user-42")->status, 200);

  ASSERT_TRUE(Eventually([&] {
    return Log(dir, "edge-8").find("lost (unauthenticated: ") != std::string::npos;
  })) << Log(dir, "edge-8");
  Json seen;
  ASSERT_TRUE(Eventually([&] {
    seen = cp.Node("edge-8");
    return seen.is_object() && seen.value("lastErrorCode", "") == "unauthenticated";
  })) << seen;
  EXPECT_NE(seen.value("lastError", "").find("revoked"), std::string::npos) << seen;
  EXPECT_EQ(node->Stop(), 0);
}

}  // namespace
}  // namespace omnirelay::relay::testing
