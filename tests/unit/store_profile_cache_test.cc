// The Postgres adapter's NodeProfiles cache (store_profile_cache.h): kept
// for a second, dropped by a node with a new profile or a deletion, and a
// read that raced with a drop is not kept.
#include "store_profile_cache.h"

#include <gtest/gtest.h>

namespace omnirelay::cp {
namespace {

using Clock = NodeProfileCache::Clock;

NodeProfile Profile(const std::string& chain, std::vector<std::string> features) {
  return NodeProfile{chain, "omnirelay.config/v1", std::move(features), 1};
}

NodeRecord Node(const std::string& chain, std::vector<std::string> features) {
  NodeRecord n;
  n.node_id = "relay-1";
  n.scope_chain = chain;
  n.api_version = "omnirelay.config/v1";
  n.features = std::move(features);
  return n;
}

TEST(NodeProfileCacheTest, AnAnswerIsKeptForASecond) {
  NodeProfileCache cache;
  const Clock::time_point t0 = Clock::now();
  EXPECT_FALSE(cache.Fresh(t0));
  cache.Keep({Profile("global", {})}, cache.generation(), t0);
  ASSERT_TRUE(cache.Fresh(t0 + std::chrono::milliseconds(kNodeProfileCacheMs - 1)));
  EXPECT_EQ(cache.Fresh(t0)->size(), 1u);
  EXPECT_FALSE(cache.Fresh(t0 + std::chrono::milliseconds(kNodeProfileCacheMs)));
}

TEST(NodeProfileCacheTest, ANewProfileDropsItAKnownOneDoesNot) {
  NodeProfileCache cache;
  const Clock::time_point t0 = Clock::now();
  cache.Keep({Profile("global", {"shadowing"})}, cache.generation(), t0);
  cache.Saw({Node("global", {"shadowing"})});  // a status update of a known profile
  EXPECT_TRUE(cache.Fresh(t0));
  cache.Saw({Node("global", {"shadowing"}), Node("global", {"shadowing", "artefacts"})});
  EXPECT_FALSE(cache.Fresh(t0));
  cache.Keep({Profile("global", {})}, cache.generation(), t0);
  cache.Saw({Node("global,region:eu", {})});  // same features, another chain
  EXPECT_FALSE(cache.Fresh(t0));
  cache.Keep({Profile("global", {})}, cache.generation(), t0);
  cache.Drop();  // nodes deleted
  EXPECT_FALSE(cache.Fresh(t0));
}

TEST(NodeProfileCacheTest, AReadThatRacedWithAWriteIsNotKept) {
  NodeProfileCache cache;
  const Clock::time_point t0 = Clock::now();
  const std::uint64_t started = cache.generation();
  cache.Saw({Node("global", {})});  // committed while the read ran: it may have missed it
  cache.Keep({}, started, t0);
  EXPECT_FALSE(cache.Fresh(t0));
  cache.Keep({Profile("global", {})}, cache.generation(), t0);
  EXPECT_TRUE(cache.Fresh(t0));
}

// A write of a profile the kept answer lists still stops a read in flight
// from being kept (the kept answer may be expired and the read, begun after
// every node of that profile went elsewhere, may lack it); the kept answer
// stays. An older read never replaces a newer answer.
TEST(NodeProfileCacheTest, AKnownProfileStillStopsAReadInFlight) {
  NodeProfileCache cache;
  const Clock::time_point t0 = Clock::now();
  cache.Keep({Profile("global", {"shadowing"})}, cache.generation(), t0);
  const std::uint64_t started = cache.generation();
  cache.Saw({Node("global", {"shadowing"})});
  cache.Keep({}, started, t0 + std::chrono::milliseconds(5));  // the read that lacks it
  ASSERT_TRUE(cache.Fresh(t0));
  EXPECT_EQ(cache.Fresh(t0)->size(), 1u);
  cache.Keep({}, cache.generation(), t0 - std::chrono::milliseconds(5));  // older than kept
  EXPECT_EQ(cache.Fresh(t0)->size(), 1u);
}

}  // namespace
}  // namespace omnirelay::cp
