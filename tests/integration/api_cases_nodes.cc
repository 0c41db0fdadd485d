// Forgetting a node through every face (api_cases.h).
#include <gtest/gtest.h>

#include <algorithm>

#include "api_cases.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;

// A node the store knows, as a hello leaves it; `connected` as the feed would set it.
void AddNode(Stack& stack, const std::string& id, bool connected) {
  NodeRecord node;
  node.node_id = id;
  node.scope_chain = "global,region:eu-west";
  node.api_version = "omnirelay.config/v1";
  node.health_json = "{}";
  node.connected = connected;
  ASSERT_TRUE(stack.store().UpsertNode(node).ok());
}

bool Listed(const Reply& nodes, const std::string& id) {
  const Json& list = nodes.body["nodes"];
  return std::any_of(list.begin(), list.end(),
                     [&](const Json& n) { return n.value("nodeId", "") == id; });
}

}  // namespace

void RunNodeForgetCases(Stack& stack, ApiClient& client) {
  const std::string admin = stack.Token({"admin"}, "forgetter");
  AddNode(stack, "gone-1", /*connected=*/false);
  AddNode(stack, "live-1", /*connected=*/true);
  const std::int64_t before = LastAuditId(stack);

  Run(client, admin,
      {{"an offline node is forgotten",
        {Op::kForgetNode, "gone-1"},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_EQ(r.body["nodeId"], "gone-1");
          EXPECT_EQ(r.body["forgotten"], true);
        }},
       {"a forgotten node is gone", {Op::kGetNode, "gone-1"}, StatusCode::kNotFound, "not_found"},
       {"a connected node is not forgotten",
        {Op::kForgetNode, "live-1"},
        StatusCode::kConflict,
        "conflict"},
       {"an unknown node", {Op::kForgetNode, "nobody-1"}, StatusCode::kNotFound, "not_found"},
       {"forgetting twice: the second is not_found",
        {Op::kForgetNode, "gone-1"},
        StatusCode::kNotFound,
        "not_found"},
       {"the list keeps the connected node only",
        {Op::kListNodes},
        StatusCode::kOk,
        "",
        [](const Reply& r) {
          EXPECT_FALSE(Listed(r, "gone-1")) << r.body.dump();
          EXPECT_TRUE(Listed(r, "live-1")) << r.body.dump();
        }}});

  // Each attempt is one node.forget entry on the node's scope, with its outcome.
  std::vector<std::pair<std::string, std::string>> forgets;
  for (const AuditEntry& e : AuditSince(stack, before)) {
    if (e.action != "node.forget") continue;
    EXPECT_EQ(e.principal, "forgetter");
    forgets.emplace_back(e.scope, e.outcome);
  }
  const std::vector<std::pair<std::string, std::string>> want = {{"node:gone-1", "ok"},
                                                                 {"node:live-1", "conflict"},
                                                                 {"node:nobody-1", "not_found"},
                                                                 {"node:gone-1", "not_found"}};
  EXPECT_EQ(forgets, want);
}

}  // namespace omnirelay::cp::testing
