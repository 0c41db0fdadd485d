// NodeView: each of the seven node states from a record, the chain's version
// and the time, first match wins (node_state.h), and the assigned version an
// offline node is shown.
#include "node_state.h"

#include <gtest/gtest.h>

#include <string>

namespace omnirelay::cp {
namespace {

constexpr std::int64_t kNow = 1'000'000;
constexpr std::int64_t kGraceMs = 30'000;

// A connected node running v5 (its assignment since 100 s, expiring in 1 h).
NodeRecord Running() {
  NodeRecord r;
  r.node_id = "edge-1";
  r.scope_chain = "global,region:us-east";
  r.connected = true;
  r.assigned_version = r.applied_version = 5;
  r.assigned_hash = r.applied_hash = "sha256:five";
  r.assigned_at_ms = kNow - 100'000;
  r.assigned_expires_at_ms = kNow + 3'600'000;
  r.last_seen_ms = kNow - 1'000;
  return r;
}

NodeRecord With(NodeRecord r, void (*change)(NodeRecord&)) {
  change(r);
  return r;
}

struct Case {
  const char* what;
  NodeRecord record;
  std::int64_t chain_version;
  const char* state;
  std::int64_t assigned_version;
};

TEST(NodeStateTest, EachStateFromItsRecord) {
  const Case cases[] = {
      {"runs its assignment", Running(), 5, "current", 5},
      {"assigned v6 moments ago",
       With(Running(),
            [](NodeRecord& r) {
              r.assigned_version = 6;
              r.assigned_hash = "sha256:six";
              r.assigned_at_ms = kNow - 1'000;
            }),
       6, "updating", 6},
      {"assigned v6 longer than the grace ago",
       With(Running(),
            [](NodeRecord& r) {
              r.assigned_version = 6;
              r.assigned_hash = "sha256:six";
              r.assigned_at_ms = kNow - kGraceMs - 1;
            }),
       6, "drifted", 6},
      {"refused v6 (NACK) moments ago",
       With(Running(),
            [](NodeRecord& r) {
              r.assigned_version = 6;
              r.assigned_hash = "sha256:six";
              r.assigned_at_ms = kNow - 1'000;
              r.last_error_code = "invalid";
              r.last_error = "invalid: dangling cluster";
            }),
       6, "drifted", 6},
      {"same version, another hash (a re-signing not applied) past the grace",
       With(Running(),
            [](NodeRecord& r) {
              r.assigned_hash = "sha256:five-resigned";
              r.assigned_at_ms = kNow - kGraceMs - 1;
            }),
       5, "drifted", 5},
      {"chain does not render",
       With(Running(),
            [](NodeRecord& r) {
              r.last_error_code = "render_failed";
              r.last_error_path = "/spec/routes/0/cluster";
            }),
       7, "render_failed", 5},
      {"runs its assignment after it expired",
       With(Running(), [](NodeRecord& r) { r.assigned_expires_at_ms = kNow; }), 5, "stale", 5},
      {"offline, its chain moved on to v8",
       With(Running(), [](NodeRecord& r) { r.connected = false; }), 8, "offline", 8},
      {"offline, its chain as it was", With(Running(), [](NodeRecord& r) { r.connected = false; }),
       5, "offline", 5},
      {"offline after a render failure: no version claimed for it",
       With(Running(),
            [](NodeRecord& r) {
              r.connected = false;
              r.last_error_code = "render_failed";
            }),
       8, "offline", 5},
      {"ended by a newer instance of its id",
       With(Running(),
            [](NodeRecord& r) {
              r.connected = false;
              r.last_error_code = "superseded";
            }),
       5, "superseded", 5},
      {"superseded, and behind its assignment",
       With(Running(),
            [](NodeRecord& r) {
              r.connected = false;
              r.last_error_code = "superseded";
              r.applied_version = 2;
            }),
       5, "superseded", 5},
  };
  for (const Case& c : cases) {
    api::Node n = NodeView(c.record, c.chain_version, kNow, {std::chrono::milliseconds(kGraceMs)});
    EXPECT_EQ(n.state, c.state) << c.what;
    EXPECT_EQ(n.assigned_version, c.assigned_version) << c.what;
    EXPECT_EQ(n.last_error_code, c.record.last_error_code) << c.what;
  }
}

// The offline node's moved-on assignment has no hash yet (nothing was
// rendered for it), and its drift shows.
TEST(NodeStateTest, OfflineNodeWhoseChainMovedOnDrifts) {
  NodeRecord r = Running();
  r.connected = false;
  api::Node n = NodeView(r, 8, kNow);
  EXPECT_EQ(n.assigned_hash, "");
  EXPECT_TRUE(n.drift());
  EXPECT_EQ(n.applied_version, 5);
}

}  // namespace
}  // namespace omnirelay::cp
