#include "api_cases.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace omnirelay::cp::testing {

void Run(ApiClient& client, const std::string& token, const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Reply r = client.Do(c.call, token);
    EXPECT_EQ(r.code, c.want) << status_code_name(r.code) << " " << r.body.dump();
    if (!c.want_error_code.empty()) {
      EXPECT_EQ(r.error_code, c.want_error_code) << r.body.dump();
    }
    if (c.check && r.code == c.want) c.check(r);
  }
}

std::vector<AuditEntry> AuditSince(Stack& stack, std::int64_t after_id) {
  stack.service().FlushAudit();
  auto entries = stack.store().QueryAudit(0, after_id, 100000);
  EXPECT_TRUE(entries.ok()) << entries.status().ToString();
  return entries.ok() ? *entries : std::vector<AuditEntry>{};
}

std::int64_t LastAuditId(Stack& stack) {
  const std::vector<AuditEntry> all = AuditSince(stack, 0);
  return all.empty() ? 0 : all.back().id;
}

namespace {

using Json = nlohmann::json;

// The first error's pointer in a reply's details.
std::string FirstPath(const Reply& r) {
  const Json* errors = nullptr;
  if (r.body.contains("details") && r.body["details"].is_object()) {
    errors = &r.body["details"]["errors"];
  } else if (r.body.contains("errors")) {
    errors = &r.body["errors"];
  }
  return errors && !errors->empty() ? (*errors)[0].value("path", "") : "";
}

}  // namespace

void RunBehaviourCases(Stack& stack, ApiClient& client) {
  const std::string admin = stack.Token({"admin"});
  const std::string global = LayerDoc("global");
  const std::string dangling = LayerDoc("global", [](Json& spec) {
    spec["routes"]["billing"]["weights"] = {{"billing-v1", 90}, {"billing-v3", 10}};
  });
  const std::string drop_v2 = LayerDoc("global", [](Json& spec) {
    spec["routes"]["billing"]["weights"] = {{"billing-v1", 100}};
    spec["clusters"].erase("billing-v2");
  });
  const std::string region = R"({"apiVersion":"omnirelay.config/v1","kind":"ConfigLayer",
    "metadata":{"scope":"region:eu-west"},"spec":{"dispatcher":{"maxConcurrentRequests":600}}})";

  Run(client, admin,
      {
          {"create global with expected 0",
           {Op::kPutLayer, "global", global, 0},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["revision"], 1); }},
          {"read it back",
           {Op::kGetLayer, "global"},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["revision"], 1);
             EXPECT_EQ(r.body["document"]["metadata"]["scope"], "global");
           }},
          {"create again with expected 0 conflicts",
           {Op::kPutLayer, "global", global, 0},
           StatusCode::kConflict,
           "conflict"},
          {"stale expected revision conflicts",
           {Op::kPutLayer, "global", global, 7},
           StatusCode::kConflict,
           "conflict"},
          {"update with the current revision",
           {Op::kPutLayer, "global", global, 1},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["revision"], 2); }},
          {"a dangling weight is refused with its pointer",
           {Op::kPutLayer, "global", dangling},
           StatusCode::kInvalid,
           "dangling_cluster",
           [](const Reply& r) {
             EXPECT_EQ(FirstPath(r), "/spec/routes/billing/weights/billing-v3");
           }},
          {"a document for another scope is refused",
           {Op::kPutLayer, "region:eu-west", global},
           StatusCode::kInvalid,
           "invalid_scope"},
          {"malformed JSON is a parse_error",
           {Op::kPutLayer, "global", "{\"apiVersion\":"},
           StatusCode::kInvalid,
           "parse_error"},
          {"an empty body says what is wrong and what to send",
           {Op::kPutLayer, "global", ""},
           StatusCode::kInvalid,
           "parse_error",
           [](const Reply& r) {
             ASSERT_EQ(r.body["details"]["errors"].size(), 1u) << r.body.dump();
             EXPECT_EQ(r.body["details"]["errors"][0]["path"], "");
             const std::string message = r.body["message"];
             EXPECT_EQ(message.rfind("empty body: send a ConfigLayer JSON document", 0), 0u)
                 << message;
           }},
          {"an unknown scope level is invalid_argument",
           {Op::kPutLayer, "zone:x", global},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"removing a routed cluster needs confirm",
           {Op::kPutLayer, "global", drop_v2},
           StatusCode::kInvalid,
           "destructive_change",
           [](const Reply& r) { EXPECT_EQ(FirstPath(r), "/spec/clusters/billing-v2"); }},
          {"a dry run reports without writing",
           {Op::kPutLayer, "global", drop_v2, std::nullopt, /*dry_run=*/true},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["dryRun"], true);
             EXPECT_EQ(r.body["valid"], false);
             EXPECT_EQ(r.body["errors"][0]["code"], "destructive_change");
             // The layer it would replace, for a diff without a read of its own.
             EXPECT_EQ(r.body["currentRevision"], 2);
             EXPECT_EQ(r.body["currentDocument"]["metadata"]["scope"], "global");
           }},
          {"still at revision 2 after the refusals",
           {Op::kGetLayer, "global"},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["revision"], 2); }},
          {"confirmed destructive change",
           {Op::kPutLayer, "global", drop_v2, 2, false, true},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["revision"], 3); }},
          {"a region layer", {Op::kPutLayer, "region:eu-west", region, 0}, StatusCode::kOk, ""},
          {"history lists revisions newest first",
           {Op::kHistory, "global"},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             ASSERT_EQ(r.body["revisions"].size(), 3u);
             EXPECT_EQ(r.body["revisions"][0]["revision"], 3);
           }},
          {"a history page of 2 names the next one",
           {Op::kHistory, "global", "", std::nullopt, false, false, {{"limit", "2"}}},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             ASSERT_EQ(r.body["revisions"].size(), 2u);
             EXPECT_EQ(r.body["revisions"][0]["revision"], 3);
             EXPECT_EQ(r.body["revisions"][1]["revision"], 2);
             EXPECT_EQ(r.body["nextBefore"], 2);
           }},
          {"the last page has no next cursor",
           {Op::kHistory,
            "global",
            "",
            std::nullopt,
            false,
            false,
            {{"before", "2"}, {"limit", "2"}}},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             ASSERT_EQ(r.body["revisions"].size(), 1u);
             EXPECT_EQ(r.body["revisions"][0]["revision"], 1);
             EXPECT_FALSE(r.body.contains("nextBefore")) << r.body.dump();
           }},
          {"a history limit of 0 is refused",
           {Op::kHistory, "global", "", std::nullopt, false, false, {{"limit", "0"}}},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"a history limit over 1000 is refused",
           {Op::kHistory, "global", "", std::nullopt, false, false, {{"limit", "1001"}}},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"a history cursor below 1 is refused",
           {Op::kHistory, "global", "", std::nullopt, false, false, {{"before", "0"}}},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"list layers",
           {Op::kListLayers},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["layers"].size(), 2u); }},
          {"an old revision is readable",
           {Op::kGetLayer, "global", "", 1},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["revision"], 1); }},
          {"an unknown layer is not_found",
           {Op::kGetLayer, "cell:nowhere"},
           StatusCode::kNotFound,
           "not_found"},
          {"validate a good document",
           {Op::kValidate, "", global},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["valid"], true); }},
          {"validate a bad document",
           {Op::kValidate, "", dangling},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["valid"], false);
             EXPECT_EQ(r.body["errors"][0]["code"], "dangling_cluster");
           }},
          {"effective config of a chain",
           {Op::kEffective, "global,region:eu-west"},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["version"], 4);
             EXPECT_EQ(r.body["spec"]["dispatcher"]["maxConcurrentRequests"], 600);
           }},
          {"an effective chain out of order",
           {Op::kEffective, "region:eu-west,global"},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"a node's snapshot by chain",
           {Op::kNodeSnapshot, "n-1", "global,region:eu-west"},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["payloadType"], "application/vnd.omnirelay.snapshot+json");
           }},
          {"an unknown node", {Op::kGetNode, "n-404"}, StatusCode::kNotFound, "not_found"},
          {"keys",
           {Op::kKeys},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_EQ(r.body["keys"].size(), 1u); }},
          {"status",
           {Op::kStatus},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["headRevision"], 4);
             // Every layer (as GET /v1/layers), and no rollout active.
             std::map<std::string, std::int64_t> layers;
             for (const auto& l : r.body["layers"]) layers[l["scope"]] = l["revision"];
             EXPECT_EQ(layers,
                       (std::map<std::string, std::int64_t>{{"global", 3}, {"region:eu-west", 4}}))
                 << r.body.dump();
             EXPECT_EQ(r.body["rollouts"], Json::array());
           }},
          {"audit",
           {Op::kAudit},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_GT(r.body["entries"].size(), 10u); }},
          {"audit: writes only",
           {Op::kAudit, "", "", std::nullopt, false, false, {{"writesOnly", "true"}}},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             std::size_t puts = 0;
             for (const auto& e : r.body["entries"]) {
               EXPECT_TRUE(api::IsWriteAction(e.value("action", ""))) << e.dump();
               if (e["action"] == "layer.put") ++puts;
             }
             EXPECT_GE(puts, 5u) << "refused writes are writes too";
           }},
          {"audit: one scope",
           {Op::kAudit, "", "", std::nullopt, false, false, {{"scope", "region:eu-west"}}},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             ASSERT_FALSE(r.body["entries"].empty());
             for (const auto& e : r.body["entries"]) EXPECT_EQ(e["scope"], "region:eu-west");
           }},
          {"audit: one action of one principal",
           {Op::kAudit,
            "",
            "",
            std::nullopt,
            false,
            false,
            {{"action", "layer.history"}, {"principal", "tester"}}},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             ASSERT_FALSE(r.body["entries"].empty());
             for (const auto& e : r.body["entries"]) {
               EXPECT_EQ(e["action"], "layer.history");
               EXPECT_EQ(e["principal"], "tester");
             }
           }},
          {"audit: a principal with no entries",
           {Op::kAudit, "", "", std::nullopt, false, false, {{"principal", "nobody"}}},
           StatusCode::kOk,
           "",
           [](const Reply& r) { EXPECT_TRUE(r.body["entries"].empty()); }},
          {"the audit chain holds over every entry so far",
           {Op::kVerifyAudit},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             EXPECT_EQ(r.body["ok"], true) << r.body.dump();
             EXPECT_GT(r.body.value("entries", 0), 10) << r.body.dump();
             EXPECT_EQ(r.body.value("beforeChain", -1), 0) << r.body.dump();
             EXPECT_EQ(r.body["head"]["hash"].get<std::string>().size(), 64u) << r.body.dump();
             EXPECT_FALSE(r.body.contains("firstBreak")) << r.body.dump();
           }},
          {"audit: a scope filter that is no scope",
           {Op::kAudit, "", "", std::nullopt, false, false, {{"scope", "galaxy:far"}}},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"a token with an unknown scope",
           {Op::kCreateToken, "ci", R"(["config:everything"])"},
           StatusCode::kInvalidArgument,
           "invalid_argument"},
          {"list tokens never shows secrets",
           {Op::kListTokens},
           StatusCode::kOk,
           "",
           [](const Reply& r) {
             for (const auto& t : r.body["tokens"]) {
               EXPECT_FALSE(t.contains("token"));
               EXPECT_FALSE(t.contains("secretHash"));
             }
           }},
          {"delete the region layer",
           {Op::kDeleteLayer, "region:eu-west", "", 4},
           StatusCode::kOk,
           ""},
          {"delete it again",
           {Op::kDeleteLayer, "region:eu-west"},
           StatusCode::kNotFound,
           "not_found"},
      });

  // A layer over the one document size limit (8 MiB, decode.h) is refused
  // without being parsed.
  const std::string huge = LayerDoc("global", [](Json& spec) {
    spec["security"]["jwksUri"] = "https://idp.example/" + std::string(9 << 20, 'a');
  });
  Run(client, admin,
      {{"too large", {Op::kPutLayer, "global", huge}, StatusCode::kTooLarge, "too_large"}});

  // A revoked token stops working at once.
  const std::string ci = stack.Token({"config:read"}, "ci");
  Run(client, ci, {{"the ci token reads", {Op::kListLayers}, StatusCode::kOk, ""}});
  Reply tokens = client.Do({Op::kListTokens}, admin);
  std::string ci_id;
  for (const auto& t : tokens.body["tokens"]) {
    if (t["name"] == "ci") ci_id = t["id"];
  }
  ASSERT_FALSE(ci_id.empty());
  Run(client, admin,
      {{"revoke the ci token",
        {Op::kRevokeToken, ci_id},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body["id"], ci_id);
          EXPECT_EQ(r.body["name"], "ci");
          EXPECT_EQ(r.body["revoked"], true);
        }},
       {"revoking it again is a conflict",
        {Op::kRevokeToken, ci_id},
        StatusCode::kConflict,
        "conflict"},
       {"an admin token may not be named node:<id>",
        {Op::kCreateToken, "node:foo", R"(["admin"])"},
        StatusCode::kInvalid,
        "invalid_name",
        [](const Reply& r) { EXPECT_EQ(FirstPath(r), "/name"); }},
       {"a config:write token may not be named node:<id>",
        {Op::kCreateToken, "node:foo", R"(["config:write"])"},
        StatusCode::kInvalid,
        "invalid_name"},
       {"a node token is named node:<id>",
        {Op::kCreateToken, "relay-1", R"(["node"])"},
        StatusCode::kInvalid,
        "invalid_name"},
       {"a name with a space",
        {Op::kCreateToken, "ci bot", R"(["config:read"])"},
        StatusCode::kInvalid,
        "invalid_name"},
       {"a deployer token",
        {Op::kCreateToken, "deployer", R"(["config:write"])"},
        StatusCode::kOk,
        ""},
       {"a second live deployer is a conflict",
        {Op::kCreateToken, "deployer", R"(["config:read"])"},
        StatusCode::kConflict,
        "conflict"},
       {"a dry-run revoke by name names the token and revokes nothing",
        {Op::kRevokeToken, "deployer", "", std::nullopt, /*dry_run=*/true},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["name"], "deployer");
          EXPECT_EQ(r.body["revoked"], false);
        }},
       {"revoke by name",
        {Op::kRevokeToken, "deployer"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["name"], "deployer");
          EXPECT_EQ(r.body["revoked"], true);
        }},
       {"revoking the name again is a conflict",
        {Op::kRevokeToken, "deployer"},
        StatusCode::kConflict,
        "conflict"},
       {"a dry run of that says so too",
        {Op::kRevokeToken, "deployer", "", std::nullopt, /*dry_run=*/true},
        StatusCode::kConflict,
        "conflict"},
       {"the name is free once revoked",
        {Op::kCreateToken, "deployer", R"(["config:read"])"},
        StatusCode::kOk,
        ""},
       {"an unknown token",
        {Op::kRevokeToken, "nobody-at-all"},
        StatusCode::kNotFound,
        "not_found"}});
  Run(client, ci,
      {{"a revoked token is unauthenticated",
        {Op::kListLayers},
        StatusCode::kUnauthenticated,
        "unauthenticated"}});
  Run(client, "",
      {{"no token is unauthenticated",
        {Op::kListLayers},
        StatusCode::kUnauthenticated,
        "unauthenticated"}});
}

void RunAuthzMatrix(Stack& stack, ApiClient& client) {
  stack.EnableRollouts();
  const std::string admin = stack.Token({"admin"});
  ASSERT_EQ(client.Do({Op::kPutLayer, "global", LayerDoc("global")}, admin).code, StatusCode::kOk);

  const std::vector<std::string> scopes = {"config:read", "config:write", "rollout:write",
                                           "audit:read",  "node",         "admin"};
  std::map<std::string, std::string> tokens;
  for (const auto& s : scopes) {
    tokens[s] = s == "node" ? stack.Token({s}, "node:n-1") : stack.Token({s}, "matrix-" + s);
  }
  const std::set<std::string> readers = {"config:read", "config:write", "admin"};
  const std::set<std::string> writers = {"config:write", "admin"};
  const std::set<std::string> auditors = {"audit:read", "admin"};
  const std::set<std::string> admins = {"admin"};
  const std::set<std::string> rollout_writers = {"rollout:write", "admin"};
  std::set<std::string> readers_and_node = readers;
  readers_and_node.insert("node");

  struct Row {
    Call call;
    std::set<std::string> allowed;
  };
  const std::vector<Row> rows = {
      {{Op::kListLayers}, readers},
      {{Op::kGetLayer, "global"}, readers},
      {{Op::kLayerContext, "global"}, readers},
      {{Op::kPutLayer, "global", LayerDoc("global"), std::nullopt, /*dry_run=*/true}, writers},
      {{Op::kDeleteLayer, "cell:nothing-here"}, writers},
      {{Op::kHistory, "global"}, readers},
      {{Op::kValidate, "", LayerDoc("global")}, readers},
      {{Op::kEffective, "global"}, readers},
      {{Op::kListNodes}, readers},
      {{Op::kGetNode, "n-1"}, readers},
      {{Op::kForgetNode, "n-404"}, admins},
      {{Op::kNodeSnapshot, "n-1", "global"}, readers_and_node},
      {{Op::kNodeSnapshot, "n-2", "global"}, readers},  // a node token reads only its own
      {{Op::kKeys}, readers_and_node},
      {{Op::kAudit}, auditors},
      {{Op::kVerifyAudit}, auditors},
      {{Op::kStatus}, readers},
      {{Op::kCreateToken, "matrix-made", R"(["config:read"])"}, admins},
      {{Op::kListTokens}, admins},
      {{Op::kRevokeToken, "no-such-token"}, admins},
      {{Op::kRevertLayer, "global", R"({"toRevision": 1})", std::nullopt, /*dry_run=*/true},
       writers},
      {{Op::kGetFreeze}, readers},
      {{Op::kSetFreeze, "", R"({"frozen": false})"}, rollout_writers},
      // A rollout writes layers: it needs rollout:write and config:write.
      {{Op::kStartRollout, "",
        Json{{"layers", Json::array({Json::parse(LayerDoc("global"))})}}.dump(), std::nullopt,
        /*dry_run=*/true},
       admins},
      {{Op::kListRollouts}, readers},
      {{Op::kGetRollout, "ro-0000000000"}, readers},
      {{Op::kRolloutAction, "ro-0000000000", "pause"}, rollout_writers},
  };
  for (const auto& row : rows) {
    for (const auto& scope : scopes) {
      SCOPED_TRACE(std::string(OpName(row.call.op)) + " " + row.call.scope + " with " + scope);
      Reply r = client.Do(row.call, tokens[scope]);
      if (row.allowed.contains(scope)) {
        EXPECT_NE(r.code, StatusCode::kPermissionDenied) << r.body.dump();
        EXPECT_NE(r.code, StatusCode::kUnauthenticated) << r.body.dump();
      } else {
        EXPECT_EQ(r.code, StatusCode::kPermissionDenied) << r.body.dump();
        EXPECT_EQ(r.error_code, "permission_denied");
      }
    }
    SCOPED_TRACE(std::string(OpName(row.call.op)) + " without a token");
    EXPECT_EQ(client.Do(row.call, "").code, StatusCode::kUnauthenticated);
  }

  // Every call above left an audit entry: denials carry their outcome.
  stack.service().FlushAudit();
  auto entries = stack.store().QueryAudit(0, 0, 100000);
  ASSERT_TRUE(entries.ok());
  std::size_t denied = 0, unauthenticated = 0;
  for (const auto& e : *entries) {
    if (e.outcome == "permission_denied") ++denied;
    if (e.outcome == "unauthenticated") ++unauthenticated;
  }
  std::size_t want_denied = 0;
  for (const auto& row : rows) want_denied += scopes.size() - row.allowed.size();
  EXPECT_EQ(denied, want_denied);
  EXPECT_EQ(unauthenticated, rows.size());
}

}  // namespace omnirelay::cp::testing
