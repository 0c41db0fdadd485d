// A layer's `rollout` block (its default rollout policy, rollout_policy.h):
// read and checked with the document, problems under /rollout; a snapshot
// has no such block.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "omnirelay/config/decode.h"
#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Json;
using testdocs::Problems;
using testdocs::ValidLayerDoc;

TEST(DecodeRolloutBlockTest, ALayerWithoutTheBlockHasNone) {
  auto layer = ParseLayer(ValidLayerDoc().dump());
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->rollout_json, "");
}

TEST(DecodeRolloutBlockTest, TheBlockIsReadWithEveryFieldWritten) {
  Json doc = ValidLayerDoc();
  doc["rollout"] = {{"canaryPercent", 10}, {"promotion", "manual"}, {"slo", {{"minRequests", 0}}}};
  auto layer = ParseLayer(doc.dump());
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  const Json block = Json::parse(layer->rollout_json);
  EXPECT_EQ(block["canaryPercent"], 10.0);
  EXPECT_EQ(block["promotion"], "manual");
  EXPECT_EQ(block["slo"]["minRequests"], 0);
  EXPECT_EQ(block["bakeMs"], 300000);  // the default, written out
  // The spec is the spec: the block is not part of it.
  EXPECT_EQ(Json::parse(layer->spec_json), doc["spec"]);
}

TEST(DecodeRolloutBlockTest, ProblemsPointIntoTheBlock) {
  Json doc = ValidLayerDoc();
  doc["rollout"] = {{"canaryPercent", 150}, {"wavez", 1}, {"targetScopes", {"galaxy:x"}}};
  const auto problems = Problems(ParseLayer(doc.dump()));
  EXPECT_NE(std::find(problems.begin(), problems.end(), "out_of_range /rollout/canaryPercent"),
            problems.end())
      << ::testing::PrintToString(problems);
  EXPECT_NE(std::find(problems.begin(), problems.end(), "unknown_field /rollout/wavez"),
            problems.end())
      << ::testing::PrintToString(problems);
  EXPECT_NE(std::find(problems.begin(), problems.end(), "invalid_scope /rollout/targetScopes/0"),
            problems.end())
      << ::testing::PrintToString(problems);
  doc["rollout"] = "soon";
  EXPECT_EQ(Problems(ParseLayer(doc.dump())), testdocs::One("type_mismatch", "/rollout"));
}

TEST(DecodeRolloutBlockTest, ASnapshotHasNoRolloutBlock) {
  Json doc = testdocs::SnapshotDoc();
  doc["rollout"] = Json::object();
  EXPECT_EQ(Problems(DecodeSnapshot(doc.dump())), testdocs::One("unknown_field", "/rollout"));
}

}  // namespace
}  // namespace omnirelay
