// The API codec: REST field names, "none" left out, and ToJson / FromJson
// round trips for every type.
#include <gtest/gtest.h>

#include "omnirelay/api/json.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay::api {
namespace {

using Json = nlohmann::json;

// 2026-11-27T07:31:49Z: times travel in whole seconds.
constexpr std::int64_t kT = 1795764709000;

template <typename T>
T RoundTrip(const T& value) {
  T back;
  const Status s = FromJson(ToJson(value), &back);
  EXPECT_TRUE(s.ok()) << s.ToString() << " in " << ToJson(value).dump();
  return back;
}

Node FullNode() {
  Node n;
  n.node_id = "relay-1";
  n.scope_chain = "global,region:eu-west";
  n.api_version = "omnirelay.config/v1";
  n.features = {"shadowing"};
  n.assigned_version = 7;
  n.assigned_hash = "sha256:aa";
  n.applied_version = 6;
  n.applied_hash = "sha256:bb";
  n.discovery_generation = 3;
  n.last_error = "expired";
  n.health_json = R"({"p99_ms":12})";
  n.connected = true;
  n.last_seen_ms = kT;
  return n;
}

// A node prints under the REST names; "drift" is applied != assigned.
TEST(ApiJsonTest, NodeFieldNames) {
  const Json j = ToJson(FullNode());
  EXPECT_EQ(j["nodeId"], "relay-1");
  EXPECT_EQ(j["scopeChain"], "global,region:eu-west");
  EXPECT_EQ(j["drift"], true);
  EXPECT_FALSE(j.contains("drifted"));
  EXPECT_EQ(j["health"]["p99_ms"], 12);
  EXPECT_EQ(j["lastSeen"], "2026-11-27T07:31:49Z");
}

// A node with nothing applied, no error, no health and never seen has none
// of those keys — never 0 or "".
TEST(ApiJsonTest, NodeNoneIsAbsent) {
  Node n;
  n.node_id = "fresh";
  n.scope_chain = "global";
  n.assigned_version = 1;
  n.health_json = "{}";
  const Json j = ToJson(n);
  for (const char* key : {"appliedVersion", "appliedHash", "assignedHash", "lastError", "health",
                          "lastSeen", "discoveryGeneration", "apiVersion"}) {
    EXPECT_FALSE(j.contains(key)) << key << " in " << j.dump();
  }
  EXPECT_EQ(j["assignedVersion"], 1);
  EXPECT_EQ(j["drift"], true);
}

// Every field of a node survives the round trip.
TEST(ApiJsonTest, NodeRoundTrips) {
  const Node n = FullNode();
  const Node back = RoundTrip(n);
  EXPECT_EQ(ToJson(back), ToJson(n));
  EXPECT_EQ(back.last_seen_ms, kT);
  EXPECT_EQ(back.applied_version, 6);
  EXPECT_EQ(Json::parse(back.health_json), Json::parse(n.health_json));
}

// A write result names its problems "errors" and its change "diff"; a dry
// run has no revision.
TEST(ApiJsonTest, WriteResultFieldNames) {
  WriteResult w;
  w.dry_run = true;
  w.revision = 0;
  w.diagnostics = {{"/spec/routes/b", DiagCode::kDanglingCluster, "no cluster x"}};
  w.diff_summary = "routes +0 -0 ~1 (~b)";
  w.blocked_nodes = {{"relay-1", "global", "missing features: shadowing", {"shadowing"}}};
  w.chains_checked = {"global"};
  const Json j = ToJson(w);
  EXPECT_EQ(j["dryRun"], true);
  EXPECT_EQ(j["valid"], false);
  EXPECT_EQ(j["errors"][0]["code"], "dangling_cluster");
  EXPECT_EQ(j["diff"], "routes +0 -0 ~1 (~b)");
  EXPECT_EQ(j["blockedNodes"][0]["nodeId"], "relay-1");
  EXPECT_EQ(j["blockedNodes"][0]["missing"], Json::array({"shadowing"}));
  EXPECT_EQ(j["chainsChecked"], Json::array({"global"}));
  EXPECT_FALSE(j.contains("revision"));
  EXPECT_FALSE(j.contains("diagnostics"));
  EXPECT_FALSE(j.contains("diffSummary"));
  EXPECT_FALSE(j.contains("currentRevision")) << "absent when the scope has no layer";
  EXPECT_FALSE(j.contains("currentDocument"));
  w.current_revision = 4;
  w.current_document = R"({"kind":"ConfigLayer"})";
  EXPECT_EQ(ToJson(w)["currentRevision"], 4);
  EXPECT_EQ(ToJson(w)["currentDocument"], Json({{"kind", "ConfigLayer"}}));
}

// A write result round-trips, diagnostics and blocked nodes included.
TEST(ApiJsonTest, WriteResultRoundTrips) {
  WriteResult w;
  w.revision = 12;
  w.diagnostics = {{"", DiagCode::kParseError, "not JSON"}};
  w.diff_summary = "clusters +1";
  w.blocked_nodes = {{"n", "global", "r", {"f"}}};
  w.chains_checked = {"global", "global,region:eu-west"};
  w.current_revision = 11;
  w.current_document = R"({"kind":"ConfigLayer"})";
  const WriteResult back = RoundTrip(w);
  EXPECT_EQ(back.revision, 12);
  EXPECT_EQ(back.current_revision, 11);
  EXPECT_EQ(back.current_document, w.current_document);
  EXPECT_EQ(back.diagnostics, w.diagnostics);
  EXPECT_EQ(back.blocked_nodes, w.blocked_nodes);
  EXPECT_EQ(ToJson(back), ToJson(w));
}

// Layers, summaries and revisions round-trip; a delete is "action": "delete".
TEST(ApiJsonTest, LayersAndHistoryRoundTrip) {
  const LayerSummary summary{"region:eu-west", 4, kT, "ops"};
  EXPECT_EQ(ToJson(RoundTrip(summary)), ToJson(summary));
  const Layer layer{"global", 3, R"({"kind":"ConfigLayer"})", kT, "ops"};
  EXPECT_EQ(ToJson(layer)["document"]["kind"], "ConfigLayer");
  EXPECT_EQ(ToJson(RoundTrip(layer)), ToJson(layer));
  const Revision del{5, "global", true, "ops", kT};
  EXPECT_EQ(ToJson(del)["action"], "delete");
  EXPECT_FALSE(ToJson(del).contains("deleted"));
  EXPECT_TRUE(RoundTrip(del).deleted);
}

// A status summary round-trips with its per-version counts.
TEST(ApiJsonTest, StatusRoundTrips) {
  StatusSummary s{9, 3, 2, 1, {{8, 1}, {9, 2}}, {}, {}, {}, {}};
  s.rollouts = {{"ro-0123456789", 9, "running", 1, 3}};
  s.layers = {{"global", 7, kT, "ops"}};
  for (const char* state : kNodeStates) s.nodes_by_state.emplace_back(state, 0);
  s.nodes_by_state[2].second = 1;  // drifted
  s.nodes_by_state[5].second = 1;  // offline
  const Json j = ToJson(s);
  EXPECT_EQ(j["nodes"]["drifted"], 1);
  EXPECT_EQ(j["nodes"]["byAppliedVersion"][1]["nodes"], 2);
  EXPECT_EQ(j["nodes"]["byState"]["offline"], 1);
  EXPECT_EQ(j["nodes"]["byState"]["render_failed"], 0);
  const StatusSummary back = RoundTrip(s);
  EXPECT_EQ(back.nodes_by_applied_version, s.nodes_by_applied_version);
  EXPECT_EQ(back.nodes_by_state, s.nodes_by_state);  // in the documented order
  EXPECT_EQ(j["rollouts"][0]["id"], "ro-0123456789");
  EXPECT_EQ(j["rollouts"][0]["state"], "running");
  EXPECT_EQ(j["rollouts"][0]["currentWave"], 1);
  EXPECT_EQ(j["rollouts"][0]["waveCount"], 3);
  EXPECT_EQ(j["layers"][0]["scope"], "global");
  EXPECT_EQ(j["layers"][0]["revision"], 7);
  ASSERT_EQ(back.rollouts.size(), 1u);
  EXPECT_EQ(back.rollouts[0].version, 9);
  EXPECT_EQ(back.rollouts[0].wave_count, 3);
  ASSERT_EQ(back.layers.size(), 1u);
  EXPECT_EQ(back.layers[0].author, "ops");
  EXPECT_EQ(ToJson(back), j);
  EXPECT_FALSE(j.contains("freeze")) << "only while frozen";
}

// The freeze switch: off is {"frozen": false} alone; on carries reason, by
// and since, in a status too, and round-trips.
TEST(ApiJsonTest, FreezeRoundTrips) {
  EXPECT_EQ(ToJson(FreezeState{}), Json({{"frozen", false}}));
  const FreezeState on{true, "incident 7", "oncall", kT};
  const Json j = ToJson(on);
  EXPECT_EQ(j, Json({{"frozen", true},
                     {"reason", "incident 7"},
                     {"by", "oncall"},
                     {"since", FormatRfc3339Ms(kT)}}));
  EXPECT_EQ(ToJson(RoundTrip(on)), j);
  StatusSummary s;
  s.freeze = on;
  EXPECT_EQ(ToJson(s)["freeze"], j);
  EXPECT_EQ(RoundTrip(s).freeze.reason, "incident 7");
}

// The request bodies of PUT /v1/freeze and POST /v1/layers/{scope}/revert:
// the expected shape, or invalid_argument showing it.
TEST(ApiJsonTest, FreezeAndRevertRequests) {
  auto freeze = ParseSetFreezeRequest(R"({"frozen": true, "reason": "x"})");
  ASSERT_TRUE(freeze.ok());
  EXPECT_TRUE(freeze->frozen);
  EXPECT_EQ(freeze->reason, "x");
  EXPECT_FALSE(ParseSetFreezeRequest(R"({"frozen": false})")->frozen);
  for (const char* bad : {"", "[]", R"({"reason": "x"})", R"({"frozen": "yes"})",
                          R"({"frozen": true, "why": "x"})"}) {
    EXPECT_EQ(ParseSetFreezeRequest(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  auto revert = ParseRevertRequest(R"({"toRevision": 3, "reason": "x"})");
  ASSERT_TRUE(revert.ok());
  EXPECT_EQ(revert->to_revision, 3);
  EXPECT_EQ(revert->reason, "x");
  for (const char* bad : {"{}", R"({"toRevision": 0})", R"({"toRevision": "3"})",
                          R"({"toRevision": 1.5})", R"({"toRevision": 2, "scope": "global"})"}) {
    EXPECT_EQ(ParseRevertRequest(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// An audit entry without scope, revision or token leaves those keys out and
// round-trips to the millisecond through timeMs.
TEST(ApiJsonTest, AuditEntry) {
  const AuditEntry a{41, kT + 123, "admin", "", "status", "", 0, "ok", ""};
  const Json j = ToJson(a);
  for (const char* key : {"tokenId", "scope", "revision", "summary"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["time"], "2026-11-27T07:31:49Z");
  EXPECT_EQ(RoundTrip(a).time_ms, kT + 123);
  EXPECT_EQ(ToJson(RoundTrip(a)), j);
}

// A token never expiring and never revoked has no such times; an issued
// token carries its secret as "token".
TEST(ApiJsonTest, Tokens) {
  const Token t{"tok1", "ci", {"config:read"}, kT, 0, 0};
  const Json j = ToJson(t);
  EXPECT_FALSE(j.contains("expiresAt"));
  EXPECT_FALSE(j.contains("revokedAt"));
  EXPECT_EQ(j["revoked"], false);
  EXPECT_FALSE(j.contains("token"));
  const IssuedToken issued{{"tok2", "ci", {"admin"}, kT, kT + 3'600'000, 0}, "omr_secret"};
  const Json ij = ToJson(issued);
  EXPECT_EQ(ij["token"], "omr_secret");
  EXPECT_EQ(ij["id"], "tok2");
  const IssuedToken back = RoundTrip(issued);
  EXPECT_EQ(back.secret, "omr_secret");
  EXPECT_EQ(back.token.expires_at_ms, kT + 3'600'000);
  const Token revoked{"tok3", "old", {}, kT, 0, kT};
  EXPECT_EQ(ToJson(revoked)["revoked"], true);
  // Finding 7: the list says each token's state.
  EXPECT_EQ(j["state"], "active");
  EXPECT_EQ(ToJson(revoked)["state"], "revoked");
  const Token expired{"tok4", "old", {}, 1'000, 2'000, 0};  // expired in 1970
  EXPECT_EQ(ToJson(expired)["state"], "expired");
  EXPECT_EQ(RoundTrip(revoked).revoked_at_ms, kT);
}

// The effective view embeds its spec as JSON and round-trips.
TEST(ApiJsonTest, EffectiveView) {
  const EffectiveView e{3, R"({"clusters":{}})", {"shadowing"}};
  EXPECT_TRUE(ToJson(e)["spec"].is_object());
  EXPECT_EQ(ToJson(RoundTrip(e)), ToJson(e));
}

// A layer context: the chain as one comma string, the layer as GET
// /v1/layers/{scope} answers it (left out when there is none), both specs
// always present as JSON objects.
TEST(ApiJsonTest, LayerContext) {
  LayerContext c{"cell:euw1-a", "global,region:eu-west,cell:euw1-a",
                 Layer{"cell:euw1-a", 4, R"({"kind":"ConfigLayer"})", kT, "ops"},
                 R"({"dispatcher":{"maxConcurrentRequests":600}})", "{}"};
  const Json j = ToJson(c);
  EXPECT_EQ(j["scopeChain"], "global,region:eu-west,cell:euw1-a");
  EXPECT_EQ(j["layer"], ToJson(*c.layer));
  EXPECT_EQ(j["effectiveSpec"]["dispatcher"]["maxConcurrentRequests"], 600);
  EXPECT_EQ(j["inheritedSpec"], Json::object());
  EXPECT_EQ(ToJson(RoundTrip(c)), j);

  c.layer.reset();
  c.inherited_spec_json.clear();  // "none" is still an empty object
  EXPECT_FALSE(ToJson(c).contains("layer"));
  EXPECT_EQ(ToJson(c)["inheritedSpec"], Json::object());
  EXPECT_FALSE(RoundTrip(c).layer.has_value());
}

// An error body: the first diagnostic's code, details only with diagnostics.
TEST(ApiJsonTest, ErrorJson) {
  const Json invalid = ErrorJson(
      Status(StatusCode::kInvalid, "refused", {{"/spec/routes/a", DiagCode::kWeightsSum, "110"}}));
  EXPECT_EQ(invalid["code"], "weights_sum");
  EXPECT_EQ(invalid["details"]["errors"][0]["path"], "/spec/routes/a");
  const Json conflict = ErrorJson(Status(StatusCode::kConflict, "moved on"));
  EXPECT_EQ(conflict["code"], "conflict");
  EXPECT_FALSE(conflict.contains("details"));
}

// A field of the wrong type is refused, naming the field.
TEST(ApiJsonTest, FromJsonRefusesWrongTypes) {
  Node n;
  const Status s = FromJson(Json{{"nodeId", 7}}, &n);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("nodeId"), std::string::npos) << s.message();
  Revision r;
  EXPECT_FALSE(FromJson(Json{{"action", "rename"}}, &r).ok());
  Diagnostic d;
  EXPECT_FALSE(FromJson(Json{{"code", "no_such_code"}}, &d).ok());
  Token t;
  EXPECT_FALSE(FromJson(Json{{"createdAt", "yesterday"}}, &t).ok());
  EXPECT_FALSE(FromJson(Json::array(), &t).ok());
  WriteResult w;
  EXPECT_FALSE(FromJson(Json{{"errors", {{{"code", 1}}}}}, &w).ok());
}

// The token request body: name and scopes required, ttlSeconds optional
// (a whole number >= 0); anything else is invalid_argument, never a throw.
TEST(ApiJsonTest, CreateTokenRequestParsesOnlyItsShape) {
  auto ok = ParseCreateTokenRequest(R"({"name":"ci","scopes":["config:read"],"ttlSeconds":60})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->name, "ci");
  EXPECT_EQ(ok->scopes, std::vector<std::string>{"config:read"});
  EXPECT_EQ(ok->ttl_seconds, 60);
  auto no_ttl = ParseCreateTokenRequest(R"({"name":"ci","scopes":[]})");
  ASSERT_TRUE(no_ttl.ok());
  EXPECT_EQ(no_ttl->ttl_seconds, 0);
  for (const char* bad :
       {R"({"name":"ci","scopes":["a"],"ttlSeconds":"60"})",
        R"({"name":"ci","scopes":["a"],"ttlSeconds":-1})",
        R"({"name":"ci","scopes":["a"],"ttlSeconds":1.5})", R"({"name":"ci","scopes":[1]})",
        R"({"name":1,"scopes":[]})", R"({"scopes":[]})",
        R"({"name":"ci","scopes":[],"extra":true})", "[]", "", "{"}) {
    auto r = ParseCreateTokenRequest(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace omnirelay::api
