// MeshKit endpoints under contention (meaningful under the tsan preset): a
// feed thread applies 100,000 deltas and publishes each new endpoint set
// while two threads route requests joined with whatever set is current.
// Every answer must be consistent (a routable member of the cluster it names,
// the generation never going backwards on a thread), the process's memory
// must stay flat (old sets are freed), and the sanitizer must say nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "omnirelay/config/validate.h"
#include "omnirelay/meshkit/feed.h"
#include "omnirelay/relay/endpoint_join.h"
#include "omnirelay/relay/router.h"
#include "process_memory.h"
#include "snapshot_fixtures.h"

namespace omnirelay::meshkit {
namespace {

using test_support::kUnderAsan;
using test_support::RssBytes;

constexpr int kDeltas = 100'000;
constexpr int kMembersPerCluster = 25;  // small: each delta rebuilds what it touches
const char* const kClusters[] = {"billing-v1", "billing-v2", "billing-dr", "billing-eu"};

// A source the test feeds by hand (the gRPC client and the file source
// publish the same way).
class HandFedSource final : public EndpointSource {
 public:
  HandFedSource() : EndpointSource({}) {}
  void Put(const std::shared_ptr<const EndpointSet>& set) { Publish(set); }
};

Endpoint Member(int i, Health health) {
  Endpoint e;
  e.member_id = "m-" + std::to_string(i);
  e.address = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
  e.port = 8443;
  e.service = "billing";
  e.cluster = kClusters[i / kMembersPerCluster];
  e.weight = 1 + static_cast<std::uint32_t>(i % 5);
  e.health = health;
  return e;
}

TEST(MeshKitEndpointsSoakTest, DeltasWhileTwoThreadsRoute) {
  auto snapshot = DecodeAndValidateSnapshot(relay::testing::SnapshotDoc(1).dump());
  ASSERT_TRUE(snapshot.ok());
  const auto table = relay::RoutingTable::Build(snapshot->spec);
  const int members = kMembersPerCluster * 4;

  EndpointTable feed;
  std::vector<Endpoint> all;
  for (int i = 0; i < members; ++i) all.push_back(Member(i, Health::kHealthy));
  ASSERT_TRUE(feed.ApplySnapshot("soak", 1, all).ok());
  HandFedSource source;
  source.Put(feed.current());

  std::atomic<bool> done{false};
  std::atomic<long> routed{0}, refused{0}, inconsistent{0};
  std::vector<std::thread> routers;
  for (int t = 0; t < 2; ++t) {
    routers.emplace_back([&, t] {
      std::uint64_t last_generation = 0;
      long n = 0;
      while (!done.load(std::memory_order_acquire)) {
        const auto set = source.Current();
        if (set->generation() < last_generation) ++inconsistent;
        last_generation = set->generation();
        const std::string key = "k" + std::to_string(t) + "-" + std::to_string(n++ % 997);
        auto decision = table->Route("billing", key);
        auto choice = relay::JoinEndpoints(*decision, *set);
        if (!choice.ok()) {
          ++refused;  // every cluster in its order unhealthy at that moment
          continue;
        }
        // The member is one of the set this thread read (not of a set
        // published since, or freed), in the cluster the answer names, and
        // healthy in that set.
        const ClusterEndpoints* in_cluster = set->Find("billing", choice->cluster);
        const bool in_set =
            in_cluster != nullptr && choice->endpoint >= in_cluster->endpoints.data() &&
            choice->endpoint < in_cluster->endpoints.data() + in_cluster->endpoints.size();
        if (!in_set || choice->endpoint->cluster != choice->cluster ||
            !choice->endpoint->routable()) {
          ++inconsistent;
        }
        ++routed;
        if (n % 64 == 0) std::this_thread::yield();  // the feed thread shares the cores
      }
    });
  }

  std::int64_t rss_early = 0;
  std::uint64_t generation = 1;
  for (int d = 0; d < kDeltas; ++d) {
    EndpointsDelta delta;
    delta.base_generation = generation;
    delta.generation = ++generation;
    // Four members change health; every 100th delta one leaves, and comes
    // back in the next.
    const std::string leaving = "m-" + std::to_string(d % members);
    for (int k = 0; k < 4; ++k) {
      const std::string id = "m-" + std::to_string((d * 37 + k * 41) % members);
      if (d % 100 == 50 && id == leaving) continue;
      delta.health.emplace_back(id, (d + k) % 3 == 0 ? Health::kUnhealthy : Health::kHealthy);
    }
    if (d % 100 == 50) delta.removed.push_back(leaving);
    if (d % 100 == 51) delta.upserted.push_back(Member((d - 1) % members, Health::kHealthy));
    const Status applied = feed.ApplyDelta(delta);
    if (!applied.ok()) {
      ADD_FAILURE() << "delta " << d << ": " << applied.ToString();
      break;
    }
    source.Put(feed.current());
    if (d == kDeltas / 10) rss_early = RssBytes();
  }
  done.store(true, std::memory_order_release);
  for (auto& t : routers) t.join();
  const std::int64_t rss_late = RssBytes();

  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GT(routed.load(), 1000);
  EXPECT_EQ(source.generation(), generation);
  // Flat: 90,000 more deltas grow the process by less than 16 MiB (each set
  // is ~25 KiB; a leak of one per delta would be gigabytes).
  if (!kUnderAsan) {  // its quarantine keeps freed memory (process_memory.h)
    EXPECT_LT(rss_late, rss_early + (std::int64_t{16} << 20))
        << "resident " << rss_early / 1024 << " KiB after 10% of the deltas, " << rss_late / 1024
        << " KiB at the end";
  }
  std::printf(
      "routed %ld requests (%ld refused: no healthy member) during %d deltas; resident "
      "%lld -> %lld KiB\n",
      routed.load(), refused.load(), kDeltas, static_cast<long long>(rss_early / 1024),
      static_cast<long long>(rss_late / 1024));
}

}  // namespace
}  // namespace omnirelay::meshkit
