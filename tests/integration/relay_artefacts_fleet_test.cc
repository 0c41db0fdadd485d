// Rotated artefacts end to end (DESIGN.md §3.3, Compatibility;
// relay/artefacts.h): the real daemon, a relay of this build on
// region:us-east and one of a build older than the feature "artefacts" on
// region:eu-west. Artefacts written for us-east reach the new relay, whose
// JWT capability fails closed on its past notAfter while it routes on; a
// write that would send artefacts to the old relay is refused
// (missing_feature), and the old relay goes on applying plain writes,
// never receiving an artefact and never NACKing.
#include <gtest/gtest.h>
#include <httplib.h>

#include <ctime>
#include <string>
#include <utility>

#include "omnirelay/config/rfc3339.h"
#include "omnirelay/relay/artefacts.h"
#include "omnirelay/relay/router.h"
#include "relay_fleet.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {
namespace {

class RelayArtefactsFleetTest : public ::testing::Test {
 protected:
  void SetUp() override { cp_.Start(); }

  RelayConfig Config(const std::string& chain, std::vector<std::string> features = {}) const {
    RelayConfig c;
    c.grpc_endpoints = {cp_.grpc_endpoint()};
    c.http_endpoints = {cp_.http_endpoint()};
    c.scope_chain = chain;
    c.features = std::move(features);
    return c;
  }

  // PUT /v1/layers/{scope} as admin: status and body.
  std::pair<int, std::string> Put(const std::string& scope, const Json& doc) {
    httplib::Client client("127.0.0.1", cp_.http_port());
    auto res = client.Put("/v1/layers/" + scope, {{"Authorization", "Bearer " + cp_.admin_token()}},
                          doc.dump(), "application/json");
    if (!res) return {0, "no answer"};
    return {res->status, res->body};
  }

  // A JWKS `idp` that expired an hour ago and an ext_authz endpoint good for a day.
  static Json ArtefactSpec() {
    const std::int64_t now = std::time(nullptr);
    Json security;
    security["jwks"]["idp"] = {
        {"keys", {{{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "idp-1"}, {"x", "AAAA"}}}},
        {"notAfter", FormatRfc3339(now - 3600)}};
    security["extAuthz"]["opa"] = {{"endpoint", "opa.internal:9191"},
                                   {"notAfter", FormatRfc3339(now + 86'400)}};
    return security;
  }

  ControlPlane cp_;
  MetricsRegistry metrics_;
  TempDir lkg_dir_;
};

// The mixed fleet: artefacts reach only the node that advertises the
// feature, and there an expired one fails closed for its capability only.
TEST_F(RelayArtefactsFleetTest, ArtefactsReachOnlyNodesWithTheFeatureAndFailClosedPerCapability) {
  const std::int64_t v1 = cp_.PutLayer("global");
  const TrustedKeySet keys = cp_.TrustedKeys();
  const std::string dir = lkg_dir_.path().string();
  Relay fresh("relay-new", cp_.NodeToken("relay-new"), dir, keys, metrics_,
              Config("global,region:us-east"));
  Relay old("relay-old", cp_.NodeToken("relay-old"), dir, keys, metrics_,
            Config("global,region:eu-west", {"shadowing", "rolloutInfo"}));
  auto router = Router::Attach(fresh.host());
  ASSERT_TRUE(router.ok());
  auto artefacts = Artefacts::Attach(fresh.host(), {}, SystemClock::Instance(), nullptr);
  ASSERT_TRUE(artefacts.ok()) << artefacts.status().ToString();
  fresh.StartWatcher();
  old.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return fresh.version() == v1 && old.version() == v1; }));

  // Artefacts for region:us-east: only the new relay is affected.
  Json layer = {{"apiVersion", "omnirelay.config/v1"},
                {"kind", "ConfigLayer"},
                {"metadata", {{"scope", "region:us-east"}, {"features", {"artefacts"}}}},
                {"spec", {{"security", ArtefactSpec()}}}};
  auto [status, body] = Put("region:us-east", layer);
  ASSERT_EQ(status, 200) << body;
  const std::int64_t v2 = Json::parse(body)["revision"];
  ASSERT_TRUE(Eventually([&] { return fresh.version() == v2; }));

  const Status jwt = (*artefacts)->Check("jwt:idp");
  EXPECT_EQ(jwt.code(), StatusCode::kUnavailable);
  EXPECT_EQ(jwt.message().rfind("artefact_expired: ", 0), 0u) << jwt.message();
  EXPECT_TRUE((*artefacts)->Check("ext_authz:opa").ok());
  EXPECT_TRUE(fresh.host().ready());
  const auto& snapshot = fresh.host().Current();
  ASSERT_NE(snapshot, nullptr);
  EXPECT_TRUE(router->Route(*snapshot, "billing", "user-42").ok());
  ASSERT_EQ((*artefacts)->FailingClosed().size(), 1u);

  // Artefacts for every node: refused, naming the node that lacks the feature
  // (once the daemon has recorded what the old relay's hello advertised: the
  // capability gate reads the node records).
  ASSERT_TRUE(Eventually([&] {
    const Json node = cp_.Node("relay-old");
    return node.is_object() &&
           node.value("features", Json::array()) == Json({"shadowing", "rolloutInfo"});
  })) << cp_.Node("relay-old").dump();
  Json global = SampleGlobalLayer();
  global["metadata"]["features"] = {"shadowing", "artefacts"};
  global["spec"]["security"].update(ArtefactSpec());
  auto [refused, why] = Put("global", global);
  EXPECT_EQ(refused, 409) << why;
  EXPECT_NE(why.find("missing_feature"), std::string::npos) << why;
  EXPECT_NE(why.find("relay-old"), std::string::npos) << why;

  // A plain write reaches both; the old relay never saw an artefact.
  const std::int64_t v3 = cp_.PutLayer(
      "global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 2000; });
  ASSERT_TRUE(Eventually([&] { return fresh.version() == v3 && old.version() == v3; }));
  EXPECT_TRUE((*artefacts)->Check("ext_authz:opa").ok());
  const auto& old_snapshot = old.host().Current();
  ASSERT_NE(old_snapshot, nullptr);
  EXPECT_TRUE(old_snapshot->spec().security.ext_authz.empty());
  EXPECT_TRUE(old_snapshot->spec().security.jwks.empty());
  EXPECT_EQ(old.watcher()->stats().nacks, 0u);
  EXPECT_TRUE(old.host().health().last_error.ok()) << old.host().health().last_error.ToString();
}

}  // namespace
}  // namespace omnirelay::relay::testing
