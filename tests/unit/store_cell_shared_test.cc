// The Store contract for the values a cell's replicas share through their
// store (store.h PutChainSnapshot, PutSettingIfAbsent): the first one stored
// is kept, also when replicas race — run against every adapter of the
// contract suite (store_contract.h); the races open a second store on the
// same data (a second replica) where the adapter is durable.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store_contract.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

constexpr char kChainText[] = "global,region:us-east";

// A chain's own snapshot of `version`, as a replica whose clock read
// `created_at_ms` renders it (a different createdAt makes different bytes).
SnapshotRecord Rendering(std::int64_t version, std::int64_t created_at_ms) {
  SnapshotRecord s;
  s.version = version;
  s.scope_chain = kChainText;
  s.created_at_ms = created_at_ms;
  s.expires_at_ms = created_at_ms + 7 * 24 * 3600 * 1000LL;
  s.snapshot = "{\"version\":" + std::to_string(version) +
               ",\"createdAt\":" + std::to_string(created_at_ms) + "}";
  s.envelope = "{\"payload\":\"" + std::to_string(created_at_ms) + "\"}";
  s.hash = "sha256:" + std::to_string(version) + "-" + std::to_string(created_at_ms);
  return s;
}

// The first rendering of a version is stored and returned as it is.
TEST_P(StoreContractTest, FirstChainSnapshotOfAVersionIsStored) {
  const SnapshotRecord first = Rendering(3, 10'000);
  auto kept = store_->PutChainSnapshot(first, 10'000);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->hash, first.hash);
  auto stored = store_->GetSnapshot(first.hash);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->snapshot, first.snapshot);
  EXPECT_EQ(stored->envelope, first.envelope);
}

// A second rendering of the same version, while the first is fresh, is not
// stored: the first is returned, bytes, createdAt and expiresAt included.
TEST_P(StoreContractTest, SecondRenderingOfAFreshVersionGetsTheFirst) {
  const SnapshotRecord first = Rendering(3, 10'000);
  ASSERT_TRUE(store_->PutChainSnapshot(first, 10'000).ok());
  const SnapshotRecord second = Rendering(3, 12'000);
  auto kept = store_->PutChainSnapshot(second, 12'000);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->hash, first.hash);
  EXPECT_EQ(kept->snapshot, first.snapshot);
  EXPECT_EQ(kept->envelope, first.envelope);
  EXPECT_EQ(kept->created_at_ms, first.created_at_ms);
  EXPECT_EQ(kept->expires_at_ms, first.expires_at_ms);
  EXPECT_EQ(store_->GetSnapshot(second.hash).status().code(), StatusCode::kNotFound);
  auto latest = store_->LatestSnapshot(kChainText);
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->hash, first.hash);
}

// Past the freshness bound (a re-signing before expiry) a new rendering of
// the same version is stored; another version is always stored.
TEST_P(StoreContractTest, ChainSnapshotIsStoredWhenTheKeptOneIsNotFresh) {
  const SnapshotRecord first = Rendering(3, 10'000);
  ASSERT_TRUE(store_->PutChainSnapshot(first, 10'000).ok());
  const SnapshotRecord resigned = Rendering(3, 20'000);
  auto kept = store_->PutChainSnapshot(resigned, first.expires_at_ms);  // first is not fresh
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->hash, resigned.hash);
  const SnapshotRecord next = Rendering(4, 20'000);
  kept = store_->PutChainSnapshot(next, 20'000);
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->hash, next.hash);
  auto of3 = store_->SnapshotOfVersion(kChainText, 3);
  ASSERT_TRUE(of3.ok()) << of3.status().ToString();
  EXPECT_EQ(of3->hash, resigned.hash);
}

// A node recorded through another replica shows in this one's profiles
// within a second (the Postgres adapter's cache, store_profile_cache.h; the
// bound checked is looser, for loaded CI machines).
TEST_P(StoreContractTest, AnotherReplicasNodeProfileCountsWithinASecond) {
  if (!GetParam().durable) GTEST_SKIP() << "in-memory adapter: no second replica";
  Result<std::unique_ptr<Store>> other = GetParam().open(dir_.path(), false);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_TRUE(store_->NodeProfiles().ok());  // an answer this replica may keep
  NodeRecord n;
  n.node_id = "relay-b";
  n.scope_chain = "global,region:us-east";
  n.api_version = "omnirelay.config/v1";
  n.features = {"shadowing"};
  n.health_json = "{}";
  ASSERT_TRUE((*other)->UpsertNode(n).ok());
  const auto start = std::chrono::steady_clock::now();
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    auto profiles = store_->NodeProfiles();
    ASSERT_TRUE(profiles.ok()) << profiles.status().ToString();
    seen = profiles->size() == 1 && (*profiles)[0].features == n.features;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(seen);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// Two replicas rendering one version at once, each with its own clock:
// every call gets the same rendering, and only that one is stored.
TEST_P(StoreContractTest, RacingReplicasKeepOneRenderingOfAVersion) {
  if (!GetParam().durable) GTEST_SKIP() << "in-memory adapter: no second replica";
  Result<std::unique_ptr<Store>> other = GetParam().open(dir_.path(), false);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  Store* replicas[2] = {store_.get(), other->get()};
  constexpr int kPerReplica = 8;
  std::vector<std::string> got(2 * kPerReplica);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2 * kPerReplica; ++i) {
    threads.emplace_back([&, i] {
      const SnapshotRecord mine = Rendering(7, 10'000 + i * 1000);
      auto kept = replicas[i % 2]->PutChainSnapshot(mine, 10'000);
      if (!kept.ok()) {
        ++failures;
        return;
      }
      got[static_cast<std::size_t>(i)] = kept->hash;
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 1u) << got[0];
  int stored = 0;
  for (int i = 0; i < 2 * kPerReplica; ++i) {
    if (store_->GetSnapshot(Rendering(7, 10'000 + i * 1000).hash).ok()) ++stored;
  }
  EXPECT_EQ(stored, 1);
}

// A rollout-labelled snapshot is not a chain's own: refused.
TEST_P(StoreContractTest, ChainSnapshotRefusesARolloutLabel) {
  SnapshotRecord labelled = Rendering(3, 10'000);
  labelled.rollout = "r1/1";
  EXPECT_EQ(store_->PutChainSnapshot(labelled, 10'000).status().code(),
            StatusCode::kInvalidArgument);
}

// The first value of a key is written with its audit entry; a later one
// leaves it as it is, returns it, and audits nothing.
TEST_P(StoreContractTest, SettingIfAbsentKeepsTheFirstValue) {
  auto first = store_->PutSettingIfAbsent("cell.signing-key", "{\"keyId\":\"a\"}", 10,
                                          Audit("cell.key.record", 10));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->value, "{\"keyId\":\"a\"}");
  EXPECT_EQ(first->updated_at_ms, 10);
  auto second = store_->PutSettingIfAbsent("cell.signing-key", "{\"keyId\":\"b\"}", 20,
                                           Audit("cell.key.record", 20));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->value, "{\"keyId\":\"a\"}");
  EXPECT_EQ(second->updated_at_ms, 10);
  auto stored = store_->GetSetting("cell.signing-key");
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->value, "{\"keyId\":\"a\"}");
  EXPECT_EQ(AllAudit().size(), 1u);
  EXPECT_EQ(store_->PutSettingIfAbsent("", "{}", 30, Audit("cell.key.record", 30)).status().code(),
            StatusCode::kInvalidArgument);
}

// Replicas racing to set one key: exactly one value wins, every caller is
// told it, and one audit entry is written.
TEST_P(StoreContractTest, RacingReplicasSetAKeyOnce) {
  if (!GetParam().durable) GTEST_SKIP() << "in-memory adapter: no second replica";
  Result<std::unique_ptr<Store>> other = GetParam().open(dir_.path(), false);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  Store* replicas[2] = {store_.get(), other->get()};
  constexpr int kCallers = 8;
  std::vector<std::string> got(kCallers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      auto kept = replicas[i % 2]->PutSettingIfAbsent("cell.signing-key",
                                                      "{\"keyId\":\"" + std::to_string(i) + "\"}",
                                                      10 + i, Audit("cell.key.record", 10 + i));
      got[static_cast<std::size_t>(i)] = kept.ok() ? kept->value : kept.status().ToString();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 1u) << got[0] << " " << got[1];
  EXPECT_EQ(AllAudit().size(), 1u);
}

}  // namespace
}  // namespace omnirelay::cp
