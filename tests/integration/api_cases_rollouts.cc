// Rollouts through every face (api_cases.h): start, dry run, read, list,
// operator actions, the overlap refusal and the scopes each call needs.
#include <gtest/gtest.h>

#include "api_cases.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

// A POST /v1/rollouts body putting `layer`.
std::string StartBody(const std::string& layer, const Json& policy, const std::string& reason) {
  return Json{{"layers", Json::array({Json::parse(layer)})}, {"policy", policy}, {"reason", reason}}
      .dump();
}

Call Action(const std::string& id, const std::string& action) {
  return {Op::kRolloutAction, id, action, std::nullopt, false, false, {{"reason", "a test"}}};
}

std::function<void(const Reply&)> InState(std::string state) {
  return [state](const Reply& r) { EXPECT_EQ(r.body["state"], state) << r.body.dump(); };
}

}  // namespace

void RunRolloutCases(Stack& stack, ApiClient& client) {
  stack.EnableRollouts();
  const std::string admin = stack.Token({"admin"});
  const std::string reader = stack.Token({"config:read"}, "reader");
  const std::string oncall = stack.Token({"rollout:write"}, "oncall");
  const std::string global = LayerDoc("global");
  const std::string changed =
      LayerDoc("global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 7; });
  // Nodes the store knows on the touched chain: the rollout's members.
  for (int i = 0; i < 4; ++i) {
    NodeRecord node;
    node.node_id = "n-" + std::to_string(i);
    node.scope_chain = "global";
    node.api_version = "omnirelay.config/v1";
    node.features = {"shadowing"};
    ASSERT_TRUE(stack.store().UpsertNode(node).ok());
  }
  const Json policy = {{"canaryPercent", 25}, {"bakeMs", 600000}};
  const std::string body = StartBody(changed, policy, "fewer requests");

  Json started;
  Run(client, admin,
      {{"global at revision 1", {Op::kPutLayer, "global", global}, StatusCode::kOk, ""},
       {"a dry run plans the waves and commits nothing",
        {Op::kStartRollout, "", body, std::nullopt, /*dry_run=*/true},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["dryRun"], true);
          EXPECT_EQ(r.body["version"], 2);
          EXPECT_EQ(r.body["previousVersion"], 1);
          ASSERT_EQ(r.body["waves"].size(), 2u) << r.body.dump();
          EXPECT_EQ(r.body["waves"][0]["kind"], "canary");
        }},
       {"no rollout after the dry run",
        {Op::kListRollouts},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["rollouts"], Json::array()) << r.body.dump(); }},
       {"global still at revision 1",
        {Op::kGetLayer, "global"},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 1); }},
       {"an empty change set is invalid_argument",
        {Op::kStartRollout, "", R"({"layers": []})"},
        StatusCode::kInvalidArgument,
        "invalid_argument"},
       {"a bad policy is invalid with its pointer",
        {Op::kStartRollout, "", StartBody(changed, {{"canaryPercent", 101}}, "")},
        StatusCode::kInvalid,
        "out_of_range"},
       {"start: the canary is assigned revision 2",
        {Op::kStartRollout, "", body},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          started = r.body;
          EXPECT_FALSE(r.body.contains("dryRun")) << r.body.dump();
          EXPECT_EQ(r.body["state"], "running");
          EXPECT_EQ(r.body["version"], 2);
          EXPECT_EQ(r.body["previousVersion"], 1);
          EXPECT_EQ(r.body["scopes"], Json::array({"global"}));
          EXPECT_EQ(r.body["reason"], "fewer requests");
          EXPECT_EQ(r.body["currentWave"], 0);
          ASSERT_EQ(r.body["waves"].size(), 2u) << r.body.dump();
          EXPECT_EQ(r.body["waves"][0]["state"], "baking");
          EXPECT_EQ(r.body["waves"][0]["assignedNew"], r.body["waves"][0]["nodes"]);
          EXPECT_EQ(r.body["waves"][1]["assignedNew"], 0);
          EXPECT_EQ(r.body["waves"][0]["nodes"].get<int>() + r.body["waves"][1]["nodes"].get<int>(),
                    4);
        }}});
  const std::string id = started.value("id", "");
  ASSERT_FALSE(id.empty()) << started.dump();

  Run(client, reader,
      {{"a read token reads it: what the start answered",
        {Op::kGetRollout, id},
        StatusCode::kOk,
        "",
        [&](const Reply& r) { EXPECT_EQ(r.body, started); }},
       {"and lists it",
        {Op::kListRollouts},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          ASSERT_EQ(r.body["rollouts"].size(), 1u) << r.body.dump();
          EXPECT_EQ(r.body["rollouts"][0], started);
        }},
       {"and the status shows it at its wave",
        {Op::kStatus},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body["rollouts"], Json::array({{{"id", id},
                                                      {"version", 2},
                                                      {"state", "running"},
                                                      {"currentWave", 0},
                                                      {"waveCount", 2}}}))
              << r.body.dump();
        }},
       {"a read token cannot act", Action(id, "pause"), StatusCode::kPermissionDenied,
        "permission_denied"},
       {"nor start one",
        {Op::kStartRollout, "", body},
        StatusCode::kPermissionDenied,
        "permission_denied"},
       {"an unknown id is not_found",
        {Op::kGetRollout, "ro-0000000000"},
        StatusCode::kNotFound,
        "not_found"}});

  Run(client, admin,
      {{"a second rollout on the held chain is refused",
        {Op::kStartRollout, "", body},
        StatusCode::kRolloutInProgress,
        "rollout_in_progress"},
       {"so is a plain write",
        {Op::kPutLayer, "global", global},
        StatusCode::kRolloutInProgress,
        "rollout_in_progress"}});

  Json rolled_back;
  Run(client, oncall,
      {{"pause", Action(id, "pause"), StatusCode::kOk, "", InState("paused")},
       {"pausing again is a conflict", Action(id, "pause"), StatusCode::kConflict, "conflict"},
       {"resume", Action(id, "resume"), StatusCode::kOk, "", InState("running")},
       {"promote moves to the last wave", Action(id, "promote"), StatusCode::kOk, "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["currentWave"], 1);
          EXPECT_EQ(r.body["waves"][0]["state"], "passed");
          EXPECT_EQ(r.body["waves"][1]["assignedNew"], r.body["waves"][1]["nodes"]);
        }},
       {"an operator's rollback commits at once", Action(id, "rollback"), StatusCode::kOk, "",
        InState("rolled_back")},
       {"an unknown id is not_found", Action("ro-0000000000", "abort"), StatusCode::kNotFound,
        "not_found"}});
  stack.TickRollouts();  // a driver pass changes nothing more
  Run(client, admin,
      {{"rolled back: the old content as a new, higher revision",
        {Op::kGetRollout, id},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          rolled_back = r.body;
          EXPECT_EQ(r.body["state"], "rolled_back");
          EXPECT_EQ(r.body["rollbackReason"], "operator");
          EXPECT_EQ(r.body["rollbackVersion"], 3);
        }},
       {"global at revision 3 has revision 1's content",
        {Op::kGetLayer, "global"},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body["revision"], 3);
          EXPECT_EQ(r.body["document"]["spec"]["dispatcher"],
                    Json::parse(global)["spec"]["dispatcher"]);
        }},
       {"a finished rollout refuses actions", Action(id, "abort"), StatusCode::kConflict,
        "conflict"},
       {"and holds nothing: a plain write passes (revision 4)",
        {Op::kPutLayer, "global", changed},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 4); }}});

  // Audited: the start with its id, the dry run, each action and refusal.
  stack.service().FlushAudit();
  auto entries = stack.store().QueryAudit(0, 0, 100000);
  ASSERT_TRUE(entries.ok());
  auto count = [&](const std::string& action, const std::string& outcome) {
    int n = 0;
    for (const auto& e : *entries) n += e.action == action && e.outcome == outcome;
    return n;
  };
  EXPECT_EQ(count("rollout.start", "ok"), 1);
  EXPECT_EQ(count("rollout.start.dry_run", "ok"), 1);
  EXPECT_EQ(count("rollout.start", "rollout_in_progress"), 1);
  EXPECT_EQ(count("rollout.start", "permission_denied"), 1);
  EXPECT_EQ(count("rollout.pause", "ok"), 1);
  EXPECT_EQ(count("rollout.pause", "conflict"), 1);
  EXPECT_EQ(count("rollout.pause", "permission_denied"), 1);
  EXPECT_GE(count("rollout.rollback", "ok"), 1);
  EXPECT_EQ(count("rollout.abort", "not_found"), 1);
}

}  // namespace omnirelay::cp::testing
