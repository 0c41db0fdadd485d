// The service's write path around PlanWrite: what it publishes after a
// commit, how it reports a bus that refuses, and the one size limit.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"
#include "service_stack.h"

namespace omnirelay::cp {
namespace {

// A bus that records what it is given and refuses it while `fail` is set.
class FakeBus final : public Bus {
 public:
  Status Publish(const ChangeEvent& event) override {
    MutexLock lock(mu_);
    events_.push_back(event);
    if (fail_) return Status(StatusCode::kUnavailable, "bus down");
    return Status::Ok();
  }
  int Subscribe(Handler) override { return 1; }
  void Unsubscribe(int) override {}

  void set_fail(bool fail) {
    MutexLock lock(mu_);
    fail_ = fail;
  }
  std::vector<ChangeEvent> events() {
    MutexLock lock(mu_);
    return events_;
  }

 private:
  Mutex mu_;
  std::vector<ChangeEvent> events_ GUARDED_BY(mu_);
  bool fail_ GUARDED_BY(mu_) = false;
};

class ServiceWriteTest : public ::testing::Test {
 protected:
  static std::string Sample(const std::string& name) { return testing::ServiceStack::Sample(name); }
  static std::string GlobalLayer() { return Sample("00-global.json"); }

  // A layer document for `scope` with `spec` (JSON text).
  static std::string Layer(const std::string& scope, const std::string& spec) {
    return R"({"apiVersion": "omnirelay.config/v1", "kind": "ConfigLayer",
               "metadata": {"scope": ")" +
           scope + R"(", "author": "test"}, "spec": )" + spec + "}";
  }

  Result<WriteOutcome> Put(const std::string& scope, const std::string& doc, bool confirm = false,
                           bool allow_unknown_node = false) {
    return service_->PutLayer(admin_, scope, doc, std::nullopt, false, confirm, allow_unknown_node);
  }

  // A node the store knows (as a hello would leave it), on `chain`.
  Status AddKnownNode(const std::string& id, const std::string& chain) {
    NodeRecord node;
    node.node_id = id;
    node.scope_chain = chain;
    node.api_version = "omnirelay.config/v1";
    node.features = {"shadowing"};
    node.health_json = "{}";
    return store_->UpsertNode(node);
  }

  static bool HasDiag(const Status& s, DiagCode code, const std::string& text = "") {
    for (const auto& d : s.diagnostics()) {
      if (d.code == code && d.message.find(text) != std::string::npos) return true;
    }
    return false;
  }

  std::uint64_t PublishFailures() {
    return metrics_.counter("omnirelay_cp_bus_publish_failures_total", "").value();
  }

  FakeBus bus_;
  testing::ServiceStack stack_{bus_};
  const Principal& admin_ = stack_.admin;
  FakeClock& clock_ = stack_.clock;
  MetricsRegistry& metrics_ = stack_.metrics;
  std::unique_ptr<Store>& store_ = stack_.store;
  std::unique_ptr<ControlPlaneService>& service_ = stack_.service;
};

// A committed write publishes its revision, its scope and the content id of
// the layer document it wrote; a deletion publishes "" for the scope.
TEST_F(ServiceWriteTest, ChangeEventCarriesLayerHashes) {
  const std::string doc = GlobalLayer();
  auto put = service_->PutLayer(admin_, "global", doc, std::nullopt, false, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  auto del = service_->DeleteLayer(admin_, "global", put->revision, false, true);
  ASSERT_TRUE(del.ok()) << del.status().ToString();

  auto events = bus_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].revision, put->revision);
  EXPECT_EQ(events[0].scopes, std::vector<std::string>{"global"});
  EXPECT_EQ(events[0].hashes, std::vector<std::string>{ContentId(doc)});
  EXPECT_EQ(events[1].revision, del->revision);
  EXPECT_EQ(events[1].hashes, std::vector<std::string>{""});
}

// A freeze stored by another replica (this one's cache says not frozen)
// refuses a write at its commit, worded as any freeze refusal; an unfreeze
// made elsewhere lets the next write through at once.
TEST_F(ServiceWriteTest, AFreezeThroughAnotherReplicaRefusesAtTheCommit) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  AuditEntry audit;
  audit.action = "freeze.set";
  audit.outcome = "ok";
  ASSERT_TRUE(store_
                  ->PutSetting("freeze", R"({"reason":"incident 9","by":"bob","sinceMs":5})",
                               clock_.NowUnixMs(), audit)
                  .ok());
  auto refused = Put("region:us-east", Layer("region:us-east", "{}"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFrozen);
  EXPECT_NE(refused.status().message().find("a layer write refused: changes are frozen by bob"),
            std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("incident 9"), std::string::npos);
  ASSERT_TRUE(store_->PutSetting("freeze", std::nullopt, clock_.NowUnixMs(), audit).ok());
  auto written = Put("region:us-east", Layer("region:us-east", "{}"));
  EXPECT_TRUE(written.ok()) << written.status().ToString();
}

// Another service on the same store: another replica of the cell, with a
// memory (PlanMemo) of its own.
struct OtherReplica {
  explicit OtherReplica(testing::ServiceStack& stack, Bus& bus)
      : service(*stack.store, bus, *stack.auth, *stack.renderer, stack.trusted, stack.clock,
                metrics) {}
  MetricsRegistry metrics;
  ControlPlaneService service;
};

constexpr char kExtraCluster[] =
    R"({"clusters": {"extra": {"service": "auth", "region": "eu-west", "cell": "euw1-a"}}})";
constexpr char kRouteToExtra[] =
    R"({"routes": {"auth": {"weights": {"auth-v1": null, "extra": 100}}}})";

// A write is validated on the chain's layers this replica remembers (no
// read); when another replica changed one of them since, the store refuses
// the commit (checked_layers) and the write is planned again on the layers
// read now: here it would leave a route to a cluster the other replica
// removed, so it is refused and nothing is stored.
TEST_F(ServiceWriteTest, AWriteValidatedOnALayerAnotherReplicaChangedIsPlannedAgain) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  ASSERT_TRUE(Put("region:eu-west", Layer("region:eu-west", kExtraCluster)).ok());
  auto cell = Put("cell:euw1-a", Layer("cell:euw1-a", "{}"));
  ASSERT_TRUE(cell.ok()) << cell.status().ToString();
  OtherReplica other(stack_, bus_);
  auto removed = other.service.DeleteLayer(admin_, "region:eu-west", std::nullopt, false, false);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();

  auto stale = Put("cell:euw1-a", Layer("cell:euw1-a", kRouteToExtra));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kInvalid) << stale.status().ToString();
  EXPECT_TRUE(HasDiag(stale.status(), DiagCode::kDanglingCluster)) << stale.status().ToString();
  EXPECT_EQ(metrics_.counter("omnirelay_cp_write_replans_total", "").value(), 1u)
      << "the first plan was made on the remembered layers";
  auto stored = store_->GetLayer("cell:euw1-a");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->revision, cell->revision);
}

// The other way round: a write the remembered layers would refuse, valid on
// the layers as stored now (another replica added what it needs), is not
// refused for a stale memory: it is planned again on a read and stored.
TEST_F(ServiceWriteTest, AWriteRefusedOnlyByAStaleMemoryIsStored) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  ASSERT_TRUE(Put("region:eu-west", Layer("region:eu-west", "{}")).ok());
  ASSERT_TRUE(Put("cell:euw1-a", Layer("cell:euw1-a", "{}")).ok());
  OtherReplica other(stack_, bus_);
  auto added = other.service.PutLayer(
      admin_, "region:eu-west", Layer("region:eu-west", kExtraCluster), std::nullopt, false, false);
  ASSERT_TRUE(added.ok()) << added.status().ToString();

  auto written = Put("cell:euw1-a", Layer("cell:euw1-a", kRouteToExtra));
  EXPECT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(metrics_.counter("omnirelay_cp_validation_failures_total", "").value(), 0u);
}

// A CAS conflict stays final: the write is not planned again.
TEST_F(ServiceWriteTest, ACasConflictIsNotPlannedAgain) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto cell = Put("cell:euw1-a", Layer("cell:euw1-a", "{}"));
  ASSERT_TRUE(cell.ok());
  OtherReplica other(stack_, bus_);
  ASSERT_TRUE(
      other.service
          .PutLayer(admin_, "cell:euw1-a", Layer("cell:euw1-a", "{}"), cell->revision, false, false)
          .ok());
  auto stale = service_->PutLayer(admin_, "cell:euw1-a", Layer("cell:euw1-a", "{}"), cell->revision,
                                  false, false);
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict) << stale.status().ToString();
  EXPECT_EQ(stale.status().message(), "scope \"cell:euw1-a\" is at revision " +
                                          std::to_string(cell->revision + 1) + ", not " +
                                          std::to_string(cell->revision));
  EXPECT_EQ(metrics_.counter("omnirelay_cp_write_replans_total", "").value(), 0u);
  EXPECT_EQ(metrics_.counter("omnirelay_cp_cas_conflicts_total", "").value(), 1u);
}

// A dry run commits nothing and publishes nothing.
TEST_F(ServiceWriteTest, DryRunPublishesNothing) {
  auto put = service_->PutLayer(admin_, "global", GlobalLayer(), std::nullopt, true, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(bus_.events().empty());
}

// A bus that refuses an event is counted; the committed write still succeeds.
TEST_F(ServiceWriteTest, FailedPublishIsCounted) {
  bus_.set_fail(true);
  EXPECT_EQ(PublishFailures(), 0u);
  auto put = service_->PutLayer(admin_, "global", GlobalLayer(), std::nullopt, false, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_GT(put->revision, 0);
  EXPECT_EQ(PublishFailures(), 1u);
  EXPECT_NE(metrics_.RenderPrometheus().find("omnirelay_cp_bus_publish_failures_total 1"),
            std::string::npos);
  bus_.set_fail(false);
  auto again = service_->PutLayer(admin_, "global", GlobalLayer(), put->revision, false, false);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(PublishFailures(), 1u);
}

// A token revocation whose event the bus refuses is counted too.
TEST_F(ServiceWriteTest, FailedRevocationPublishIsCounted) {
  auto issued = service_->CreateToken(admin_, "ci", {"config:read"}, 0);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  bus_.set_fail(true);
  EXPECT_TRUE(service_->RevokeToken(admin_, issued->record.id).ok());
  EXPECT_EQ(PublishFailures(), 1u);
}

// One size limit: a layer just over kDefaultMaxDocumentBytes is refused by
// the service (too_large) with the very diagnostic offline validation gives.
TEST_F(ServiceWriteTest, LayerJustOverTheLimitRefusedLikeOffline) {
  std::string doc = GlobalLayer();
  doc.append(kDefaultMaxDocumentBytes + 1 - doc.size(), ' ');
  auto put = service_->PutLayer(admin_, "global", doc, std::nullopt, false, false);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), StatusCode::kTooLarge);

  DocumentSetReport offline = ValidateDocuments({{"layer.json", doc}});
  ASSERT_EQ(offline.errors.size(), 1u);
  EXPECT_EQ(offline.errors[0].diagnostic.code, DiagCode::kParseError);
  ASSERT_EQ(put.status().diagnostics().size(), 1u);
  EXPECT_EQ(put.status().diagnostics()[0], offline.errors[0].diagnostic);
  EXPECT_TRUE(bus_.events().empty());
}

// A layer at the limit passes both, the same way.
TEST_F(ServiceWriteTest, LayerAtTheLimitAcceptedLikeOffline) {
  std::string doc = GlobalLayer();
  doc.append(kDefaultMaxDocumentBytes - doc.size(), ' ');
  EXPECT_TRUE(ValidateDocuments({{"layer.json", doc}}).valid());
  auto put = service_->PutLayer(admin_, "global", doc, std::nullopt, true, false);
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_TRUE(put->diagnostics.empty());
}

// ---- Sound scope chains (DESIGN.md §3.1)

// Finding 1: the documented layers store in order with no node at all; the
// cluster layer is checked against its real chain, never one that skips
// the region and cell where its routing cluster is defined.
TEST_F(ServiceWriteTest, SampleLayersStoreAlongTheirRealChains) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  ASSERT_TRUE(Put("region:eu-west", Sample("10-region-eu-west.json")).ok());
  ASSERT_TRUE(Put("cell:euw1-a", Sample("20-cell-euw1-a.json")).ok());
  auto cluster = Put("cluster:euw1-a-prod", Sample("30-cluster-euw1-a-prod.json"));
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  EXPECT_EQ(cluster->chains_checked,
            std::vector<std::string>{"global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod"});
  // A region write is checked along every chain below it the topology forms.
  auto region = service_->PutLayer(admin_, "region:eu-west", Sample("10-region-eu-west.json"),
                                   std::nullopt, true, false);
  ASSERT_TRUE(region.ok()) << region.status().ToString();
  EXPECT_EQ(region->chains_checked,
            (std::vector<std::string>{"global,region:eu-west", "global,region:eu-west,cell:euw1-a",
                                      "global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod"}));
}

// A region, cell or cluster scope the topology does not place is
// unknown_scope naming the missing placement; nothing is stored.
TEST_F(ServiceWriteTest, UnplacedScopesAreUnknownScope) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto region = Put("region:eu-wset", Layer("region:eu-wset", "{}"));
  ASSERT_FALSE(region.ok());
  EXPECT_EQ(region.status().code(), StatusCode::kInvalid);
  EXPECT_TRUE(HasDiag(region.status(), DiagCode::kUnknownScope, "topology.regions.eu-wset"));
  auto cluster = Put("cluster:billing-eu", Layer("cluster:billing-eu", "{}"));
  ASSERT_FALSE(cluster.ok());
  EXPECT_TRUE(
      HasDiag(cluster.status(), DiagCode::kUnknownScope, "topology.placements.billing-eu.cell"));
  auto cell = Put("cell:nowhere-1", Layer("cell:nowhere-1", "{}"));
  EXPECT_TRUE(HasDiag(cell.status(), DiagCode::kUnknownScope, "cell \"nowhere-1\""));
  auto layers = store_->ListLayers();
  ASSERT_TRUE(layers.ok());
  EXPECT_EQ(layers->size(), 1u);
}

// Finding 2: a node layer for a node never seen is refused unless the write
// says allowUnknownNode; then no chain is made up for it.
TEST_F(ServiceWriteTest, NodeLayerForAnUnseenNodeNeedsAllowUnknownNode) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  const std::string doc = Layer("node:edge-10", R"({"dispatcher": {"maxConcurrentRequests": 10}})");
  auto refused = Put("node:edge-10", doc);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasDiag(refused.status(), DiagCode::kUnknownScope, "allowUnknownNode"));
  auto staged = Put("node:edge-10", doc, false, /*allow_unknown_node=*/true);
  ASSERT_TRUE(staged.ok()) << staged.status().ToString();
  EXPECT_TRUE(staged->chains_checked.empty());
  EXPECT_EQ(staged->diff_summary, "not computed: no chain holds this scope yet");
  // Deleting it needs no flag.
  EXPECT_TRUE(service_->DeleteLayer(admin_, "node:edge-10", std::nullopt, false, false).ok());
}

// A global write whose topology no longer places a scope with a stored
// layer strands it: destructive_change naming it, unless confirmed.
TEST_F(ServiceWriteTest, UnplacingAStoredLayerIsDestructive) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  ASSERT_TRUE(Put("region:eu-west", Sample("10-region-eu-west.json")).ok());
  ASSERT_TRUE(Put("cell:euw1-a", Sample("20-cell-euw1-a.json")).ok());
  ASSERT_TRUE(Put("cluster:euw1-a-prod", Sample("30-cluster-euw1-a-prod.json")).ok());
  // The same global without the placement of euw1-a-prod.
  std::string global = GlobalLayer();
  const std::string placement = R"("euw1-a-prod": { "cell": "euw1-a" })";
  const auto at = global.find(placement);
  ASSERT_NE(at, std::string::npos);
  global.erase(at, placement.size());
  const auto comma = global.rfind(',', at);
  global.erase(comma, 1);  // the comma before it
  auto refused = Put("global", global);
  ASSERT_FALSE(refused.ok()) << "unplacing was accepted";
  EXPECT_TRUE(HasDiag(refused.status(), DiagCode::kDestructiveChange, "cluster:euw1-a-prod"));
  auto confirmed = Put("global", global, /*confirm=*/true);
  ASSERT_TRUE(confirmed.ok()) << confirmed.status().ToString();
  // The stranded layer can still be deleted.
  EXPECT_TRUE(
      service_->DeleteLayer(admin_, "cluster:euw1-a-prod", std::nullopt, false, false).ok());
}

// A node that joined before any global layer (shape-checked only) is
// stranded by a first global layer that does not place it: destructive.
TEST_F(ServiceWriteTest, FirstGlobalThatDoesNotPlaceAKnownNodeIsDestructive) {
  ASSERT_TRUE(AddKnownNode("early-1", "global,region:ap-south").ok());
  auto refused = Put("global", GlobalLayer());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasDiag(refused.status(), DiagCode::kDestructiveChange, "global,region:ap-south"));
  EXPECT_TRUE(Put("global", GlobalLayer(), /*confirm=*/true).ok());
}

// Finding 6: a refused write names the chain that failed, in its message
// and in each diagnostic.
TEST_F(ServiceWriteTest, RefusalNamesTheFailingChain) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto bad = Put("cell:euw1-a",
                 Layer("cell:euw1-a", R"({"routes": {"auth": {"weights": {"auth-zz": 100}}}})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("in chain global,region:eu-west,cell:euw1-a"),
            std::string::npos)
      << bad.status().message();
  EXPECT_TRUE(HasDiag(bad.status(), DiagCode::kDanglingCluster,
                      "(chain global,region:eu-west,cell:euw1-a)"));
}

// A refused write's audit entry comes before the write that follows it
// (it is appended before the refusal returns, not with the next batch of
// reads), so `audit tail` lists what happened in the order it happened.
TEST_F(ServiceWriteTest, RefusedWriteIsAuditedBeforeTheNextWrite) {
  ASSERT_FALSE(Put("global", Layer("global", R"({"routes": {"a": {"weights": {"x": 1}}}})")).ok());
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto entries = store_->QueryAudit(0, 0, 100);
  ASSERT_TRUE(entries.ok());
  std::vector<std::string> outcomes;
  for (const auto& e : *entries) {
    if (e.action == "layer.put") outcomes.push_back(e.outcome);
  }
  EXPECT_EQ(outcomes, (std::vector<std::string>{"invalid", "ok"}));
}

// A node layer staged for a node not yet seen can break that node's chain
// once it joins; writes above it that leave the chain no worse still pass
// (their diff says the chain was failing before), and the broken layer
// itself can only be replaced by one that fixes it.
TEST_F(ServiceWriteTest, ABrokenNodeLayerDoesNotHoldWritesAboveIt) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  const std::string bad =
      Layer("node:edge-10", R"({"routes": {"billing": {"weights": {"nowhere": 100}}}})");
  ASSERT_TRUE(Put("node:edge-10", bad, false, /*allow_unknown_node=*/true).ok());
  ASSERT_TRUE(AddKnownNode("edge-10", "global,region:eu-west,node:edge-10").ok());
  auto region = Put("region:eu-west", Sample("10-region-eu-west.json"));
  ASSERT_TRUE(region.ok()) << region.status().ToString();
  EXPECT_NE(region->diff_summary.find("1 chain(s) failed to render before this write and still do"),
            std::string::npos)
      << region->diff_summary;
  EXPECT_NE(region->diff_summary.find("chain global,region:eu-west,node:edge-10"),
            std::string::npos)
      << region->diff_summary;
  auto again = Put("node:edge-10", bad);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(HasDiag(again.status(), DiagCode::kDanglingCluster)) << again.status().ToString();
}

// Finding 7: a dry run with a stale expected revision says conflict, as the
// real write would.
TEST_F(ServiceWriteTest, DryRunHonoursExpectedRevision) {
  auto put = Put("global", GlobalLayer());
  ASSERT_TRUE(put.ok());
  auto stale = service_->PutLayer(admin_, "global", GlobalLayer(), put->revision + 7, true, false);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), StatusCode::kConflict);
  auto fresh = service_->PutLayer(admin_, "global", GlobalLayer(), put->revision, true, false);
  EXPECT_TRUE(fresh.ok()) << fresh.status().ToString();
  auto absent = service_->PutLayer(admin_, "region:eu-west", Sample("10-region-eu-west.json"), 3,
                                   true, false);
  EXPECT_EQ(absent.status().code(), StatusCode::kConflict);
}

// Finding 7: the effective config of a chain the topology does not form is
// an error, not the global layer alone.
TEST_F(ServiceWriteTest, EffectiveOfAChainWithATypoIsRefused) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto typo = service_->Effective(admin_, "global,region:nowhere");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().code(), StatusCode::kScopeMismatch);
  auto skip = service_->Effective(admin_, "global,cell:euw1-a");
  EXPECT_EQ(skip.status().code(), StatusCode::kScopeMismatch);
  EXPECT_NE(skip.status().message().find("skips the region level"), std::string::npos);
  EXPECT_TRUE(service_->Effective(admin_, "global,region:eu-west,cell:euw1-a").ok());
}

// Finding 7: deleting a known node's layer shows what changes for it (its
// own chain is the one checked), not "no changes".
TEST_F(ServiceWriteTest, DeletingANodeLayerShowsTheNodesChange) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  ASSERT_TRUE(AddKnownNode("edge-1", "global,region:eu-west,node:edge-1").ok());
  auto put =
      Put("node:edge-1", Layer("node:edge-1", R"({"dispatcher": {"maxConcurrentRequests": 10}})"));
  ASSERT_TRUE(put.ok()) << put.status().ToString();
  EXPECT_EQ(put->chains_checked, std::vector<std::string>{"global,region:eu-west,node:edge-1"});
  auto del = service_->DeleteLayer(admin_, "node:edge-1", std::nullopt, false, false);
  ASSERT_TRUE(del.ok()) << del.status().ToString();
  EXPECT_NE(del->diff_summary.find("dispatcher changed"), std::string::npos) << del->diff_summary;
}

// The pull fallback answers only a chain the topology places, as the
// stream does (a node refused at hello must not be served by pull).
TEST_F(ServiceWriteTest, PullOfAChainTheTopologyRefusesIsRefused) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto skip = service_->NodeSnapshot(admin_, "edge-3", "global,cell:euw1-a");
  ASSERT_FALSE(skip.ok());
  EXPECT_EQ(skip.status().code(), StatusCode::kScopeMismatch);
  auto nowhere = service_->NodeSnapshot(admin_, "edge-3", "global,region:nowhere");
  EXPECT_EQ(nowhere.status().code(), StatusCode::kScopeMismatch);
  auto other_node = service_->NodeSnapshot(admin_, "edge-3", "global,node:edge-4");
  EXPECT_EQ(other_node.status().code(), StatusCode::kScopeMismatch);
  auto good = service_->NodeSnapshot(admin_, "edge-3", "global,region:eu-west,cell:euw1-a");
  EXPECT_TRUE(good.ok()) << good.status().ToString();
}

// Finding 7: the history of a scope with no revisions (a typo) is
// not_found naming the scopes that have a layer, not an empty list.
TEST_F(ServiceWriteTest, HistoryOfAScopeWithoutRevisionsIsNotFound) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  auto typo = service_->History(admin_, "region:eu-wset");
  ASSERT_FALSE(typo.ok());
  EXPECT_EQ(typo.status().code(), StatusCode::kNotFound);
  EXPECT_NE(typo.status().message().find("scopes with a layer: global"), std::string::npos)
      << typo.status().message();
  auto real = service_->History(admin_, "global");
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->revisions.size(), 1u);
}

// A history query without a limit answers one page of kHistoryDefaultLimit
// (100) revisions, newest first, and names the `before` of the next page.
TEST_F(ServiceWriteTest, HistoryPagesAHundredByDefault) {
  ASSERT_EQ(api::kHistoryDefaultLimit, 100);
  for (int i = 0; i < 101; ++i) {
    LayerWrite write;
    write.scope = "global";
    write.document = GlobalLayer();
    write.author = "test";
    write.audit.action = "layer.put";
    write.audit.principal = "test";
    ASSERT_TRUE(store_->WriteLayer(write).ok());
  }
  auto first = service_->History(admin_, "global");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_EQ(first->revisions.size(), 100u);
  EXPECT_EQ(first->revisions.front().revision, 101);
  EXPECT_EQ(first->revisions.back().revision, 2);
  EXPECT_EQ(first->next_before, 2);
  HistoryQuery older;
  older.before = first->next_before;
  auto last = service_->History(admin_, "global", older);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  ASSERT_EQ(last->revisions.size(), 1u);
  EXPECT_EQ(last->revisions.front().revision, 1);
  EXPECT_EQ(last->next_before, 0);
}

// CheckNotFrozen (what the rollout driver asks) follows the freeze switch:
// OK, then frozen naming who and why, then OK again.
TEST_F(ServiceWriteTest, CheckNotFrozenFollowsTheSwitch) {
  EXPECT_TRUE(service_->CheckNotFrozen().ok());
  ASSERT_TRUE(service_->SetFreeze(admin_, true, "incident 7").ok());
  Status frozen = service_->CheckNotFrozen();
  EXPECT_EQ(frozen.code(), StatusCode::kFrozen);
  EXPECT_NE(frozen.message().find("a new rollout refused: changes are frozen by " + admin_.name),
            std::string::npos)
      << frozen.message();
  EXPECT_NE(frozen.message().find("incident 7"), std::string::npos) << frozen.message();
  ASSERT_TRUE(service_->SetFreeze(admin_, false, "").ok());
  EXPECT_TRUE(service_->CheckNotFrozen().ok());
}

// A freeze set through another replica (another service on the same store)
// refuses this one's new rollouts once its cached flag is older than
// kFreezeMaxAgeMs (a second), and its writes at once.
TEST_F(ServiceWriteTest, AFreezeSetElsewhereCountsHere) {
  ASSERT_TRUE(Put("global", GlobalLayer()).ok());
  MetricsRegistry other_metrics;
  ControlPlaneService other(*store_, bus_, *stack_.auth, *stack_.renderer, stack_.trusted, clock_,
                            other_metrics);
  EXPECT_TRUE(service_->CheckNotFrozen().ok());
  ASSERT_TRUE(other.SetFreeze(admin_, true, "incident 8").ok());

  EXPECT_TRUE(service_->CheckNotFrozen().ok());  // the cached flag, read a moment ago
  clock_.AdvanceMs(1001);
  EXPECT_EQ(service_->CheckNotFrozen().code(), StatusCode::kFrozen);
  ASSERT_TRUE(service_->SetFreeze(admin_, false, "").ok());
  ASSERT_TRUE(other.SetFreeze(admin_, true, "incident 8").ok());
  EXPECT_EQ(Put("global", GlobalLayer()).status().code(), StatusCode::kFrozen);  // at once
  auto seen = service_->GetFreeze(admin_);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->reason, "incident 8");
}

}  // namespace
}  // namespace omnirelay::cp
