#include "omnirelay/config/scope.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace omnirelay {
namespace {

// "global" parses to the global level with no name.
TEST(ParseScopeTest, Global) {
  auto s = ParseScope("global");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->level, ScopeLevel::kGlobal);
  EXPECT_EQ(s->name, "");
}

// "region:<r>" parses to the region level.
TEST(ParseScopeTest, Region) {
  auto s = ParseScope("region:us-east");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (Scope{ScopeLevel::kRegion, "us-east"}));
}

// "cell:<c>" parses to the cell level.
TEST(ParseScopeTest, Cell) {
  auto s = ParseScope("cell:use1-a");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (Scope{ScopeLevel::kCell, "use1-a"}));
}

// "cluster:<k>" parses to the cluster level.
TEST(ParseScopeTest, Cluster) {
  auto s = ParseScope("cluster:billing-v1");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (Scope{ScopeLevel::kCluster, "billing-v1"}));
}

// "node:<id>" parses to the node level; node ids may contain dots.
TEST(ParseScopeTest, NodeWithDots) {
  auto s = ParseScope("node:n-1.use1-a.example");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, (Scope{ScopeLevel::kNode, "n-1.use1-a.example"}));
}

// Scope::ToString() gives back the text each level was parsed from.
TEST(ParseScopeTest, ToStringRoundTrips) {
  for (const char* text :
       {"global", "region:us-east", "cell:use1-a", "cluster:billing-v1", "node:n-1.a"}) {
    auto s = ParseScope(text);
    ASSERT_TRUE(s.ok()) << text;
    EXPECT_EQ(s->ToString(), text);
  }
}

// A level word that is not one of the five is kInvalidArgument.
TEST(ParseScopeTest, UnknownLevelRejected) {
  auto s = ParseScope("planet:earth");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

// The empty string is not a scope.
TEST(ParseScopeTest, EmptyRejected) {
  EXPECT_EQ(ParseScope("").status().code(), StatusCode::kInvalidArgument);
}

// Level words are lowercase: "Global" and "Region:us-east" are rejected.
TEST(ParseScopeTest, UppercaseLevelRejected) {
  EXPECT_EQ(ParseScope("Global").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseScope("Region:us-east").status().code(), StatusCode::kInvalidArgument);
}

// "global" takes no name.
TEST(ParseScopeTest, GlobalWithNameRejected) {
  EXPECT_EQ(ParseScope("global:x").status().code(), StatusCode::kInvalidArgument);
}

// A named level needs a name: "region:" is rejected.
TEST(ParseScopeTest, EmptyNameRejected) {
  EXPECT_EQ(ParseScope("region:").status().code(), StatusCode::kInvalidArgument);
}

// A level without ':' and a name is rejected.
TEST(ParseScopeTest, LevelWithoutNameRejected) {
  EXPECT_EQ(ParseScope("region").status().code(), StatusCode::kInvalidArgument);
}

// Names follow IsValidName: uppercase and '_' are rejected.
TEST(ParseScopeTest, InvalidNameRejected) {
  EXPECT_EQ(ParseScope("region:US-East").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseScope("cell:use1_a").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseScope("cluster:-billing").status().code(), StatusCode::kInvalidArgument);
}

// Only node ids may contain dots.
TEST(ParseScopeTest, DotOnlyInNodeIds) {
  EXPECT_EQ(ParseScope("region:us.east").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ParseScope("node:us.east").ok());
}

// A second ':' is part of the name, which makes it invalid.
TEST(ParseScopeTest, SecondColonRejected) {
  EXPECT_EQ(ParseScope("region:us-east:x").status().code(), StatusCode::kInvalidArgument);
}

// Surrounding whitespace is not trimmed.
TEST(ParseScopeTest, WhitespaceRejected) {
  EXPECT_EQ(ParseScope(" global").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseScope("region: us-east").status().code(), StatusCode::kInvalidArgument);
}

// The rejection message names the offending text.
TEST(ParseScopeTest, MessageNamesInput) {
  auto s = ParseScope("planet:earth");
  EXPECT_NE(s.status().message().find("planet:earth"), std::string::npos);
}

// A full chain in increasing precedence parses, in order.
TEST(ScopeChainTest, FullChainParses) {
  auto chain = ParseScopeChain("global,region:us-east,cell:use1-a,cluster:billing-v1,node:n-1");
  ASSERT_TRUE(chain.ok()) << chain.status().ToString();
  ASSERT_EQ(chain->size(), 5u);
  EXPECT_EQ((*chain)[0], (Scope{ScopeLevel::kGlobal, ""}));
  EXPECT_EQ((*chain)[1], (Scope{ScopeLevel::kRegion, "us-east"}));
  EXPECT_EQ((*chain)[2], (Scope{ScopeLevel::kCell, "use1-a"}));
  EXPECT_EQ((*chain)[3], (Scope{ScopeLevel::kCluster, "billing-v1"}));
  EXPECT_EQ((*chain)[4], (Scope{ScopeLevel::kNode, "n-1"}));
}

// A chain may skip levels as long as precedence strictly increases.
TEST(ScopeChainTest, SkippingLevelsAllowed) {
  EXPECT_TRUE(ParseScopeChain("global,node:n-1").ok());
  EXPECT_TRUE(ParseScopeChain("region:us-east,cell:use1-a").ok());
}

// A single scope is a chain.
TEST(ScopeChainTest, SingleScope) {
  auto chain = ParseScopeChain("global");
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->size(), 1u);
}

// The same scope twice is rejected: precedence must strictly increase.
TEST(ScopeChainTest, DuplicateRejected) {
  EXPECT_EQ(ParseScopeChain("global,global").status().code(), StatusCode::kInvalidArgument);
}

// Two scopes of the same level are rejected, even with different names.
TEST(ScopeChainTest, SameLevelTwiceRejected) {
  EXPECT_EQ(ParseScopeChain("global,region:us-east,region:eu-west").status().code(),
            StatusCode::kInvalidArgument);
}

// Decreasing precedence is rejected.
TEST(ScopeChainTest, DecreasingRejected) {
  EXPECT_EQ(ParseScopeChain("global,cell:use1-a,region:us-east").status().code(),
            StatusCode::kInvalidArgument);
}

// An invalid member scope rejects the whole chain.
TEST(ScopeChainTest, InvalidMemberRejected) {
  EXPECT_EQ(ParseScopeChain("global,region:US").status().code(), StatusCode::kInvalidArgument);
}

// The empty string, and empty members (",," or a trailing comma), are rejected.
TEST(ScopeChainTest, EmptyMembersRejected) {
  EXPECT_FALSE(ParseScopeChain("").ok());
  EXPECT_FALSE(ParseScopeChain("global,").ok());
  EXPECT_FALSE(ParseScopeChain("global,,region:us-east").ok());
}

// SplitCommaList keeps every item verbatim, empty ones included.
TEST(SplitCommaListTest, KeepsEveryItem) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitCommaList("global,region:us-east"), (V{"global", "region:us-east"}));
  EXPECT_EQ(SplitCommaList("a"), (V{"a"}));
  EXPECT_EQ(SplitCommaList("a,,b"), (V{"a", "", "b"}));
  EXPECT_EQ(SplitCommaList("a,"), (V{"a", ""}));
  EXPECT_EQ(SplitCommaList(","), (V{"", ""}));
  EXPECT_EQ(SplitCommaList(" a , b"), (V{" a ", " b"}));
}

// The empty string is the empty list, not one empty item.
TEST(SplitCommaListTest, EmptyTextHasNoItems) {
  EXPECT_TRUE(SplitCommaList("").empty());
}

// CheckScopeChain rejects an empty chain.
TEST(ScopeChainTest, CheckRejectsEmpty) {
  EXPECT_EQ(CheckScopeChain({}).code(), StatusCode::kInvalidArgument);
}

// CheckScopeChain accepts increasing precedence and rejects a repeat.
TEST(ScopeChainTest, CheckOrder) {
  EXPECT_TRUE(CheckScopeChain({{ScopeLevel::kGlobal, ""}, {ScopeLevel::kCell, "c"}}).ok());
  EXPECT_FALSE(CheckScopeChain({{ScopeLevel::kCell, "a"}, {ScopeLevel::kCell, "b"}}).ok());
}

// ScopeChainToString joins with commas and round-trips ParseScopeChain.
TEST(ScopeChainTest, ToStringRoundTrips) {
  const std::string text = "global,region:us-east,node:n-1.a";
  auto chain = ParseScopeChain(text);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(ScopeChainToString(*chain), text);
}

// Names of 1 and 63 characters are valid.
TEST(IsValidNameTest, LengthBounds) {
  EXPECT_TRUE(IsValidName("a"));
  EXPECT_TRUE(IsValidName(std::string(63, 'a')));
}

// A 64-character name is invalid.
TEST(IsValidNameTest, SixtyFourCharactersRejected) {
  EXPECT_FALSE(IsValidName(std::string(64, 'a')));
}

// The empty name is invalid.
TEST(IsValidNameTest, EmptyRejected) {
  EXPECT_FALSE(IsValidName(""));
}

// A leading '-' is invalid.
TEST(IsValidNameTest, LeadingDashRejected) {
  EXPECT_FALSE(IsValidName("-billing"));
}

// A trailing '-' is invalid.
TEST(IsValidNameTest, TrailingDashRejected) {
  EXPECT_FALSE(IsValidName("billing-"));
}

// Inner dashes (also consecutive) and digits are valid, also digits only.
TEST(IsValidNameTest, InnerDashesAndDigits) {
  EXPECT_TRUE(IsValidName("use1-a"));
  EXPECT_TRUE(IsValidName("a--b"));
  EXPECT_TRUE(IsValidName("42"));
}

// Uppercase letters are invalid.
TEST(IsValidNameTest, UppercaseRejected) {
  EXPECT_FALSE(IsValidName("Billing"));
  EXPECT_FALSE(IsValidName("billinG"));
}

// Characters outside [a-z0-9-] are invalid: '_', '.', ' ', non-ASCII.
TEST(IsValidNameTest, OtherCharactersRejected) {
  EXPECT_FALSE(IsValidName("a_b"));
  EXPECT_FALSE(IsValidName("a.b"));
  EXPECT_FALSE(IsValidName("a b"));
  EXPECT_FALSE(IsValidName("caf\xc3\xa9"));
}

// Node ids may contain dots and be up to 253 characters.
TEST(IsValidNodeIdTest, DotsAndLength) {
  EXPECT_TRUE(IsValidNodeId("n-1.use1-a.example"));
  EXPECT_TRUE(IsValidNodeId(std::string(253, 'n')));
  EXPECT_FALSE(IsValidNodeId(std::string(254, 'n')));
}

// Node ids start and end alphanumeric and have no uppercase or '_'.
TEST(IsValidNodeIdTest, EdgesAndCharacters) {
  EXPECT_FALSE(IsValidNodeId(""));
  EXPECT_FALSE(IsValidNodeId(".n1"));
  EXPECT_FALSE(IsValidNodeId("n1."));
  EXPECT_FALSE(IsValidNodeId("-n1"));
  EXPECT_FALSE(IsValidNodeId("N1"));
  EXPECT_FALSE(IsValidNodeId("n_1"));
}

}  // namespace
}  // namespace omnirelay
