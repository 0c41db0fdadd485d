// RolloutRecord::snapshots (store.h): a change set's rollout record may carry
// chain snapshots of the set's own revisions, stored in the same
// transaction as the layers — all of it or none of it. Part of the Store
// contract suite: runs on every adapter.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

std::shared_ptr<const SnapshotRecord> ChainSnapshot(const std::string& hash,
                                                    const std::string& chain,
                                                    std::int64_t version) {
  auto s = std::make_shared<SnapshotRecord>();
  s->hash = hash;
  s->snapshot = "{\"chain\":\"" + chain + "\"}";
  s->envelope = "{\"payload\":\"" + hash + "\"}";
  s->version = version;
  s->scope_chain = chain;
  s->created_at_ms = 1000;
  s->expires_at_ms = 2000;
  return s;
}

// Committed with the set: found by hash and as their chains' latest, at the
// revisions the set got.
TEST_P(StoreContractTest, AChangeSetStoresItsRolloutsSnapshotsWithIt) {
  MustWrite(Put("global", "{}", std::nullopt));  // 1
  auto make = [](const std::vector<std::int64_t>& revisions) -> Result<RolloutRecord> {
    RolloutRecord r{"r1", "{\"head\":1}", 7, 1, "{\"members\":1}"};
    r.snapshots = {ChainSnapshot("sha256:us", "global,region:us", revisions.front()),
                   ChainSnapshot("sha256:eu", "global,region:eu", revisions.back())};
    return r;
  };
  auto revisions = store_->WriteLayers(
      {Put("global", "{\"g\":2}", 1), Put("region:eu", "{}", std::nullopt)}, make);
  ASSERT_TRUE(revisions.ok()) << revisions.status().ToString();
  ASSERT_EQ(*revisions, (std::vector<std::int64_t>{2, 3}));
  Result<SnapshotRecord> us = store_->GetSnapshot("sha256:us");
  ASSERT_TRUE(us.ok()) << us.status().ToString();
  EXPECT_EQ(us->version, 2);
  EXPECT_EQ(us->snapshot, "{\"chain\":\"global,region:us\"}");
  EXPECT_EQ(us->envelope, "{\"payload\":\"sha256:us\"}");
  Result<SnapshotRecord> eu = store_->LatestSnapshot("global,region:eu");
  ASSERT_TRUE(eu.ok()) << eu.status().ToString();
  EXPECT_EQ(eu->hash, "sha256:eu");
  EXPECT_EQ(eu->version, 3);
  EXPECT_EQ(eu->expires_at_ms, 2000);
  Result<RolloutRecord> stored = store_->GetRollout("r1");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->state_json, "{\"head\":1}");
}

// A set refused (by a CAS, by its rollout's record, or by one of the
// snapshots) stores none of them.
TEST_P(StoreContractTest, ARefusedChangeSetStoresNoneOfItsSnapshots) {
  MustWrite(Put("global", "{}", std::nullopt));  // 1
  auto make = [](const std::vector<std::int64_t>& revisions) -> Result<RolloutRecord> {
    RolloutRecord r{"r1", "{\"head\":1}", 7, 1, "{\"members\":1}"};
    r.snapshots = {ChainSnapshot("sha256:us", "global,region:us", revisions.back())};
    return r;
  };
  auto stale = store_->WriteLayers({Put("global", "{\"g\":2}", 9)}, make);
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict) << stale.status().ToString();
  EXPECT_EQ(store_->GetSnapshot("sha256:us").status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->PutRollout({"r1", "{\"head\":0}", 1}).ok());  // the id is taken
  auto taken = store_->WriteLayers({Put("global", "{\"g\":2}", 1)}, make);
  EXPECT_FALSE(taken.ok());
  EXPECT_EQ(store_->GetSnapshot("sha256:us").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->LatestSnapshot("global,region:us").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->HeadRevision().value(), 1);

  // A snapshot the store refuses (no hash) takes the layers, the record and
  // the other snapshots with it.
  auto unnamed = [](const std::vector<std::int64_t>& revisions) -> Result<RolloutRecord> {
    RolloutRecord r{"r2", "{\"head\":1}", 7, 1, "{\"members\":1}"};
    r.snapshots = {ChainSnapshot("sha256:us", "global,region:us", revisions.back()),
                   ChainSnapshot("", "global,region:eu", revisions.back())};
    return r;
  };
  auto refused = store_->WriteLayers({Put("global", "{\"g\":2}", 1)}, unnamed);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
  EXPECT_EQ(store_->GetSnapshot("sha256:us").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetRollout("r2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->HeadRevision().value(), 1);
  EXPECT_EQ(store_->GetLayer("global")->document, "{}");
}

}  // namespace
}  // namespace omnirelay::cp
