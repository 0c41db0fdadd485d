// Shadow-first: the generated layer documents (rollout_shadow.h) and the
// shadow wave in the plan and the state machine (rollout_plan.h,
// rollout_state.h contract 1).
#include "rollout_shadow.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rollout_state.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

Json Layer(const Json& weights, const Json& extra_clusters = Json::object()) {
  Json doc = {{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", "global"}}},
              {"spec",
               {{"clusters",
                 {{"a", {{"service", "billing"}}},
                  {"b", {{"service", "billing"}}},
                  {"other", {{"service", "auth"}}}}},
                {"routes",
                 {{"billing", {{"service", "billing"}, {"weights", weights}}},
                  {"auth", {{"service", "auth"}, {"weights", {{"other", 100}}}}}}}}}};
  for (const auto& [name, cluster] : extra_clusters.items()) {
    doc["spec"]["clusters"][name] = cluster;
  }
  return doc;
}

std::vector<ShadowLayer> Shadows(const Json& before, const Json& after, double percent = 10) {
  auto out = ShadowFirstLayers({{"global", before.dump(), after.dump()}}, percent);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : std::vector<ShadowLayer>{};
}

// Contract 1-2: the route whose weight moves to a new cluster mirrors to it;
// the old weights stay; the new cluster and the feature are added.
TEST(ShadowFirstLayersTest, MirrorsTheMovedRouteToItsReplacementOnTheOldRouting) {
  const Json before = Layer({{"a", 100}});
  const Json after = Layer({{"c", 70}, {"b", 30}}, {{"c", {{"service", "billing"}}}});
  const auto layers = Shadows(before, after, 12.5);
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].scope, "global");
  EXPECT_EQ(layers[0].mirrored, std::vector<std::string>{"billing -> c"});
  const Json doc = Json::parse(layers[0].document);
  EXPECT_EQ(doc["spec"]["routes"]["billing"]["weights"], Json({{"a", 100}}));
  EXPECT_EQ(doc["spec"]["routes"]["billing"]["shadow"],
            Json({{"cluster", "c"}, {"percent", 12.5}}));
  EXPECT_FALSE(doc["spec"]["routes"]["auth"].contains("shadow"));
  EXPECT_TRUE(doc["spec"]["clusters"].contains("c"));
  EXPECT_EQ(doc["metadata"]["features"], Json::array({"shadowing"}));
  // Deterministic (contract 4).
  EXPECT_EQ(Shadows(before, after, 12.5)[0].document, layers[0].document);
}

// A cluster that already had weight is no replacement; of two new ones the
// heavier, then the smaller name; an existing mirror is replaced.
TEST(ShadowFirstLayersTest, PicksTheHeaviestNewClusterAndReplacesAnOldMirror) {
  Json before = Layer({{"a", 90}, {"b", 10}});
  before["spec"]["routes"]["billing"]["shadow"] = {{"cluster", "other"}, {"percent", 5}};
  const Json extra = {{"y", {{"service", "billing"}}}, {"x", {{"service", "billing"}}}};
  auto layers = Shadows(before, Layer({{"b", 80}, {"x", 10}, {"y", 10}}, extra));
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].mirrored, std::vector<std::string>{"billing -> x"});
  EXPECT_EQ(Json::parse(layers[0].document)["spec"]["routes"]["billing"]["shadow"]["cluster"], "x");
  layers = Shadows(before, Layer({{"b", 40}, {"x", 10}, {"y", 50}}, extra));
  ASSERT_EQ(layers.size(), 1u);
  EXPECT_EQ(layers[0].mirrored, std::vector<std::string>{"billing -> y"});
}

// Contract 3: nothing moves to a new cluster (only reweighted), a new layer,
// a deleted one: no shadow document.
TEST(ShadowFirstLayersTest, NothingToMirrorGivesNoDocument) {
  EXPECT_TRUE(Shadows(Layer({{"a", 90}, {"b", 10}}), Layer({{"a", 10}, {"b", 90}})).empty());
  auto none = ShadowFirstLayers({{"region:x", std::nullopt, Layer({{"c", 1}}).dump()},
                                 {"global", Layer({{"a", 1}}).dump(), std::nullopt}},
                                10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto bad = ShadowFirstLayers({{"global", "[1]", "{}"}}, 10);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

RolloutMember Member(const std::string& id, std::int64_t previous) {
  return {RolloutNode{id, ParseScopeChain("global,node:" + id).value()}, previous};
}

RolloutPolicy ShadowPolicy() {
  RolloutPolicy p;
  p.shadow_first_percent = 10;
  p.canary_percent = 10;
  p.promotion = Promotion::kManual;
  return p;
}

// The shadow wave lists every node and assigns the shadow revision; each
// node's own wave then assigns the new one; a joiner gets the shadow one.
TEST(ShadowFirstStateTest, ShadowWaveFirstThenCutOverWaveByWave) {
  std::vector<RolloutMember> members;
  for (int i = 0; i < 20; ++i) members.push_back(Member("n-" + std::to_string(i), 5));
  EXPECT_FALSE(CreateRollout("r", ShadowPolicy(), members, 12, {}, 0).ok());  // no shadow revision
  EXPECT_FALSE(CreateRollout("r", RolloutPolicy{}, members, 12, {}, 0, 11).ok());
  auto created = CreateRollout("r", ShadowPolicy(), members, 12, {}, 0, 11);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  RolloutState s = *std::move(created);
  ASSERT_EQ(s.waves.size(), 3u);
  EXPECT_EQ(s.waves[0].kind, WaveKind::kShadow);
  EXPECT_EQ(s.waves[0].node_ids.size(), 20u);
  EXPECT_EQ(s.waves[1].node_ids.size() + s.waves[2].node_ids.size(), 20u);
  EXPECT_EQ(WaveVersion(s, 0), 11);
  EXPECT_EQ(WaveVersion(s, 1), 12);

  auto first = StartRollout(s, 1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 20u);
  for (const auto& c : *first) EXPECT_EQ(c.to, 11) << c.node_id;
  EXPECT_EQ(ContentOf(s, "n-0"), Content::kShadow);

  auto joined = AddRolloutNode(s, Member("late", 5), 2);
  ASSERT_TRUE(joined.ok());
  ASSERT_EQ(joined->size(), 1u);
  EXPECT_EQ((*joined)[0].to, 11);
  EXPECT_EQ(s.waves[0].node_ids.size(), 21u);

  auto canary = ActOnRollout(s, RolloutAction::kPromote, 3);
  ASSERT_TRUE(canary.ok());
  EXPECT_EQ(canary->size(), s.waves[1].node_ids.size());
  for (const auto& c : *canary) {
    EXPECT_EQ(c.from, 11);
    EXPECT_EQ(c.to, 12);
  }
  // Rolled back from the canary: nodes on the shadow and on the new revision move.
  ASSERT_TRUE(ActOnRollout(s, RolloutAction::kRollback, 4).ok());
  auto back = CommitRollback(s, 13, 5);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size(), 21u);
  for (const auto& [id, a] : s.nodes) EXPECT_EQ(a.assigned_version, 13) << id;
  // The state reads back with its shadow revision.
  auto read = RolloutStateFromJson(RolloutStateToJson(s));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, s);
}

}  // namespace
}  // namespace omnirelay::cp
