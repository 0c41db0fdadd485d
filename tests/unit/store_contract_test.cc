// The Store contract (store.h), written only against the Store interface and
// run against every adapter factory Adapters() lists in this test binary. Adapter-specific
// behaviour (SQLite schema versions, OpenStore URLs) is tested at the end.
#include "store_contract.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "store_sqlite_schema.h"

namespace omnirelay::cp {
namespace {

using namespace store_contract;  // NOLINT: the suite's own fixture and builders

// ---- revisions

// An empty store is at revision 0 and has no layers.
TEST_P(StoreContractTest, EmptyStoreIsAtRevisionZero) {
  EXPECT_EQ(Head(), 0);
  Result<std::vector<LayerRecord>> layers = store_->ListLayers();
  ASSERT_TRUE(layers.ok());
  EXPECT_TRUE(layers->empty());
}

// Revisions are global, strictly increasing and gap-free across scopes and deletes.
TEST_P(StoreContractTest, RevisionsAreGapFreeAcrossScopesAndDeletes) {
  EXPECT_EQ(MustWrite(Put("global", "{\"a\":1}", std::nullopt)), 1);
  EXPECT_EQ(MustWrite(Put("region:us-east", "{\"b\":1}", std::nullopt)), 2);
  EXPECT_EQ(MustWrite(Delete("global", std::nullopt)), 3);
  EXPECT_EQ(MustWrite(Put("global", "{\"a\":2}", std::nullopt)), 4);
  EXPECT_EQ(Head(), 4);
  Result<std::vector<RevisionRecord>> all = store_->RevisionsSince(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  for (std::size_t i = 0; i < all->size(); ++i) EXPECT_EQ((*all)[i].revision, std::int64_t(i + 1));
}

// A write that fails (here: deleting a missing scope) consumes no revision.
TEST_P(StoreContractTest, FailedWriteConsumesNoRevision) {
  MustWrite(Put("global", "{}", std::nullopt));
  Result<std::int64_t> missing = store_->WriteLayer(Delete("zone:a", std::nullopt));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(MustWrite(Put("zone:a", "{}", std::nullopt)), 2);
}

// ---- CAS

// Expected revision 0 creates a scope that has no layer.
TEST_P(StoreContractTest, CasZeroCreatesMissingScope) {
  EXPECT_EQ(MustWrite(Put("global", "{}", 0)), 1);
}

// Expected revision 0 on an existing scope conflicts, naming its revision.
TEST_P(StoreContractTest, CasZeroOnExistingScopeConflicts) {
  MustWrite(Put("region:us-east", "{}", std::nullopt));
  Result<std::int64_t> r = store_->WriteLayer(Put("region:us-east", "{\"x\":1}", 0));
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(r.status().message(), "scope \"region:us-east\" already exists at revision 1");
}

// Expected revision N matching the scope's head succeeds.
TEST_P(StoreContractTest, CasMatchingRevisionSucceeds) {
  MustWrite(Put("global", "{}", std::nullopt));
  MustWrite(Put("region:us-east", "{}", std::nullopt));
  EXPECT_EQ(MustWrite(Put("region:us-east", "{\"x\":2}", 2)), 3);
}

// A stale expected revision conflicts with a message naming the current one.
TEST_P(StoreContractTest, CasStaleRevisionConflictsNamingCurrent) {
  for (int i = 0; i < 7; ++i) MustWrite(Put("region:us-east", "{}", std::nullopt));
  Result<std::int64_t> r = store_->WriteLayer(Put("region:us-east", "{\"x\":1}", 5));
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(r.status().message(), "scope \"region:us-east\" is at revision 7, not 5");
}

// Expected revision N on a scope without a layer conflicts.
TEST_P(StoreContractTest, CasRevisionOnMissingScopeConflicts) {
  Result<std::int64_t> r = store_->WriteLayer(Put("region:us-east", "{}", 5));
  EXPECT_EQ(r.status().code(), StatusCode::kConflict);
  EXPECT_EQ(r.status().message(), "scope \"region:us-east\" has no layer, not revision 5");
}

// A conflicting write writes nothing: no revision, no layer change, no audit entry.
TEST_P(StoreContractTest, ConflictWritesNothing) {
  MustWrite(Put("global", "{\"v\":1}", std::nullopt));
  const std::size_t audit_before = AllAudit().size();
  EXPECT_EQ(store_->WriteLayer(Put("global", "{\"v\":2}", 9)).status().code(),
            StatusCode::kConflict);
  EXPECT_EQ(store_->WriteLayer(Delete("global", 9)).status().code(), StatusCode::kConflict);
  EXPECT_EQ(Head(), 1);
  EXPECT_EQ(AllAudit().size(), audit_before);
  Result<LayerRecord> layer = store_->GetLayer("global");
  ASSERT_TRUE(layer.ok());
  EXPECT_EQ(layer->document, "{\"v\":1}");
}

// A delete that names a revision is CAS-guarded like a put.
TEST_P(StoreContractTest, CasDeleteWithMatchingRevisionSucceeds) {
  MustWrite(Put("global", "{}", std::nullopt));
  EXPECT_EQ(MustWrite(Delete("global", 1)), 2);
  EXPECT_EQ(store_->GetLayer("global").status().code(), StatusCode::kNotFound);
}

// Deleting a scope with no layer (unconditionally) is kNotFound.
TEST_P(StoreContractTest, DeleteMissingScopeIsNotFound) {
  EXPECT_EQ(store_->WriteLayer(Delete("global", std::nullopt)).status().code(),
            StatusCode::kNotFound);
}

// A deleted scope has no layer again: expected revision 0 recreates it.
TEST_P(StoreContractTest, DeletedScopeCanBeRecreatedWithCasZero) {
  MustWrite(Put("global", "{}", std::nullopt));
  MustWrite(Delete("global", std::nullopt));
  EXPECT_EQ(MustWrite(Put("global", "{\"again\":true}", 0)), 3);
}

// ---- reading layers

// GetLayer returns the current document with its revision, author and time.
TEST_P(StoreContractTest, GetLayerReturnsCurrentVersion) {
  LayerWrite w = Put("region:us-east", "{\"a\":1}", std::nullopt);
  w.author = "bob";
  w.now_ms = 4242;
  MustWrite(w);
  MustWrite(Put("region:us-east", "{\"a\":2}", 1));
  Result<LayerRecord> layer = store_->GetLayer("region:us-east");
  ASSERT_TRUE(layer.ok()) << layer.status().ToString();
  EXPECT_EQ(layer->scope, "region:us-east");
  EXPECT_EQ(layer->revision, 2);
  EXPECT_EQ(layer->document, "{\"a\":2}");
  EXPECT_EQ(layer->author, "alice");
  EXPECT_EQ(layer->updated_at_ms, 1000);
}

// GetLayer of a scope never written is kNotFound.
TEST_P(StoreContractTest, GetMissingLayerIsNotFound) {
  EXPECT_EQ(store_->GetLayer("global").status().code(), StatusCode::kNotFound);
}

// GetLayer at a revision before the scope was created is kNotFound.
TEST_P(StoreContractTest, GetLayerAtRevisionBeforeCreationIsNotFound) {
  MustWrite(Put("global", "{}", std::nullopt));
  MustWrite(Put("zone:a", "{}", std::nullopt));
  EXPECT_EQ(store_->GetLayer("zone:a", 1).status().code(), StatusCode::kNotFound);
}

// GetLayer at a revision between two puts returns the earlier one.
TEST_P(StoreContractTest, GetLayerAtRevisionBetweenPutsReturnsVersionInForce) {
  MustWrite(Put("zone:a", "{\"v\":1}", std::nullopt));  // 1
  MustWrite(Put("global", "{}", std::nullopt));         // 2
  MustWrite(Put("zone:a", "{\"v\":3}", std::nullopt));  // 3
  Result<LayerRecord> at2 = store_->GetLayer("zone:a", 2);
  ASSERT_TRUE(at2.ok()) << at2.status().ToString();
  EXPECT_EQ(at2->revision, 1);
  EXPECT_EQ(at2->document, "{\"v\":1}");
  Result<LayerRecord> at3 = store_->GetLayer("zone:a", 3);
  ASSERT_TRUE(at3.ok());
  EXPECT_EQ(at3->document, "{\"v\":3}");
}

// GetLayer at a revision after a delete is kNotFound; before it, the old version.
TEST_P(StoreContractTest, GetLayerAtRevisionAfterDeleteIsNotFound) {
  MustWrite(Put("zone:a", "{\"v\":1}", std::nullopt));  // 1
  MustWrite(Delete("zone:a", std::nullopt));            // 2
  MustWrite(Put("global", "{}", std::nullopt));         // 3
  EXPECT_EQ(store_->GetLayer("zone:a", 2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetLayer("zone:a", 3).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetLayer("zone:a", 1).ok());
}

// GetLayer at a revision beyond the head is kNotFound (that state does not exist yet).
TEST_P(StoreContractTest, GetLayerAtFutureRevisionIsNotFound) {
  MustWrite(Put("zone:a", "{}", std::nullopt));
  EXPECT_EQ(store_->GetLayer("zone:a", 2).status().code(), StatusCode::kNotFound);
}

// ListLayers returns current layers ordered by scope, excluding deleted ones.
TEST_P(StoreContractTest, ListLayersExcludesDeletedAndOrdersByScope) {
  WriteTwoCurrentLayersAndADeletedOne();
  ExpectTheTwoCurrentLayers(store_->ListLayers());
}

// GetLayers reads the current layers of the scopes asked for that exist, in
// scope order; deleted and unknown scopes are left out.
TEST_P(StoreContractTest, GetLayersReadsTheExistingCurrentLayers) {
  WriteTwoCurrentLayersAndADeletedOne();
  ExpectTheTwoCurrentLayers(
      store_->GetLayers({"zone:b", "region:us-east", "global", "zone:nowhere"}));
  Result<std::vector<LayerRecord>> none = store_->GetLayers({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // More scopes than a chain has, repeats among them (the Postgres adapter
  // reads up to five scopes with another statement than more).
  ExpectTheTwoCurrentLayers(store_->GetLayers(
      {"zone:b", "region:us-east", "global", "zone:c", "zone:d", "zone:e", "global", "cell:x"}));
  ExpectTheTwoCurrentLayers(store_->GetLayers({"global", "zone:b", "global", "region:us-east"}));
}

// History lists a scope's puts and deletes newest first, at most `limit`.
TEST_P(StoreContractTest, HistoryIsNewestFirstWithLimit) {
  MustWrite(Put("zone:a", "{\"v\":1}", std::nullopt));  // 1
  MustWrite(Put("global", "{}", std::nullopt));         // 2
  MustWrite(Put("zone:a", "{\"v\":3}", std::nullopt));  // 3
  MustWrite(Delete("zone:a", std::nullopt));            // 4
  Result<std::vector<RevisionRecord>> all = store_->History("zone:a", 0, 10);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].revision, 4);
  EXPECT_TRUE((*all)[0].deleted);
  EXPECT_EQ((*all)[0].document, "");
  EXPECT_EQ((*all)[1].revision, 3);
  EXPECT_FALSE((*all)[1].deleted);
  EXPECT_EQ((*all)[1].document, "{\"v\":3}");
  EXPECT_EQ((*all)[1].scope, "zone:a");
  EXPECT_EQ((*all)[1].author, "alice");
  EXPECT_EQ((*all)[1].created_at_ms, 1000);
  EXPECT_EQ((*all)[2].revision, 1);
  Result<std::vector<RevisionRecord>> two = store_->History("zone:a", 0, 2);
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].revision, 3);
}

// History pages: `before` starts a page below that revision, newest first;
// the pages together list every revision of the scope once.
TEST_P(StoreContractTest, HistoryPagesWithBefore) {
  for (int i = 1; i <= 7; ++i) {
    MustWrite(Put("zone:a", "{\"v\":" + std::to_string(i) + "}", std::nullopt));  // 1, 3, ...
    MustWrite(Put("zone:b", "{}", std::nullopt));                                 // 2, 4, ...
  }
  std::vector<std::int64_t> seen;
  std::int64_t before = 0;
  for (int page = 0; page < 10; ++page) {
    Result<std::vector<RevisionRecord>> got = store_->History("zone:a", before, 3);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (got->empty()) break;
    for (const auto& r : *got) {
      EXPECT_EQ(r.scope, "zone:a");
      if (before > 0) {
        EXPECT_LT(r.revision, before);
      }
      seen.push_back(r.revision);
    }
    before = got->back().revision;
  }
  EXPECT_EQ(seen, (std::vector<std::int64_t>{13, 11, 9, 7, 5, 3, 1}));
  Result<std::vector<RevisionRecord>> below_first = store_->History("zone:a", 1, 3);
  ASSERT_TRUE(below_first.ok());
  EXPECT_TRUE(below_first->empty());
}

// RevisionsSince returns revisions after `after`, oldest first, at most `limit`.
TEST_P(StoreContractTest, RevisionsSinceIsOldestFirstWithLimit) {
  for (int i = 0; i < 5; ++i) MustWrite(Put("zone:" + std::to_string(i), "{}", std::nullopt));
  Result<std::vector<RevisionRecord>> page = store_->RevisionsSince(2, 2);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].revision, 3);
  EXPECT_EQ((*page)[0].scope, "zone:2");
  EXPECT_EQ((*page)[1].revision, 4);
  Result<std::vector<RevisionRecord>> rest = store_->RevisionsSince(4, 100);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].revision, 5);
  Result<std::vector<RevisionRecord>> none = store_->RevisionsSince(5, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// ---- audit

// A layer write appends its audit entry, with the new revision filled in.
TEST_P(StoreContractTest, LayerWriteAppendsAuditWithItsRevision) {
  MustWrite(Put("global", "{}", std::nullopt));
  const std::int64_t revision = MustWrite(Delete("global", std::nullopt));
  std::vector<AuditEntry> entries = AllAudit();
  ASSERT_EQ(entries.size(), 2u);
  const AuditEntry& e = entries[1];
  EXPECT_EQ(e.revision, revision);
  EXPECT_EQ(e.action, "layer.delete");
  EXPECT_EQ(e.principal, "alice");
  EXPECT_EQ(e.token_id, "tok-1");
  EXPECT_EQ(e.scope, "global");
  EXPECT_EQ(e.outcome, "ok");
  EXPECT_EQ(e.summary, "1 field changed");
  EXPECT_EQ(e.time_ms, 1000);
  EXPECT_GT(e.id, entries[0].id);
}

// A failed layer write appends no audit entry (the caller records failures itself).
TEST_P(StoreContractTest, FailedLayerWriteAppendsNoAudit) {
  EXPECT_FALSE(store_->WriteLayer(Delete("global", std::nullopt)).ok());
  EXPECT_TRUE(AllAudit().empty());
}

// AppendAudit stores entries verbatim, assigning increasing ids.
TEST_P(StoreContractTest, AppendAuditAssignsIncreasingIds) {
  AuditEntry failed = Audit("layer.put", 10);
  failed.scope = "global";
  failed.outcome = "conflict";
  failed.summary = "expected 3";
  ASSERT_TRUE(store_->AppendAudit({failed, Audit("layer.get", 11)}).ok());
  std::vector<AuditEntry> entries = AllAudit();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_LT(entries[0].id, entries[1].id);
  EXPECT_EQ(entries[0].outcome, "conflict");
  EXPECT_EQ(entries[0].summary, "expected 3");
  EXPECT_EQ(entries[0].revision, 0);
  EXPECT_EQ(entries[1].action, "layer.get");
}

// QueryAudit filters by time and id and pages oldest first.
TEST_P(StoreContractTest, QueryAuditFiltersAndPages) {
  ASSERT_TRUE(store_
                  ->AppendAudit({Audit("a", 100), Audit("b", 200), Audit("c", 300), Audit("d", 400),
                                 Audit("e", 500)})
                  .ok());
  Result<std::vector<AuditEntry>> since = store_->QueryAudit(300, 0, 100);
  ASSERT_TRUE(since.ok()) << since.status().ToString();
  ASSERT_EQ(since->size(), 3u);
  EXPECT_EQ((*since)[0].action, "c");
  EXPECT_EQ((*since)[2].action, "e");

  Result<std::vector<AuditEntry>> first = store_->QueryAudit(0, 0, 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].action, "a");
  EXPECT_EQ((*first)[1].action, "b");
  Result<std::vector<AuditEntry>> next = store_->QueryAudit(0, first->back().id, 2);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].action, "c");
  EXPECT_EQ((*next)[1].action, "d");
}

// A filter applies before the limit: a page of 2 holds the first 2 matches
// even when thousands of entries that do not match come first.
TEST_P(StoreContractTest, QueryAuditFiltersBeforeTheLimit) {
  std::vector<AuditEntry> noise(2000, Audit("layer.get", 100));
  for (auto& e : noise) e.scope = "global";
  ASSERT_TRUE(store_->AppendAudit(noise).ok());
  AuditEntry put = Audit("layer.put", 200);
  put.scope = "region:eu-west";
  AuditEntry revoke = Audit("token.revoke", 300);
  revoke.principal = "ops";
  AuditEntry dry = Audit("layer.put.dry_run", 400);
  dry.scope = "region:eu-west";
  ASSERT_TRUE(store_->AppendAudit({put, revoke, dry}).ok());

  auto actions = [&](const api::AuditFilter& filter) {
    std::vector<std::string> out;
    auto got = store_->QueryAudit(0, 0, 2, filter);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (got.ok()) {
      for (const auto& e : *got) out.push_back(e.action);
    }
    return out;
  };
  auto filter = [](std::string scope, std::string principal, std::string action, bool writes) {
    api::AuditFilter f;
    f.scope = std::move(scope);
    f.principal = std::move(principal);
    f.action = std::move(action);
    f.writes_only = writes;
    return f;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(actions(filter("", "", "", true)), (V{"layer.put", "token.revoke"}));
  EXPECT_EQ(actions(filter("region:eu-west", "", "", false)),
            (V{"layer.put", "layer.put.dry_run"}));
  EXPECT_EQ(actions(filter("region:eu-west", "", "", true)), (V{"layer.put"}));
  EXPECT_EQ(actions(filter("", "ops", "", false)), (V{"token.revoke"}));
  EXPECT_EQ(actions(filter("", "", "layer.put.dry_run", false)), (V{"layer.put.dry_run"}));
  EXPECT_EQ(actions(filter("", "nobody", "", false)), V{});
}

// ---- snapshots

// A snapshot is fetched by hash with every field byte for byte.
TEST_P(StoreContractTest, SnapshotRoundTripsByHash) {
  SnapshotRecord s;
  s.hash = "sha256:abc";
  s.snapshot = std::string("{\"x\":\"\xc3\xa9\"}\n\0tail", 17);
  s.envelope = "{\"payload\":\"...\"}";
  s.version = 12;
  s.scope_chain = "global,region:us-east";
  s.created_at_ms = 5;
  s.expires_at_ms = 6;
  ASSERT_TRUE(store_->PutSnapshot(s).ok());
  Result<SnapshotRecord> got = store_->GetSnapshot("sha256:abc");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->hash, s.hash);
  EXPECT_EQ(got->snapshot, s.snapshot);
  EXPECT_EQ(got->envelope, s.envelope);
  EXPECT_EQ(got->version, 12);
  EXPECT_EQ(got->scope_chain, s.scope_chain);
  EXPECT_EQ(got->created_at_ms, 5);
  EXPECT_EQ(got->expires_at_ms, 6);
}

// LatestSnapshot picks the highest version of a chain, then the latest expiry.
TEST_P(StoreContractTest, LatestSnapshotOfAChain) {
  auto put = [&](std::string hash, std::string chain, std::int64_t version, std::int64_t expires) {
    SnapshotRecord s;
    s.hash = std::move(hash);
    s.scope_chain = std::move(chain);
    s.version = version;
    s.expires_at_ms = expires;
    ASSERT_TRUE(store_->PutSnapshot(s).ok());
  };
  EXPECT_EQ(store_->LatestSnapshot("global").status().code(), StatusCode::kNotFound);
  put("sha256:a", "global", 3, 100);
  put("sha256:b", "global", 5, 100);
  put("sha256:c", "global", 5, 200);  // re-signed: same version, later expiry
  put("sha256:d", "global,region:x", 9, 100);
  Result<SnapshotRecord> latest = store_->LatestSnapshot("global");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->hash, "sha256:c");
}

// A rollout-labelled rendering of a chain's snapshot is found by hash (with
// its label) but is never the chain's latest snapshot or its snapshot of a
// version: those are what every node may be sent.
TEST_P(StoreContractTest, RolloutLabelledSnapshotIsFoundByHashOnly) {
  SnapshotRecord plain;
  plain.hash = "sha256:plain";
  plain.scope_chain = "global";
  plain.version = 5;
  plain.expires_at_ms = 100;
  ASSERT_TRUE(store_->PutSnapshot(plain).ok());
  SnapshotRecord labelled = plain;
  labelled.hash = "sha256:labelled";
  labelled.expires_at_ms = 200;  // would win on expiry were it a candidate
  labelled.rollout = "ro-1/2";
  ASSERT_TRUE(store_->PutSnapshot(labelled).ok());
  Result<SnapshotRecord> got = store_->GetSnapshot("sha256:labelled");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->rollout, "ro-1/2");
  EXPECT_EQ(got->scope_chain, "global");
  EXPECT_EQ(store_->GetSnapshot("sha256:plain")->rollout, "");
  EXPECT_EQ(store_->LatestSnapshot("global")->hash, "sha256:plain");
  EXPECT_EQ(store_->SnapshotOfVersion("global", 5)->hash, "sha256:plain");
}

// Putting an existing hash again is a no-op that succeeds.
TEST_P(StoreContractTest, PutSnapshotIsIdempotentByHash) {
  SnapshotRecord s;
  s.hash = "sha256:abc";
  s.snapshot = "first";
  ASSERT_TRUE(store_->PutSnapshot(s).ok());
  s.snapshot = "second";
  ASSERT_TRUE(store_->PutSnapshot(s).ok());
  Result<SnapshotRecord> got = store_->GetSnapshot("sha256:abc");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->snapshot, "first");
}

// An unknown snapshot hash is kNotFound.
TEST_P(StoreContractTest, GetUnknownSnapshotIsNotFound) {
  EXPECT_EQ(store_->GetSnapshot("sha256:none").status().code(), StatusCode::kNotFound);
}

// ---- nodes

// UpsertNode stores every field, GetNode returns them, a second upsert replaces them.
TEST_P(StoreContractTest, NodeUpsertRoundTripsAllFields) {
  NodeRecord n;
  n.node_id = "relay-1";
  n.scope_chain = "global,region:us-east";
  n.api_version = "v1";
  n.features = {"shadow", "retry-budget"};
  n.assigned_version = 7;
  n.assigned_hash = "sha256:7";
  n.applied_version = 6;
  n.applied_hash = "sha256:6";
  n.discovery_generation = 42;
  n.last_error = "missing_feature: shadow";
  n.health_json = "{\"p99_ms\":12}";
  n.connected = true;
  n.last_seen_ms = 99;
  n.last_error_code = "missing_feature";
  n.last_error_path = "/spec/shadows/a";
  n.assigned_at_ms = 123;
  n.assigned_expires_at_ms = 456;
  ASSERT_TRUE(store_->UpsertNode(n).ok());
  Result<NodeRecord> got = store_->GetNode("relay-1");
  EXPECT_EQ(got->last_error_code, "missing_feature");
  EXPECT_EQ(got->last_error_path, "/spec/shadows/a");
  EXPECT_EQ(got->assigned_at_ms, 123);
  EXPECT_EQ(got->assigned_expires_at_ms, 456);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->scope_chain, n.scope_chain);
  EXPECT_EQ(got->api_version, "v1");
  EXPECT_EQ(got->features, n.features);
  EXPECT_EQ(got->assigned_version, 7);
  EXPECT_EQ(got->assigned_hash, "sha256:7");
  EXPECT_EQ(got->applied_version, 6);
  EXPECT_EQ(got->applied_hash, "sha256:6");
  EXPECT_EQ(got->discovery_generation, 42);
  EXPECT_EQ(got->last_error, n.last_error);
  EXPECT_EQ(got->health_json, n.health_json);
  EXPECT_TRUE(got->connected);
  EXPECT_EQ(got->last_seen_ms, 99);

  n.features.clear();
  n.applied_version = 7;
  n.last_error = "";
  n.connected = false;
  ASSERT_TRUE(store_->UpsertNode(n).ok());
  got = store_->GetNode("relay-1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->features.empty());
  EXPECT_EQ(got->applied_version, 7);
  EXPECT_EQ(got->last_error, "");
  EXPECT_FALSE(got->connected);
}

// UpsertNodes writes a batch as one unit: inserts and updates land together,
// and a batch holding an invalid record writes none of it (the adapter checks
// the whole batch before its transaction; atomicity of the transaction itself
// is the store's group commit, covered by the CAS and crash tests).
// Forgetting a node removes its record (and its profile); expiry removes the
// disconnected nodes last seen before a cutoff, never a connected one.
TEST_P(StoreContractTest, NodesAreForgottenAndExpired) {
  auto node = [](const std::string& id, bool connected, std::int64_t seen) {
    NodeRecord n;
    n.node_id = id;
    n.scope_chain = "global";
    n.health_json = "{}";
    n.connected = connected;
    n.last_seen_ms = seen;
    return n;
  };
  ASSERT_TRUE(store_
                  ->UpsertNodes({node("a", false, 100), node("b", false, 300), node("c", true, 50),
                                 node("d", false, 99)})
                  .ok());
  EXPECT_EQ(store_->DeleteNode("zz").code(), StatusCode::kNotFound);
  ASSERT_TRUE(store_->DeleteNode("d").ok());
  EXPECT_EQ(store_->GetNode("d").status().code(), StatusCode::kNotFound);
  auto expired = store_->DeleteNodesOfflineSince(200);
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(*expired, std::vector<std::string>{"a"});
  auto left = store_->ListNodes();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].node_id, "b");
  EXPECT_EQ((*left)[1].node_id, "c");  // connected: never expired
  EXPECT_EQ(store_->NodeProfiles()->at(0).nodes, 2);
  EXPECT_TRUE(store_->DeleteNodesOfflineSince(200)->empty());
}

TEST_P(StoreContractTest, UpsertNodesIsAllOrNothing) {
  std::vector<NodeRecord> batch;
  for (int i = 0; i < 50; ++i) {
    NodeRecord n;
    n.node_id = "relay-" + std::to_string(i);
    n.scope_chain = "global";
    n.applied_version = i;
    n.health_json = "{}";
    batch.push_back(n);
  }
  ASSERT_TRUE(store_->UpsertNodes(batch).ok());
  ASSERT_TRUE(store_->UpsertNodes({}).ok());
  Result<std::vector<NodeRecord>> nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->size(), 50u);
  EXPECT_EQ(store_->GetNode("relay-7")->applied_version, 7);

  batch[7].applied_version = 70;
  batch.resize(10);
  NodeRecord bad;  // no node id
  batch.push_back(bad);
  EXPECT_EQ(store_->UpsertNodes(batch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetNode("relay-7")->applied_version, 7);

  batch.pop_back();
  ASSERT_TRUE(store_->UpsertNodes(batch).ok());
  EXPECT_EQ(store_->GetNode("relay-7")->applied_version, 70);
  EXPECT_EQ(store_->ListNodes()->size(), 50u);
}

// NodeProfiles groups nodes by (chain, api version, features) with counts;
// NodesWithProfile lists the ids of one group.
TEST_P(StoreContractTest, NodeProfilesGroupTheFleet) {
  auto add = [&](const std::string& id, const std::string& chain,
                 std::vector<std::string> features) {
    NodeRecord n;
    n.node_id = id;
    n.scope_chain = chain;
    n.api_version = "omnirelay.config/v1";
    n.features = std::move(features);
    n.health_json = "{}";
    ASSERT_TRUE(store_->UpsertNode(n).ok());
  };
  add("a-1", "global,region:eu", {"shadowing"});
  add("a-2", "global,region:eu", {"shadowing"});
  add("a-3", "global,region:eu", {});
  add("b-1", "global", {"shadowing"});
  Result<std::vector<NodeProfile>> profiles = store_->NodeProfiles();
  ASSERT_TRUE(profiles.ok()) << profiles.status().ToString();
  ASSERT_EQ(profiles->size(), 3u);
  EXPECT_EQ((*profiles)[0].scope_chain, "global");
  EXPECT_EQ((*profiles)[0].nodes, 1);
  std::int64_t total = 0;
  for (const auto& p : *profiles) total += p.nodes;
  EXPECT_EQ(total, 4);

  NodeProfile eu_shadow;
  eu_shadow.scope_chain = "global,region:eu";
  eu_shadow.api_version = "omnirelay.config/v1";
  eu_shadow.features = {"shadowing"};
  Result<std::vector<std::string>> ids = store_->NodesWithProfile(eu_shadow);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  EXPECT_EQ(*ids, (std::vector<std::string>{"a-1", "a-2"}));
  eu_shadow.features.clear();
  EXPECT_EQ(*store_->NodesWithProfile(eu_shadow), std::vector<std::string>{"a-3"});
  eu_shadow.scope_chain = "global,region:none";
  EXPECT_TRUE(store_->NodesWithProfile(eu_shadow)->empty());

  // A node with a new profile, or one gone, counts at the next read, even
  // where the adapter keeps its answer (Postgres, store_profile_cache.h).
  add("c-1", "global,region:ap", {"artefacts"});
  profiles = store_->NodeProfiles();
  ASSERT_TRUE(profiles.ok()) << profiles.status().ToString();
  EXPECT_EQ(profiles->size(), 4u);
  ASSERT_TRUE(store_->DeleteNode("b-1").ok());
  profiles = store_->NodeProfiles();
  ASSERT_TRUE(profiles.ok()) << profiles.status().ToString();
  EXPECT_EQ(profiles->size(), 3u);
  EXPECT_EQ((*profiles)[0].scope_chain, "global,region:ap");
}

// ListNodes returns every node ordered by id; an unknown node is kNotFound.
TEST_P(StoreContractTest, ListNodesOrdersById) {
  for (const char* id : {"relay-2", "relay-1", "relay-3"}) {
    NodeRecord n;
    n.node_id = id;
    n.health_json = "{}";
    ASSERT_TRUE(store_->UpsertNode(n).ok());
  }
  Result<std::vector<NodeRecord>> nodes = store_->ListNodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 3u);
  EXPECT_EQ((*nodes)[0].node_id, "relay-1");
  EXPECT_EQ((*nodes)[2].node_id, "relay-3");
  EXPECT_EQ(store_->GetNode("relay-9").status().code(), StatusCode::kNotFound);
}

// ---- tokens

// A created token is found by its secret hash with all fields, and audited.
TEST_P(StoreContractTest, CreateTokenFindsBySecretHash) {
  ASSERT_TRUE(store_->CreateToken(Token("t1", "hash-1", 10), Audit("token.create", 10)).ok());
  Result<TokenRecord> got = store_->FindTokenBySecretHash("hash-1");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, "t1");
  EXPECT_EQ(got->name, "ci-t1");
  EXPECT_EQ(got->scopes, (std::vector<std::string>{"config:read", "config:write"}));
  EXPECT_EQ(got->created_at_ms, 10);
  EXPECT_EQ(got->expires_at_ms, 3600010);
  EXPECT_EQ(got->revoked_at_ms, 0);
  EXPECT_EQ(store_->FindTokenBySecretHash("hash-2").status().code(), StatusCode::kNotFound);
  std::vector<AuditEntry> entries = AllAudit();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "token.create");
}

// A token id or secret hash already in use conflicts and writes nothing.
TEST_P(StoreContractTest, DuplicateTokenConflicts) {
  ASSERT_TRUE(store_->CreateToken(Token("t1", "hash-1", 10), Audit("token.create", 10)).ok());
  EXPECT_EQ(store_->CreateToken(Token("t1", "hash-2", 11), Audit("token.create", 11)).code(),
            StatusCode::kConflict);
  EXPECT_EQ(store_->CreateToken(Token("t2", "hash-1", 12), Audit("token.create", 12)).code(),
            StatusCode::kConflict);
  Result<std::vector<TokenRecord>> tokens = store_->ListTokens();
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 1u);
  EXPECT_EQ(AllAudit().size(), 1u);
}

// ListTokens returns every token, oldest first.
TEST_P(StoreContractTest, ListTokensOldestFirst) {
  ASSERT_TRUE(store_->CreateToken(Token("b", "hash-b", 20), Audit("token.create", 20)).ok());
  ASSERT_TRUE(store_->CreateToken(Token("a", "hash-a", 30), Audit("token.create", 30)).ok());
  Result<std::vector<TokenRecord>> tokens = store_->ListTokens();
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].id, "b");
  EXPECT_EQ((*tokens)[1].id, "a");
}

// RevokeToken sets revoked_at and appends its audit entry.
TEST_P(StoreContractTest, RevokeTokenSetsRevokedAtAndAudits) {
  ASSERT_TRUE(store_->CreateToken(Token("t1", "hash-1", 10), Audit("token.create", 10)).ok());
  ASSERT_TRUE(store_->RevokeToken("t1", 77, Audit("token.revoke", 77)).ok());
  Result<TokenRecord> got = store_->FindTokenBySecretHash("hash-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->revoked_at_ms, 77);
  std::vector<AuditEntry> entries = AllAudit();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].action, "token.revoke");
}

// A name names one live token: a second one is a conflict until the first
// is revoked.
TEST_P(StoreContractTest, TokenNameIsTakenUntilRevoked) {
  TokenRecord first = Token("t1", "hash-1", 10);
  first.name = "deployer";
  TokenRecord second = Token("t2", "hash-2", 11);
  second.name = "deployer";
  ASSERT_TRUE(store_->CreateToken(first, Audit("token.create", 10)).ok());
  Status taken = store_->CreateToken(second, Audit("token.create", 11));
  EXPECT_EQ(taken.code(), StatusCode::kConflict);
  EXPECT_NE(taken.message().find("t1"), std::string::npos) << taken.message();
  ASSERT_TRUE(store_->RevokeToken("t1", 12, Audit("token.revoke", 12)).ok());
  EXPECT_TRUE(store_->CreateToken(second, Audit("token.create", 13)).ok());
}

// Revoking a revoked token is kConflict, keeps the first revocation time and
// appends no audit entry.
TEST_P(StoreContractTest, RevokingARevokedTokenConflicts) {
  ASSERT_TRUE(store_->CreateToken(Token("t1", "hash-1", 10), Audit("token.create", 10)).ok());
  ASSERT_TRUE(store_->RevokeToken("t1", 77, Audit("token.revoke", 77)).ok());
  EXPECT_EQ(store_->RevokeToken("t1", 88, Audit("token.revoke", 88)).code(), StatusCode::kConflict);
  EXPECT_EQ(store_->FindTokenBySecretHash("hash-1")->revoked_at_ms, 77);
  EXPECT_EQ(AllAudit().size(), 2u);
}

// Revoking an unknown token is kNotFound and appends no audit entry.
TEST_P(StoreContractTest, RevokeUnknownTokenIsNotFound) {
  EXPECT_EQ(store_->RevokeToken("nope", 77, Audit("token.revoke", 77)).code(),
            StatusCode::kNotFound);
  EXPECT_TRUE(AllAudit().empty());
}

// ---- rollouts

// Rollouts are upserted by id, fetched, and listed by id.
TEST_P(StoreContractTest, RolloutsPutGetList) {
  ASSERT_TRUE(store_->PutRollout({"r2", "{\"wave\":0}", 1}).ok());
  ASSERT_TRUE(store_->PutRollout({"r1", "{\"wave\":0}", 2}).ok());
  ASSERT_TRUE(store_->PutRollout({"r2", "{\"wave\":1}", 3}).ok());
  Result<RolloutRecord> r2 = store_->GetRollout("r2");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->state_json, "{\"wave\":1}");
  EXPECT_EQ(r2->updated_at_ms, 3);
  Result<std::vector<RolloutRecord>> all = store_->ListRollouts();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, "r1");
  EXPECT_EQ((*all)[1].id, "r2");
  EXPECT_EQ(store_->GetRollout("r9").status().code(), StatusCode::kNotFound);
  // The heads: every rollout by id with its generation, without its state.
  Result<std::vector<RolloutRecord>> heads = store_->ListRolloutHeads();
  ASSERT_TRUE(heads.ok()) << heads.status().ToString();
  ASSERT_EQ(heads->size(), 2u);
  EXPECT_EQ((*heads)[0].id, "r1");
  EXPECT_EQ((*heads)[1].id, "r2");
  EXPECT_EQ((*heads)[1].updated_at_ms, 3);
  EXPECT_EQ((*heads)[1].generation, r2->generation);
  EXPECT_TRUE((*heads)[1].state_json.empty());
}

// A rollout's members are kept beside its state: a put that names the
// generation it expects and says its members are unchanged rewrites the
// state alone (what a promotion writes); every other put writes both.
TEST_P(StoreContractTest, RolloutMembersStayUntilAPutRewritesThem) {
  ASSERT_TRUE(store_->PutRollout({"r1", "{\"head\":0}", 1, 1, "{\"members\":0}"}).ok());
  auto stored = [&] { return store_->GetRollout("r1").value(); };
  EXPECT_EQ(stored().members_json, "{\"members\":0}");

  RolloutRecord promoted{"r1", "{\"head\":1}", 2, 2, "not written"};
  promoted.members_unchanged = true;
  ASSERT_TRUE(store_->PutRollout(promoted, 1).ok());
  EXPECT_EQ(stored().state_json, "{\"head\":1}");
  EXPECT_EQ(stored().generation, 2);
  EXPECT_EQ(stored().updated_at_ms, 2);
  EXPECT_EQ(stored().members_json, "{\"members\":0}");
  // The CAS still decides: a stale generation writes nothing.
  promoted.state_json = "{\"head\":9}";
  EXPECT_EQ(store_->PutRollout(promoted, 1).code(), StatusCode::kConflict);
  EXPECT_EQ(stored().state_json, "{\"head\":1}");

  // Members changed (a node joined): both written.
  ASSERT_TRUE(store_->PutRollout({"r1", "{\"head\":2}", 3, 3, "{\"members\":1}"}, 2).ok());
  EXPECT_EQ(stored().members_json, "{\"members\":1}");
  // Without an expected generation the flag is not trusted: both written.
  RolloutRecord blind{"r1", "{\"head\":3}", 4, 4, "{\"members\":2}"};
  blind.members_unchanged = true;
  ASSERT_TRUE(store_->PutRollout(blind).ok());
  EXPECT_EQ(stored().members_json, "{\"members\":2}");
  auto all = store_->ListRollouts();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].members_json, "{\"members\":2}");
  EXPECT_TRUE(store_->ListRolloutHeads()->at(0).members_json.empty());
  // A record of the format before (everything in state_json) clears them.
  ASSERT_TRUE(store_->PutRollout({"r1", "{\"whole\":1}", 5, 5}, 4).ok());
  EXPECT_EQ(stored().members_json, "");
  // ... and then there is nothing to keep: a head alone is refused.
  RolloutRecord head_only{"r1", "{\"head\":6}", 6, 6};
  head_only.members_unchanged = true;
  EXPECT_EQ(store_->PutRollout(head_only, 5).code(), StatusCode::kConflict);
  EXPECT_EQ(stored().state_json, "{\"whole\":1}");
}

// ---- durability and concurrency

// With full durability, everything written is there after closing and reopening.
TEST_P(StoreContractTest, ReopenKeepsEverything) {
  if (!GetParam().durable) GTEST_SKIP() << "adapter is not durable";
  Open(/*full_sync=*/true);
  MustWrite(Put("global", "{\"a\":1}", 0));
  MustWrite(Put("region:us-east", "{\"b\":1}", 0));
  MustWrite(Delete("region:us-east", 2));
  SnapshotRecord s;
  s.hash = "sha256:abc";
  s.snapshot = "snap";
  ASSERT_TRUE(store_->PutSnapshot(s).ok());
  NodeRecord n;
  n.node_id = "relay-1";
  n.features = {"shadow"};
  ASSERT_TRUE(store_->UpsertNode(n).ok());
  ASSERT_TRUE(store_->CreateToken(Token("t1", "hash-1", 10), Audit("token.create", 10)).ok());
  ASSERT_TRUE(store_->PutRollout({"r1", "{}", 1}).ok());

  Open(/*full_sync=*/true);
  EXPECT_EQ(Head(), 3);
  Result<LayerRecord> global = store_->GetLayer("global");
  ASSERT_TRUE(global.ok());
  EXPECT_EQ(global->document, "{\"a\":1}");
  EXPECT_EQ(store_->GetLayer("region:us-east").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->GetLayer("region:us-east", 2).ok());
  EXPECT_TRUE(store_->GetSnapshot("sha256:abc").ok());
  Result<NodeRecord> node = store_->GetNode("relay-1");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->features, std::vector<std::string>{"shadow"});
  EXPECT_TRUE(store_->FindTokenBySecretHash("hash-1").ok());
  EXPECT_TRUE(store_->GetRollout("r1").ok());
  EXPECT_EQ(AllAudit().size(), 4u);
  EXPECT_EQ(MustWrite(Put("global", "{\"a\":2}", 1)), 4);
}

// 8 threads x 200 CAS-retry increments on one scope: exactly 1,600 writes, revisions 1..1600.
TEST_P(StoreContractTest, ConcurrentCasIncrementsAreSerialisable) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 200;
  std::atomic<int> successes{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kIncrements;) {
        Result<LayerRecord> current = store_->GetLayer("global");
        std::int64_t expected = 0;
        int count = 0;
        if (current.ok()) {
          expected = current->revision;
          count = std::stoi(current->document);
        } else if (current.status().code() != StatusCode::kNotFound) {
          ++unexpected;
          return;
        }
        Result<std::int64_t> written =
            store_->WriteLayer(Put("global", std::to_string(count + 1), expected));
        if (written.ok()) {
          ++done;
          ++successes;
        } else if (written.status().code() != StatusCode::kConflict) {
          ++unexpected;
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(unexpected.load(), 0);
  EXPECT_EQ(successes.load(), kThreads * kIncrements);
  Result<LayerRecord> final_layer = store_->GetLayer("global");
  ASSERT_TRUE(final_layer.ok());
  EXPECT_EQ(final_layer->document, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(Head(), kThreads * kIncrements);
  Result<std::vector<RevisionRecord>> all = store_->RevisionsSince(0, 10000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), std::size_t{kThreads * kIncrements});
  for (std::size_t i = 0; i < all->size(); ++i) {
    ASSERT_EQ((*all)[i].revision, std::int64_t(i + 1));
    ASSERT_EQ((*all)[i].document, std::to_string(i + 1));
  }
}

std::string AdapterName(const ::testing::TestParamInfo<AdapterFactory>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Adapters, StoreContractTest, ::testing::ValuesIn(Adapters()), AdapterName);

// ---- SQLite adapter specifics

// Opening a database whose schema version is newer than this build knows fails cleanly.
TEST(SqliteStoreTest, NewerSchemaVersionIsRefused) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore({.path = path, .synchronous_full = false}).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "INSERT INTO schema_migrations (version, description, applied_at_ms) "
                         "VALUES (999, 'from the future', 0)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<Store>> opened = OpenSqliteStore({.path = path});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kInternal);
  EXPECT_NE(opened.status().message().find("schema version 999 is newer than this build knows (" +
                                           std::to_string(sqlite::KnownSchemaVersion()) + ")"),
            std::string::npos)
      << opened.status().message();
}

// A history page seeks its index; no audit query scans or sorts the whole
// log (the statements have the shape store_sqlite.cc runs).
TEST(SqliteStoreTest, HistoryPagesAndAuditFiltersSeekOrWalkInOrder) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  ASSERT_TRUE(OpenSqliteStore({.path = path, .synchronous_full = false}).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto plan = [&](const std::string& sql) {
    std::string out;
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr),
              SQLITE_OK);
    while (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      out += "; ";
    }
    sqlite3_finalize(stmt);
    return out;
  };
  const std::string history = plan(
      "SELECT revision, document FROM revisions WHERE scope = 'global' AND revision < 50 "
      "ORDER BY revision DESC LIMIT 101");
  EXPECT_NE(history.find("revisions_by_scope"), std::string::npos) << history;
  EXPECT_EQ(history.find("TEMP B-TREE"), std::string::npos) << history;
  auto audit = [&](const char* column) {
    return plan(std::string("SELECT id, summary FROM audit WHERE id > 0 AND time_ms >= 0 AND ") +
                column + " = 'x' ORDER BY id LIMIT 1000");
  };
  // Filters have no index of their own (migration 7: each would cost every
  // write); they walk the log in id order from the cursor, never sorting it.
  for (const char* column : {"scope", "principal", "action"}) {
    const std::string walked = audit(column);
    EXPECT_EQ(walked.find("TEMP B-TREE"), std::string::npos) << walked;
    EXPECT_EQ(walked.find("SCAN audit"), std::string::npos) << walked;
  }
  sqlite3_close(db);
}

// A file that is not a SQLite database is refused, not overwritten.
TEST(SqliteStoreTest, ForeignFileIsRefused) {
  TempDir dir;
  const std::string path = dir.path() + "/state.db";
  {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs("this is not a database, just some text long enough to have a header......\n", f);
    fclose(f);
  }
  Result<std::unique_ptr<Store>> opened = OpenSqliteStore({.path = path});
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("not a database"), std::string::npos);
  EXPECT_NE(opened.status().message().find(path), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(path), 74u);
}

// ---- OpenStore URLs

// sqlite:// URLs open a file store; the in-memory forms open a private store.
TEST(OpenStoreTest, SqliteUrlsOpen) {
  TempDir dir;
  Result<std::unique_ptr<Store>> file = OpenStore("sqlite://" + dir.path() + "/state.db");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/state.db"));
  EXPECT_TRUE(OpenStore("sqlite::memory:").ok());
  EXPECT_TRUE(OpenStore("sqlite://:memory:").ok());
}

// A sqlite file that cannot be created is kIoError.
TEST(OpenStoreTest, UnopenableFileIsIoError) {
  TempDir dir;
  Result<std::unique_ptr<Store>> opened = OpenStore("sqlite://" + dir.path() + "/missing/state.db");
  EXPECT_EQ(opened.status().code(), StatusCode::kIoError);
  EXPECT_NE(opened.status().message().find("missing/state.db"), std::string::npos);
}

// postgres:// and postgresql:// open the Postgres adapter: with no server
// there, kUnavailable, and the url (which may hold a password) is not
// repeated in the message. (Against a real server: store_postgres_test.cc.)
TEST(OpenStoreTest, PostgresUrlWithoutAServerIsUnavailable) {
  for (const char* url : {"postgres://u:secret@127.0.0.1:1/omni",
                          "postgresql://u:secret@127.0.0.1:1/omni?sslmode=disable"}) {
    Result<std::unique_ptr<Store>> opened = OpenStore(url);
    EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable) << opened.status().ToString();
    EXPECT_EQ(opened.status().message().find("secret"), std::string::npos)
        << opened.status().message();
  }
}

// Any other URL is kInvalidArgument listing the accepted forms.
TEST(OpenStoreTest, UnknownSchemeListsAcceptedForms) {
  for (const char* url : {"mysql://x", "state.db", "sqlite://", ""}) {
    Result<std::unique_ptr<Store>> opened = OpenStore(url);
    EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_NE(opened.status().message().find("sqlite://<path>"), std::string::npos) << url;
  }
  // The refusal quotes the scheme only, never credentials in the url.
  Result<std::unique_ptr<Store>> opened = OpenStore("mysql://admin:hunter2@db/x");
  EXPECT_NE(opened.status().message().find("\"mysql\""), std::string::npos);
  EXPECT_EQ(opened.status().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace omnirelay::cp
