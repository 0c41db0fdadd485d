// SnapshotRenderer (renderer.h) on several replicas of a cell: renderers
// sharing one store and one key, each with its own clock, serve one
// rendering of a chain's version — the same bytes, hash, createdAt and
// expiresAt — whether one finds the other's in the store or both render it
// at once (Store::PutChainSnapshot keeps the first).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "service_stack.h"

namespace omnirelay::cp {
namespace {

// Another replica: its own clock (running `offset_ms` ahead), metrics and
// renderer, on the stack's store and key.
struct Replica {
  Replica(testing::ServiceStack& stack, std::int64_t offset_ms)
      : clock(stack.clock.NowUnixMs() + offset_ms),
        renderer(*stack.store, *stack.key, clock, metrics) {}
  std::uint64_t Renders() {
    return metrics.counter("omnirelay_cp_snapshot_renders_total", "").value();
  }
  FakeClock clock;
  MetricsRegistry metrics;
  SnapshotRenderer renderer;
};

class RendererReplicasTest : public ::testing::Test {
 protected:
  RendererReplicasTest() {
    auto put = stack_.service->PutLayer(stack_.admin, "global",
                                        testing::ServiceStack::Sample("00-global.json"),
                                        std::nullopt, false, false);
    EXPECT_TRUE(put.ok()) << put.status().ToString();
    chain_ = std::move(ParseScopeChain("global").value());
  }

  std::unique_ptr<Bus> bus_ = MakeInprocBus();
  testing::ServiceStack stack_{*bus_};
  std::vector<Scope> chain_;
};

// A replica asked after another stored the version's snapshot serves that
// one, byte for byte, and renders nothing.
TEST_F(RendererReplicasTest, SecondReplicaServesTheFirstOnesRendering) {
  auto first = stack_.renderer->Current(chain_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Replica b(stack_, 5'000);
  auto second = b.renderer.Current(chain_);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ((*second)->hash, (*first)->hash);
  EXPECT_EQ((*second)->envelope, (*first)->envelope);
  EXPECT_EQ((*second)->created_at_ms, (*first)->created_at_ms);
  EXPECT_EQ((*second)->expires_at_ms, (*first)->expires_at_ms);
  EXPECT_EQ(b.Renders(), 0u);
}

// Replicas whose clocks differ by seconds render one version at once: every
// one serves the rendering stored first, which is the chain's latest.
TEST_F(RendererReplicasTest, RacingReplicasServeOneRendering) {
  constexpr int kReplicas = 6;
  std::vector<std::unique_ptr<Replica>> replicas;
  for (int i = 0; i < kReplicas; ++i) {
    replicas.push_back(std::make_unique<Replica>(stack_, i * 1'000));
  }
  std::atomic<bool> go{false};
  std::vector<std::string> hashes(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      auto got = replicas[static_cast<std::size_t>(i)]->renderer.Current(chain_);
      hashes[static_cast<std::size_t>(i)] = got.ok() ? (*got)->hash : got.status().ToString();
    });
  }
  go.store(true);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(hashes.begin(), hashes.end()).size(), 1u)
      << hashes[0] << " / " << hashes[1];
  auto latest = stack_.store->LatestSnapshot("global");
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->hash, hashes[0]);
  // Asked again, each answers from its cache the same one.
  for (auto& replica : replicas) {
    auto again = replica->renderer.Current(chain_);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ((*again)->hash, hashes[0]);
  }
}

}  // namespace
}  // namespace omnirelay::cp
