// The layer context read through every face (api_cases.h).
#include <gtest/gtest.h>

#include "api_cases.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

std::string DispatcherLayer(const std::string& scope, int max_concurrent) {
  return Json{{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", scope}}},
              {"spec", {{"dispatcher", {{"maxConcurrentRequests", max_concurrent}}}}}}
      .dump();
}

int MaxConcurrent(const Json& spec) {
  return spec["dispatcher"].value("maxConcurrentRequests", -1);
}

}  // namespace

void RunLayerContextCases(Stack& stack, ApiClient& client) {
  const std::string admin = stack.Token({"admin"});
  const std::string reader = stack.Token({"config:read"}, "context-reader");
  const std::string unknown_code = "unknown_scope";

  Run(client, reader,
      {{"before any layer, global is its own chain and sees nothing",
        {Op::kLayerContext, "global"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["scope"], "global");
          EXPECT_EQ(r.body["scopeChain"], "global");
          EXPECT_FALSE(r.body.contains("layer")) << r.body.dump();
          EXPECT_EQ(r.body["effectiveSpec"], Json::object());
          EXPECT_EQ(r.body["inheritedSpec"], Json::object());
        }},
       {"without a topology no region is placed",
        {Op::kLayerContext, "region:eu-west"},
        StatusCode::kInvalid,
        unknown_code}});

  // global (topology: eu-west > euw1-a > euw1-a-prod), region, cluster: revisions 1, 2, 3.
  ASSERT_EQ(client.Do({Op::kPutLayer, "global", LayerDoc("global"), 0}, admin).code,
            StatusCode::kOk);
  ASSERT_EQ(
      client.Do({Op::kPutLayer, "region:eu-west", DispatcherLayer("region:eu-west", 600), 0}, admin)
          .code,
      StatusCode::kOk);
  ASSERT_EQ(client
                .Do({Op::kPutLayer, "cluster:euw1-a-prod",
                     DispatcherLayer("cluster:euw1-a-prod", 300), 0},
                    admin)
                .code,
            StatusCode::kOk);
  NodeRecord node;
  node.node_id = "edge-1";
  node.scope_chain = "global,region:eu-west,cell:euw1-a,node:edge-1";
  node.api_version = "omnirelay.config/v1";
  node.health_json = "{}";
  ASSERT_TRUE(stack.store().UpsertNode(node).ok());

  Run(client, reader,
      {{"a cluster scope: the topology's chain, its layer, what it sees and inherits",
        {Op::kLayerContext, "cluster:euw1-a-prod"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["scope"], "cluster:euw1-a-prod");
          EXPECT_EQ(r.body["scopeChain"], "global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod");
          EXPECT_EQ(r.body["layer"]["scope"], "cluster:euw1-a-prod");
          EXPECT_EQ(r.body["layer"]["revision"], 3);
          EXPECT_FALSE(r.body["layer"]["author"].get<std::string>().empty());
          EXPECT_EQ(r.body["layer"]["document"]["metadata"]["scope"], "cluster:euw1-a-prod");
          EXPECT_EQ(MaxConcurrent(r.body["effectiveSpec"]), 300);
          EXPECT_EQ(MaxConcurrent(r.body["inheritedSpec"]), 600);
          // The global layer's routes reach both.
          EXPECT_TRUE(r.body["effectiveSpec"]["routes"].contains("billing")) << r.body.dump();
          EXPECT_TRUE(r.body["inheritedSpec"]["routes"].contains("billing")) << r.body.dump();
        }},
       {"a placed scope with no layer sees what it inherits",
        {Op::kLayerContext, "cell:euw1-a"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["scopeChain"], "global,region:eu-west,cell:euw1-a");
          EXPECT_FALSE(r.body.contains("layer")) << r.body.dump();
          EXPECT_EQ(MaxConcurrent(r.body["effectiveSpec"]), 600);
          EXPECT_EQ(r.body["effectiveSpec"], r.body["inheritedSpec"]);
        }},
       {"global inherits nothing",
        {Op::kLayerContext, "global"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["scopeChain"], "global");
          EXPECT_EQ(r.body["layer"]["revision"], 1);
          EXPECT_EQ(r.body["inheritedSpec"], Json::object());
          EXPECT_TRUE(r.body["effectiveSpec"]["routes"].contains("billing")) << r.body.dump();
        }},
       {"a node scope: the chain its node said when it connected",
        {Op::kLayerContext, "node:edge-1"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["scopeChain"], "global,region:eu-west,cell:euw1-a,node:edge-1");
          EXPECT_FALSE(r.body.contains("layer")) << r.body.dump();
          EXPECT_EQ(MaxConcurrent(r.body["effectiveSpec"]), 600);
        }},
       {"a cluster scope the topology does not place is unknown_scope, named",
        {Op::kLayerContext, "cluster:nowhere"},
        StatusCode::kInvalid,
        unknown_code,
        [](const Reply& r) {
          EXPECT_NE(r.body["message"].get<std::string>().find("topology.placements.nowhere"),
                    std::string::npos)
              << r.body.dump();
          EXPECT_EQ(r.body["details"]["errors"][0]["path"], "/metadata/scope");
        }},
       {"a node never seen is unknown_scope",
        {Op::kLayerContext, "node:ghost"},
        StatusCode::kInvalid,
        unknown_code},
       {"a scope that is no scope",
        {Op::kLayerContext, "zone:x"},
        StatusCode::kInvalidArgument,
        "invalid_argument"}});

  // One call, one audit entry: the context read itself, not the reads inside it.
  struct Audited {
    std::string scope;
    std::int64_t revision;  // the layer's, when read
    bool ok;
  };
  for (const Audited& want :
       {Audited{"cluster:euw1-a-prod", 3, true}, Audited{"cell:euw1-a", 0, true},
        Audited{"cluster:nowhere", 0, false}}) {
    SCOPED_TRACE(want.scope);
    const std::int64_t last = LastAuditId(stack);
    client.Do({Op::kLayerContext, want.scope}, reader);
    const std::vector<AuditEntry> entries = AuditSince(stack, last);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].action, "layer.context");
    EXPECT_EQ(entries[0].scope, want.scope);
    EXPECT_EQ(entries[0].principal, "context-reader");
    EXPECT_EQ(entries[0].revision, want.revision);
    EXPECT_EQ(entries[0].outcome == "ok", want.ok) << entries[0].outcome;
    EXPECT_FALSE(api::IsWriteAction(entries[0].action));
  }
}

}  // namespace omnirelay::cp::testing
