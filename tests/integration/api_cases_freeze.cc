// config revert and the freeze switch through every face (api_cases.h).
#include <gtest/gtest.h>

#include "api_cases.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

std::string RevertBody(std::int64_t to, const std::string& reason = "") {
  Json body = {{"toRevision", to}};
  if (!reason.empty()) body["reason"] = reason;
  return body.dump();
}

std::string FreezeBody(bool frozen, const std::string& reason = "") {
  Json body = {{"frozen", frozen}};
  if (!reason.empty()) body["reason"] = reason;
  return body.dump();
}

// The reply's message contains `text`.
std::function<void(const Reply&)> Says(std::string text) {
  return [text](const Reply& r) {
    EXPECT_NE(r.body.value("message", "").find(text), std::string::npos) << r.body.dump();
  };
}

}  // namespace

void RunRevertAndFreezeCases(Stack& stack, ApiClient& client) {
  const std::string admin = stack.Token({"admin"});
  const std::string oncall = stack.Token({"rollout:write"}, "oncall");
  const std::string global = LayerDoc("global");
  const std::string busier =
      LayerDoc("global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 7; });
  const Json original_dispatcher = Json::parse(global)["spec"]["dispatcher"];
  const std::string region = R"({"apiVersion":"omnirelay.config/v1","kind":"ConfigLayer",
    "metadata":{"scope":"region:eu-west"},"spec":{"dispatcher":{"maxConcurrentRequests":600}}})";

  Run(client, admin,
      {{"global at revision 1", {Op::kPutLayer, "global", global}, StatusCode::kOk, ""},
       {"global at revision 2", {Op::kPutLayer, "global", busier}, StatusCode::kOk, ""},
       {"revert global to revision 1 writes revision 3",
        {Op::kRevertLayer, "global", RevertBody(1, "bad dispatcher")},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["revision"], 3);
          EXPECT_EQ(r.body["valid"], true);
        }},
       {"global has revision 1's content at revision 3",
        {Op::kGetLayer, "global"},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body["revision"], 3);
          EXPECT_EQ(r.body["document"]["spec"]["dispatcher"], original_dispatcher);
        }},
       {"region:eu-west at revision 4",
        {Op::kPutLayer, "region:eu-west", region},
        StatusCode::kOk,
        ""},
       {"a revision of another scope is not found, naming that scope",
        {Op::kRevertLayer, "global", RevertBody(4)},
        StatusCode::kNotFound,
        "not_found",
        Says("region:eu-west")},
       {"a revision the store does not have is not found",
        {Op::kRevertLayer, "global", RevertBody(99)},
        StatusCode::kNotFound,
        "not_found",
        Says("revision 99 is not a revision of global")},
       {"revision 0 is not a revision",
        {Op::kRevertLayer, "global", RevertBody(0)},
        StatusCode::kInvalidArgument,
        "invalid_argument"},
       {"a stale expected revision is a conflict",
        {Op::kRevertLayer, "global", RevertBody(2), 2},
        StatusCode::kConflict,
        "conflict"},
       {"a dry run reports and writes nothing",
        {Op::kRevertLayer, "global", RevertBody(2), std::nullopt, /*dry_run=*/true},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["dryRun"], true);
          EXPECT_FALSE(r.body.contains("revision")) << r.body.dump();
        }},
       {"still revision 3",
        {Op::kGetLayer, "global"},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 3); }},
       {"delete region:eu-west at revision 5",
        {Op::kDeleteLayer, "region:eu-west"},
        StatusCode::kOk,
        ""},
       {"revert it to revision 4 recreates it at revision 6",
        {Op::kRevertLayer, "region:eu-west", RevertBody(4)},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 6); }},
       {"revert to revision 5, a delete, deletes it at revision 7",
        {Op::kRevertLayer, "region:eu-west", RevertBody(5)},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 7); }},
       {"region:eu-west has no layer",
        {Op::kGetLayer, "region:eu-west"},
        StatusCode::kNotFound,
        "not_found"},
       {"reverting to a delete again has nothing to delete",
        {Op::kRevertLayer, "region:eu-west", RevertBody(5)},
        StatusCode::kNotFound,
        "not_found",
        Says("nothing to revert")},
       {"not frozen at first", {Op::kGetFreeze}, StatusCode::kOk, "", [](const Reply& r) {
          EXPECT_EQ(r.body, Json({{"frozen", false}}));
        }}});

  std::string since;
  Run(client, oncall,
      {{"freezing needs a reason",
        {Op::kSetFreeze, "", FreezeBody(true)},
        StatusCode::kInvalidArgument,
        "invalid_argument"},
       {"freeze",
        {Op::kSetFreeze, "", FreezeBody(true, "incident 7")},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body["frozen"], true);
          EXPECT_EQ(r.body["reason"], "incident 7");
          EXPECT_EQ(r.body["by"], "oncall");
          since = r.body.value("since", "");
          EXPECT_FALSE(since.empty()) << r.body.dump();
        }}});
  Run(client, admin,
      {{"the freeze reads back",
        {Op::kGetFreeze},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body, Json({{"frozen", true},
                                  {"reason", "incident 7"},
                                  {"by", "oncall"},
                                  {"since", since}}));
        }},
       {"status shows it",
        {Op::kStatus},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["freeze"]["reason"], "incident 7"); }},
       {"a plain write is frozen, naming who and why",
        {Op::kPutLayer, "global", global},
        StatusCode::kFrozen,
        "frozen",
        [](const Reply& r) {
          Says("oncall")(r);
          Says("incident 7")(r);
        }},
       {"so is its dry run",
        {Op::kPutLayer, "global", global, std::nullopt, /*dry_run=*/true},
        StatusCode::kFrozen,
        "frozen"},
       {"and a delete", {Op::kDeleteLayer, "global"}, StatusCode::kFrozen, "frozen"},
       {"a revert passes (revision 8)",
        {Op::kRevertLayer, "global", RevertBody(2, "fix forward")},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 8); }}});
  Run(client, oncall,
      {{"freezing again updates the reason, keeps since",
        {Op::kSetFreeze, "", FreezeBody(true, "incident 7, still")},
        StatusCode::kOk,
        "",
        [&](const Reply& r) {
          EXPECT_EQ(r.body["reason"], "incident 7, still");
          EXPECT_EQ(r.body["since"], since);
        }},
       {"unfreeze",
        {Op::kSetFreeze, "", FreezeBody(false)},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body, Json({{"frozen", false}}));
        }},
       {"unfreezing again is fine", {Op::kSetFreeze, "", FreezeBody(false)}, StatusCode::kOk, ""}});
  Run(client, admin,
      {{"status shows no freeze",
        {Op::kStatus},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_FALSE(r.body.contains("freeze")) << r.body.dump(); }},
       {"writes pass again (revision 9)",
        {Op::kPutLayer, "global", global},
        StatusCode::kOk,
        "",
        [](const Reply& r) { EXPECT_EQ(r.body["revision"], 9); }}});

  // Audited: the reverts with both revisions and the reason, the switch, the refusals.
  stack.service().FlushAudit();
  auto entries = stack.store().QueryAudit(0, 0, 100000);
  ASSERT_TRUE(entries.ok());
  auto find = [&](const std::string& action, const std::string& outcome,
                  const std::string& summary) -> const AuditEntry* {
    for (const auto& e : *entries) {
      if (e.action == action && e.outcome == outcome &&
          e.summary.find(summary) != std::string::npos) {
        return &e;
      }
    }
    return nullptr;
  };
  const AuditEntry* revert = find("layer.revert", "ok", "revert to revision 1 from revision 2");
  ASSERT_NE(revert, nullptr);
  EXPECT_EQ(revert->revision, 3);
  EXPECT_EQ(revert->scope, "global");
  EXPECT_NE(revert->summary.find("bad dispatcher"), std::string::npos) << revert->summary;
  EXPECT_NE(find("layer.revert", "ok", "revert to revision 5 from revision 6, a delete"), nullptr);
  EXPECT_NE(find("layer.revert", "not_found", "revert to revision 4"), nullptr);
  EXPECT_NE(find("layer.revert.dry_run", "ok", "revert to revision 2"), nullptr);
  const AuditEntry* set = find("freeze.set", "ok", "frozen: incident 7");
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->principal, "oncall");
  EXPECT_NE(find("freeze.set", "invalid_argument", "reason"), nullptr);
  EXPECT_NE(find("freeze.clear", "ok", "unfrozen (frozen by oncall"), nullptr);
  EXPECT_NE(find("layer.put", "frozen", "incident 7"), nullptr);
  EXPECT_NE(find("layer.put.dry_run", "frozen", "incident 7"), nullptr);
  EXPECT_NE(find("layer.delete", "frozen", "incident 7"), nullptr);
}

}  // namespace omnirelay::cp::testing
