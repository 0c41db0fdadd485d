// Guardrails through every face (api_cases.h): the change limit
// (change_too_large, allowLargeChange) on plain writes and rollouts, dry runs
// reporting it, a write forced past a rollout's hold, and a rollout's dry run
// naming the nodes that would refuse it (capability gating); audited.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api_cases.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

// The global sample without its shadow (so nodes without "shadowing" take
// it), plus `extra` bulk clusters.
std::string Global(int extra, int max_requests = 0) {
  Json doc = Json::parse(LayerDoc("global"));
  for (auto& [name, route] : doc["spec"]["routes"].items()) route.erase("shadow");
  doc["metadata"]["features"] = Json::array();
  for (int i = 0; i < extra; ++i) {
    doc["spec"]["clusters"]["bulk-" + std::to_string(i)] = {{"service", "bulk"}};
  }
  if (max_requests > 0) doc["spec"]["dispatcher"]["maxConcurrentRequests"] = max_requests;
  return doc.dump();
}

std::string StartBody(const std::string& layer) {
  return Json{{"layers", Json::array({Json::parse(layer)})},
              {"policy", {{"canaryPercent", 50}, {"bakeMs", 600000}}}}
      .dump();
}

const Json& Errors(const Reply& r) {
  static const Json kNone = Json::array();
  if (r.body.contains("details") && r.body["details"].is_object()) {
    return r.body["details"]["errors"];
  }
  return r.body.contains("errors") ? r.body["errors"] : kNone;
}

// change_too_large at /spec, saying the count, the limit and the way past it.
void TooLarge(const Reply& r) {
  const Json& errors = Errors(r);
  ASSERT_EQ(errors.size(), 1u) << r.body.dump();
  EXPECT_EQ(errors[0]["code"], "change_too_large");
  EXPECT_EQ(errors[0]["path"], "/spec");
  const std::string message = errors[0].value("message", "");
  EXPECT_NE(message.find("250 named entries"), std::string::npos) << message;
  EXPECT_NE(message.find("limit of 200"), std::string::npos) << message;
  EXPECT_NE(message.find("allow-large-change"), std::string::npos) << message;
}

const std::map<std::string, std::string> kAllow = {{"allowLargeChange", "true"}};
const std::map<std::string, std::string> kForce = {{"force", "true"}};

}  // namespace

void RunGuardrailCases(Stack& stack, ApiClient& client) {
  stack.EnableRollouts();
  const std::string admin = stack.Token({"admin"});
  // Two nodes on the global chain without "shadowing", one with it.
  for (const auto& [id, features] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"old-1", {}}, {"old-2", {}}, {"new-1", {"shadowing"}}}) {
    NodeRecord node;
    node.node_id = id;
    node.scope_chain = "global";
    node.api_version = "omnirelay.config/v1";
    node.features = features;
    ASSERT_TRUE(stack.store().UpsertNode(node).ok());
  }
  const std::string base = Global(0);
  const std::string big = Global(250);               // +250 clusters
  const std::string shadowing = LayerDoc("global");  // needs "shadowing"

  Run(client, admin,
      {{"global at revision 1", {Op::kPutLayer, "global", base}, StatusCode::kOk, ""},
       {"a write of 250 new clusters is over the limit of 200",
        {Op::kPutLayer, "global", big},
        StatusCode::kInvalid,
        "change_too_large",
        [](const Reply& r) {
          TooLarge(r);
          EXPECT_NE(r.body.value("message", "").find("(a large change needs allow-large-change)"),
                    std::string::npos)
              << r.body.dump();
        }},
       {"its dry run reports it",
        {Op::kPutLayer, "global", big, std::nullopt, /*dry_run=*/true},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["dryRun"], true);
          EXPECT_EQ(r.body["valid"], false);
          TooLarge(r);
        }},
       {"the dry run with allowLargeChange passes",
        {Op::kPutLayer, "global", big, std::nullopt, true, false, kAllow},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["valid"], true) << r.body.dump(); }},
       {"a rollout of it is refused the same way",
        {Op::kStartRollout, "", StartBody(big), std::nullopt, true},
        StatusCode::kInvalid,
        "change_too_large",
        TooLarge},
       {"a rollout's dry run with allowLargeChange passes",
        {Op::kStartRollout, "", StartBody(big), std::nullopt, true, false, kAllow},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["dryRun"], true) << r.body.dump(); }},
       {"written with allowLargeChange: revision 2",
        {Op::kPutLayer, "global", big, std::nullopt, false, false, kAllow},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 2); }},
       {"a small change passes without it (revision 3)",
        {Op::kPutLayer, "global", Global(250, 7)},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 3); }},
       {"deleting the 250 is large too",
        {Op::kPutLayer, "global", Global(0, 7), std::nullopt, true},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(Errors(r)[0]["code"], "change_too_large"); }},
       {"a rollout's dry run names the nodes that would refuse it",
        {Op::kStartRollout, "", StartBody(shadowing), std::nullopt, true, false, kAllow},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["dryRun"], true);
          ASSERT_EQ(r.body["blockedNodes"].size(), 2u) << r.body.dump();
          std::set<std::string> ids;
          for (const Json& b : r.body["blockedNodes"]) {
            ids.insert(b["nodeId"].get<std::string>());
            EXPECT_EQ(b["scopeChain"], "global");
            EXPECT_EQ(b["missing"], Json::array({"shadowing"}));
            EXPECT_NE(b.value("reason", "").find("shadowing"), std::string::npos);
          }
          EXPECT_EQ(ids, (std::set<std::string>{"old-1", "old-2"}));
        }},
       {"a start is refused missing_feature",
        {Op::kStartRollout, "", StartBody(shadowing), std::nullopt, false, false, kAllow},
        StatusCode::kMissingFeature,
        "missing_feature"},
       {"a plain write's dry run lists what each node misses",
        {Op::kPutLayer, "global", shadowing, std::nullopt, true, false, kAllow},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          ASSERT_EQ(r.body["blockedNodes"].size(), 2u) << r.body.dump();
          EXPECT_EQ(r.body["blockedNodes"][0]["missing"], Json::array({"shadowing"}));
        }}});

  // A rollout holds the chain: a plain write needs force.
  Json started;
  Run(client, admin,
      {{"a rollout holds global",
        {Op::kStartRollout, "", StartBody(Global(250, 8))},
        StatusCode::kOk,
        "",
        [&](const Reply& r) { started = r.body; }},
       {"a plain write is refused, naming --force",
        {Op::kPutLayer, "global", Global(250, 9)},
        StatusCode::kRolloutInProgress,
        "rollout_in_progress",
        [](const Reply& r) {
          EXPECT_NE(r.body.value("message", "").find("--force"), std::string::npos)
              << r.body.dump();
        }},
       {"forced, it passes",
        {Op::kPutLayer, "global", Global(250, 9), std::nullopt, false, false, kForce},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_GT(r.body["revision"].get<int>(), 3) << r.body.dump(); }},
       {"a delete is refused too",
        {Op::kDeleteLayer, "global"},
        StatusCode::kRolloutInProgress,
        "rollout_in_progress"},
       {"a forced delete's dry run passes the hold (and reports the rest)",
        {Op::kDeleteLayer, "global", "", std::nullopt, true, true, kForce},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["dryRun"], true) << r.body.dump(); }}});
  ASSERT_TRUE(started.contains("id")) << started.dump();

  // Audited: the large write passed anyway, and the forced write.
  stack.service().FlushAudit();
  auto entries = stack.store().QueryAudit(0, 0, 100000);
  ASSERT_TRUE(entries.ok());
  int large = 0, forced = 0;
  for (const auto& e : *entries) {
    if (e.action == "layer.put" && e.outcome == "ok") {
      large +=
          e.summary.find("allow-large-change: 250 named entries, limit 200") != std::string::npos;
      forced +=
          e.summary.find("forced past rollout " + started.value("id", "")) != std::string::npos;
    }
  }
  EXPECT_EQ(large, 1);
  EXPECT_EQ(forced, 1);
}

}  // namespace omnirelay::cp::testing
