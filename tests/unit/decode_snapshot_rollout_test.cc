// metadata.rollout, the field the node feature "rolloutInfo" defines
// (DESIGN.md §3.3, Compatibility): a reader with the feature decodes it; a
// reader without it refuses it exactly as a build that predates the field
// refuses any unknown field.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "omnirelay/config/capability.h"
#include "omnirelay/config/decode.h"
#include "unit/test_documents.h"

namespace omnirelay {
namespace {

using testdocs::Json;
using testdocs::One;
using testdocs::Problems;
using testdocs::SnapshotDoc;

using Strings = std::vector<std::string>;

Json WithRollout(Json rollout) {
  Json doc = SnapshotDoc();
  doc["metadata"]["rollout"] = std::move(rollout);
  return doc;
}

DecodeOptions ReaderWith(Strings features) {
  DecodeOptions options;
  options.reader_features = std::move(features);
  return options;
}

// The features of a node built before rolloutInfo existed.
const Strings kOldNode = {"shadowing"};
const Strings kNewNode = {"shadowing", "rolloutInfo"};

// The feature is this build's: LocalCapabilities advertises it.
TEST(SnapshotRolloutTest, ThisBuildAdvertisesTheFeature) {
  EXPECT_TRUE(HasFeature(LocalCapabilities().features, kFeatureRolloutInfo));
  EXPECT_EQ(kFeatureRolloutInfo, "rolloutInfo");
}

// A reader with the feature decodes metadata.rollout: id and 1-based wave.
TEST(SnapshotRolloutTest, ReaderWithTheFeatureDecodesIt) {
  auto snap = DecodeSnapshot(WithRollout({{"id", "ro-3f9c0a1b2d"}, {"wave", 2}}).dump(),
                             ReaderWith(kNewNode));
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_TRUE(snap->metadata.rollout.has_value());
  EXPECT_EQ(*snap->metadata.rollout, (SnapshotRollout{"ro-3f9c0a1b2d", 2}));
}

// Round trip: the decoded snapshot equals the one without the field except
// for the field itself.
TEST(SnapshotRolloutTest, RoundTripKeepsEverythingElse) {
  auto plain = DecodeSnapshot(SnapshotDoc().dump(), ReaderWith(kNewNode));
  auto labelled =
      DecodeSnapshot(WithRollout({{"id", "ro-1"}, {"wave", 1}}).dump(), ReaderWith(kNewNode));
  ASSERT_TRUE(plain.ok() && labelled.ok());
  EXPECT_FALSE(plain->metadata.rollout.has_value());
  Snapshot stripped = *labelled;
  stripped.metadata.rollout.reset();
  EXPECT_EQ(stripped, *plain);
}

// The default reader is this build, which has the feature.
TEST(SnapshotRolloutTest, DefaultReaderIsThisBuild) {
  auto snap = DecodeSnapshot(WithRollout({{"id", "ro-1"}, {"wave", 3}}).dump());
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->metadata.rollout->wave, 3);
}

// A reader without the feature refuses the field: unknown_field at
// /metadata/rollout, with the very message any unknown metadata field gets.
TEST(SnapshotRolloutTest, ReaderWithoutTheFeatureRefusesItAsUnknown) {
  auto snap =
      DecodeSnapshot(WithRollout({{"id", "ro-1"}, {"wave", 1}}).dump(), ReaderWith(kOldNode));
  EXPECT_EQ(Problems(snap), One("unknown_field", "/metadata/rollout"));
  Json other = SnapshotDoc();
  other["metadata"]["teleport"] = {{"id", "ro-1"}, {"wave", 1}};
  auto unknown = DecodeSnapshot(other.dump(), ReaderWith(kOldNode));
  ASSERT_FALSE(snap.ok());
  ASSERT_FALSE(unknown.ok());
  ASSERT_EQ(snap.status().diagnostics().size(), 1u);
  EXPECT_EQ(snap.status().diagnostics()[0].message, "unknown field \"rollout\" in metadata");
  EXPECT_EQ(unknown.status().diagnostics()[0].message, "unknown field \"teleport\" in metadata");
}

// Without the field, a reader without the feature reads the snapshot as before.
TEST(SnapshotRolloutTest, ReaderWithoutTheFeatureReadsPlainSnapshots) {
  auto snap = DecodeSnapshot(SnapshotDoc().dump(), ReaderWith(kOldNode));
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_FALSE(snap->metadata.rollout.has_value());
}

// The field's own schema: both members required, the wave 1-based, nothing else.
TEST(SnapshotRolloutTest, FieldSchema) {
  auto problems = [](Json rollout) {
    return Problems(DecodeSnapshot(WithRollout(std::move(rollout)).dump(), ReaderWith(kNewNode)));
  };
  EXPECT_EQ(problems({{"id", "ro-1"}}), One("missing_field", "/metadata/rollout/wave"));
  EXPECT_EQ(problems({{"wave", 1}}), One("missing_field", "/metadata/rollout/id"));
  EXPECT_EQ(problems({{"id", "ro-1"}, {"wave", 0}}), One("out_of_range", "/metadata/rollout/wave"));
  EXPECT_EQ(problems({{"id", ""}, {"wave", 1}}), One("out_of_range", "/metadata/rollout/id"));
  EXPECT_EQ(problems({{"id", "ro-1"}, {"wave", 1}, {"phase", "running"}}),
            One("unknown_field", "/metadata/rollout/phase"));
  EXPECT_EQ(problems(Json::array()), One("type_mismatch", "/metadata/rollout"));
}

// The node feature is not a document feature: a layer cannot enable it, a
// snapshot cannot require it.
TEST(SnapshotRolloutTest, NotADocumentFeature) {
  EXPECT_FALSE(IsKnownFeature(kFeatureRolloutInfo));
  EXPECT_EQ(Problems(DecodeSnapshot(SnapshotDoc(Json::object(), {"rolloutInfo"}).dump())),
            One("unknown_feature", "/metadata/requiredFeatures/0"));
}

}  // namespace
}  // namespace omnirelay
