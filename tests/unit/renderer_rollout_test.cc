// SnapshotRenderer::WithRollout (renderer.h): a chain's snapshot with
// metadata.rollout, for nodes that advertise rolloutInfo — the base document
// plus that one member, signed, stored to be fetched by hash, rendered once
// per (snapshot, rollout, wave) whatever the number of nodes asking.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"
#include "service_stack.h"

namespace omnirelay::cp {
namespace {

using Json = nlohmann::json;

class RendererRolloutTest : public ::testing::Test {
 protected:
  RendererRolloutTest() {
    auto put = service_->PutLayer(admin_, "global", testing::ServiceStack::Sample("00-global.json"),
                                  std::nullopt, false, false);
    EXPECT_TRUE(put.ok()) << put.status().ToString();
    chain_ = std::move(ParseScopeChain("global").value());
  }

  std::uint64_t Renders() {
    return metrics_.counter("omnirelay_cp_snapshot_renders_total", "").value();
  }
  std::shared_ptr<const SnapshotRecord> Base() {
    auto base = renderer_->Current(chain_);
    EXPECT_TRUE(base.ok()) << base.status().ToString();
    return base.ok() ? *base : nullptr;
  }

  std::unique_ptr<Bus> bus_ = MakeInprocBus();
  testing::ServiceStack stack_{*bus_};
  const Principal& admin_ = stack_.admin;
  FakeClock& clock_ = stack_.clock;
  MetricsRegistry& metrics_ = stack_.metrics;
  std::unique_ptr<SigningKey>& key_ = stack_.key;
  TrustedKeySet& trusted_ = stack_.trusted;
  std::unique_ptr<Store>& store_ = stack_.store;
  std::unique_ptr<SnapshotRenderer>& renderer_ = stack_.renderer;
  std::unique_ptr<ControlPlaneService>& service_ = stack_.service;
  std::vector<Scope> chain_;
};

// The labelled rendering is the base document with metadata.rollout added:
// same version, times and spec, its own content id, signed by the key.
TEST_F(RendererRolloutTest, LabelIsTheOnlyDifference) {
  auto base = Base();
  ASSERT_NE(base, nullptr);
  auto labelled = renderer_->WithRollout(base, "ro-3f9c0a1b2d", 2);
  ASSERT_TRUE(labelled.ok()) << labelled.status().ToString();
  const SnapshotRecord& l = **labelled;
  EXPECT_NE(l.hash, base->hash);
  EXPECT_EQ(l.version, base->version);
  EXPECT_EQ(l.created_at_ms, base->created_at_ms);
  EXPECT_EQ(l.expires_at_ms, base->expires_at_ms);
  EXPECT_EQ(l.scope_chain, base->scope_chain);
  EXPECT_EQ(l.rollout, "ro-3f9c0a1b2d/2");
  Json doc = Json::parse(l.snapshot);
  EXPECT_EQ(doc["metadata"]["rollout"], (Json{{"id", "ro-3f9c0a1b2d"}, {"wave", 2}}));
  doc["metadata"].erase("rollout");
  EXPECT_EQ(doc.dump(), base->snapshot);  // byte for byte, the label aside
  auto verified = VerifyEnvelope(l.envelope, trusted_, kSnapshotPayloadType);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload, l.snapshot);
  // A node with the feature reads the label; one without refuses it.
  auto read = DecodeSnapshot(l.snapshot);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read->metadata.rollout, (SnapshotRollout{"ro-3f9c0a1b2d", 2}));
  DecodeOptions old;
  old.reader_features = std::vector<std::string>{"shadowing"};
  EXPECT_FALSE(DecodeSnapshot(l.snapshot, old).ok());
}

// One rendering per (snapshot, rollout, wave): a wave's nodes share it;
// another wave or rollout is another rendering.
TEST_F(RendererRolloutTest, RenderedOncePerSnapshotRolloutAndWave) {
  auto base = Base();
  ASSERT_NE(base, nullptr);
  const std::uint64_t before = Renders();
  auto first = renderer_->WithRollout(base, "ro-1", 1);
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 100; ++i) {
    auto again = renderer_->WithRollout(base, "ro-1", 1);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->get(), first->get());
  }
  EXPECT_EQ(Renders(), before + 1);
  auto wave2 = renderer_->WithRollout(base, "ro-1", 2);
  auto other = renderer_->WithRollout(base, "ro-2", 1);
  ASSERT_TRUE(wave2.ok() && other.ok());
  EXPECT_NE((*wave2)->hash, (*first)->hash);
  EXPECT_NE((*other)->hash, (*first)->hash);
  EXPECT_EQ(Renders(), before + 3);
}

// Stored for fetch by hash; the chain's own snapshot stays what the store
// answers for the chain (a restarted renderer finds the plain one again), and
// labelling again after a restart gives the same bytes.
TEST_F(RendererRolloutTest, StoredByHashButNeverTheChainsOwn) {
  auto base = Base();
  ASSERT_NE(base, nullptr);
  auto labelled = renderer_->WithRollout(base, "ro-1", 1);
  ASSERT_TRUE(labelled.ok());
  auto stored = store_->GetSnapshot((*labelled)->hash);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_EQ(stored->rollout, "ro-1/1");
  EXPECT_EQ(stored->scope_chain, "global");
  SnapshotRenderer restarted(*store_, *key_, clock_, metrics_);
  auto current = restarted.Current(chain_);
  ASSERT_TRUE(current.ok());
  EXPECT_EQ((*current)->hash, base->hash);
  auto again = restarted.WithRollout(*current, "ro-1", 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->hash, (*labelled)->hash);
}

// Nonsense in, an error out (the engine then sends the plain snapshot).
TEST_F(RendererRolloutTest, RefusesAnEmptyLabel) {
  auto base = Base();
  EXPECT_FALSE(renderer_->WithRollout(base, "", 1).ok());
  EXPECT_FALSE(renderer_->WithRollout(base, "ro-1", 0).ok());
  EXPECT_FALSE(renderer_->WithRollout(nullptr, "ro-1", 1).ok());
}

}  // namespace
}  // namespace omnirelay::cp
