// ScopeMap (DESIGN.md §3.1): where scopes sit, which chains a node may use,
// which chains run through a scope.
#include "omnirelay/config/scope_map.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omnirelay {
namespace {

std::vector<Scope> Chain(const std::string& text) {
  auto chain = ParseScopeChain(text);
  EXPECT_TRUE(chain.ok()) << text;
  return chain.ok() ? *chain : std::vector<Scope>{};
}

std::vector<std::string> Texts(const std::vector<std::vector<Scope>>& chains) {
  std::vector<std::string> out;
  for (const auto& c : chains) out.push_back(ScopeChainToString(c));
  return out;
}

ScopeMap Sample() {
  Topology t;
  t.regions = {{"eu-west", Region{{"euw1-a", "euw1-b"}}}, {"us-east", Region{{"use1-a"}}}};
  t.placements = {{"euw1-a-prod", Placement{"euw1-a"}},
                  {"euw1-a-batch", Placement{"euw1-a"}},
                  {"lost", Placement{"nowhere"}}};
  return ScopeMap(t);
}

TEST(ScopeMapTest, ChainOfEachLevel) {
  const ScopeMap map = Sample();
  EXPECT_EQ(ScopeChainToString(*map.ChainOf(Scope{ScopeLevel::kCluster, "euw1-a-prod"})),
            "global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod");
  EXPECT_EQ(ScopeChainToString(*map.ChainOf(Scope{ScopeLevel::kCell, "use1-a"})),
            "global,region:us-east,cell:use1-a");
  auto missing = map.ChainOf(Scope{ScopeLevel::kCluster, "lost"});  // its cell is unknown
  ASSERT_FALSE(missing.ok());
  ASSERT_EQ(missing.status().diagnostics().size(), 1u);
  EXPECT_EQ(missing.status().diagnostics()[0].code, DiagCode::kUnknownScope);
  EXPECT_EQ(missing.status().diagnostics()[0].path, "/metadata/scope");
  EXPECT_FALSE(map.Places(Scope{ScopeLevel::kRegion, "ap-south"}));
  EXPECT_TRUE(map.Places(Scope{ScopeLevel::kGlobal, ""}));
}

TEST(ScopeMapTest, ChainsThroughListParentsBeforeChildren) {
  const ScopeMap map = Sample();
  EXPECT_EQ(Texts(map.ChainsThrough(Scope{ScopeLevel::kRegion, "eu-west"})),
            (std::vector<std::string>{"global,region:eu-west", "global,region:eu-west,cell:euw1-a",
                                      "global,region:eu-west,cell:euw1-a,cluster:euw1-a-batch",
                                      "global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod",
                                      "global,region:eu-west,cell:euw1-b"}));
  EXPECT_EQ(map.ChainsThrough(Scope{ScopeLevel::kGlobal, ""}).size(), 1u + 2 + 3 + 2);
  EXPECT_TRUE(map.ChainsThrough(Scope{ScopeLevel::kCell, "nowhere"}).empty());
}

TEST(ScopeMapTest, NodeChainsAreGapFreeTopDownPrefixes) {
  const ScopeMap map = Sample();
  for (const char* ok : {"global", "global,node:n1", "global,region:eu-west,node:n1",
                         "global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod,node:n1",
                         "global,region:us-east,cell:use1-a"}) {
    EXPECT_TRUE(map.CheckNodeChain(Chain(ok), "n1").ok()) << ok;
  }
  struct Bad {
    const char* chain;
    const char* says;
  };
  for (const Bad& bad : {
           Bad{"global,cell:euw1-a,node:n1", "skips the region level"},
           Bad{"global,region:eu-west,cluster:euw1-a-prod", "skips the cell level"},
           Bad{"global,region:us-east,cell:euw1-a", "placed under region:eu-west"},
           Bad{"global,region:nowhere", "no region \"nowhere\""},
           Bad{"global,region:eu-west,node:n2", "may not use node:n2"},
           Bad{"region:eu-west", "starts with global"},
       }) {
    const Status s = map.CheckNodeChain(Chain(bad.chain), "n1");
    EXPECT_EQ(s.code(), StatusCode::kScopeMismatch) << bad.chain;
    EXPECT_NE(s.message().find(bad.says), std::string::npos) << bad.chain << ": " << s.message();
  }
}

// Before any global layer: a node chain is checked for its shape only.
TEST(ScopeMapTest, UnrestrictedChecksTheShapeOnly) {
  const ScopeMap map = ScopeMap::Unrestricted();
  EXPECT_TRUE(map.CheckNodeChain(Chain("global,region:anywhere,cell:c1,node:n1"), "n1").ok());
  EXPECT_EQ(map.CheckNodeChain(Chain("global,cell:c1"), "n1").code(), StatusCode::kScopeMismatch);
  EXPECT_EQ(map.CheckNodeChain(Chain("global,node:n2"), "n1").code(), StatusCode::kScopeMismatch);
  EXPECT_TRUE(map.Places(Scope{ScopeLevel::kCell, "c1"}));
  EXPECT_TRUE(map.unrestricted());
  EXPECT_FALSE(ScopeMap().unrestricted());
}

TEST(ScopeMapTest, FromGlobalLayerReadsPlacements) {
  auto map = ScopeMap::FromGlobalLayer(R"({"apiVersion": "omnirelay.config/v1",
      "kind": "ConfigLayer", "metadata": {"scope": "global", "author": "t"},
      "spec": {"topology": {"regions": {"r1": {"cells": ["c1"]}},
                            "placements": {"k1": {"cell": "c1"}}}}})");
  ASSERT_TRUE(map.ok()) << map.status().ToString();
  EXPECT_TRUE(map->Places(Scope{ScopeLevel::kCluster, "k1"}));
  EXPECT_EQ(map->PlacedScopes(), (std::vector<std::string>{"region:r1", "cell:c1", "cluster:k1"}));
  auto empty = ScopeMap::FromGlobalLayer("");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->Places(Scope{ScopeLevel::kRegion, "r1"}));
}

}  // namespace
}  // namespace omnirelay
