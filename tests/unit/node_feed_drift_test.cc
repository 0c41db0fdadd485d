// Drift repair in the node feed (node_feed.h, contract 8): a node that has
// neither applied nor refused its assignment renotify_after after it is sent
// it once more, counted; one that refused it, or applied it, is not. And a
// change the store could not render at its event (unavailable) reaches the
// nodes when the store answers again, not at the next timed refresh.
#include <gtest/gtest.h>

#include "node_feed_fixture.h"

namespace omnirelay::cp {
namespace {

using namespace feed_testing;  // NOLINT: the fixture and its fakes

class NodeFeedDriftTest : public NodeFeedUnitTest {
 protected:
  void Configure(NodeFeedOptions& options) override {
    options.renotify_after = std::chrono::seconds(15);
  }
  std::uint64_t Renotifies() {
    return metrics_.counter("omnirelay_cp_node_renotifies_total", "").value();
  }
};

TEST_F(NodeFeedDriftTest, StuckNodeIsSentItsAssignmentOnceMore) {
  source_.Set(kUsEast, 4);
  Stream stuck = Hello("n-1", kUsEast);
  Stream fine = Hello("n-2", kUsEast);
  ASSERT_EQ(stuck.conn->versions(), std::vector<std::int64_t>{4});
  feed_->OnNotifyWritten(*stuck.session);
  feed_->OnNotifyWritten(*fine.session);
  const std::string hash = fine.conn->notifies[0]->hash;
  feed_->OnAck(*fine.session, AckMsg{4, hash});

  Advance(std::chrono::seconds(10));  // within renotify_after: nothing
  EXPECT_EQ(stuck.conn->notifies.size(), 1u);
  Advance(std::chrono::seconds(10));  // past it: the same assignment again
  ASSERT_EQ(stuck.conn->notifies.size(), 2u);
  EXPECT_EQ(stuck.conn->notifies[1]->hash, stuck.conn->notifies[0]->hash);
  EXPECT_EQ(fine.conn->notifies.size(), 1u);  // it applied its assignment
  EXPECT_EQ(Renotifies(), 1u);

  // Once per assignment: still stuck, nothing more (it turns `drifted`).
  feed_->OnNotifyWritten(*stuck.session);
  Advance(std::chrono::seconds(30));
  EXPECT_EQ(stuck.conn->notifies.size(), 2u);
  EXPECT_EQ(Renotifies(), 1u);

  // The resent assignment is one it may ACK.
  feed_->OnAck(*stuck.session, AckMsg{4, hash});
  EXPECT_EQ(StoredNode("n-1").applied_version, 4);
}

TEST_F(NodeFeedDriftTest, RefusedAssignmentIsNotSentAgain) {
  source_.Set(kUsEast, 2);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  feed_->OnNack(*s.session, NackMsg{2, s.conn->notifies[0]->hash, "invalid", "bad route"});
  Advance(std::chrono::seconds(20));
  EXPECT_EQ(s.conn->notifies.size(), 1u);
  EXPECT_EQ(Renotifies(), 0u);
}

// An older refusal does not stop the repair of a newer assignment.
TEST_F(NodeFeedDriftTest, OlderRefusalDoesNotStopTheRepairOfANewerAssignment) {
  source_.Set(kUsEast, 2);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  feed_->OnNack(*s.session, NackMsg{2, s.conn->notifies[0]->hash, "invalid", "bad route"});
  source_.Set(kUsEast, 3);
  Commit("global", 3);
  ASSERT_EQ(s.conn->versions(), (std::vector<std::int64_t>{2, 3}));
  feed_->OnNotifyWritten(*s.session);
  Advance(std::chrono::seconds(20));
  ASSERT_EQ(s.conn->versions(), (std::vector<std::int64_t>{2, 3, 3}));
  EXPECT_EQ(Renotifies(), 1u);
}

// A Notify still in the transport's hands is not doubled: the resend waits
// for the next sweep after it is written.
TEST_F(NodeFeedDriftTest, InFlightNotifyIsNotDoubled) {
  source_.Set(kUsEast, 3);
  Stream s = Hello("n-1", kUsEast);  // its Notify is never reported written
  Advance(std::chrono::seconds(20));
  EXPECT_EQ(s.conn->notifies.size(), 1u);
  feed_->OnNotifyWritten(*s.session);
  Advance(std::chrono::seconds(5));
  EXPECT_EQ(s.conn->notifies.size(), 2u);
}

std::uint64_t RenderRetries(MetricsRegistry& metrics) {
  return metrics.counter("omnirelay_cp_node_render_retries_total", "").value();
}

// The store down at a change event (Postgres restarting): the nodes are told
// no problem, keep what they have, and get the change within half a second
// of the store answering, retried until it does.
TEST_F(NodeFeedDriftTest, ChangeTheStoreCouldNotServeIsRetriedUntilItCan) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  feed_->OnAck(*s.session, AckMsg{1, s.conn->notifies[0]->hash});

  source_.Set(kUsEast, 2);
  source_.unavailable.insert(kUsEast);
  Commit("region:us-east", 2);
  EXPECT_EQ(source_.asked[kUsEast], 2);
  EXPECT_EQ(RenderRetries(metrics_), 1u);
  Advance(std::chrono::milliseconds(499));  // not yet
  EXPECT_EQ(source_.asked[kUsEast], 2);
  Advance(std::chrono::milliseconds(1));  // tried again, still down: again later
  EXPECT_EQ(source_.asked[kUsEast], 3);
  Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(source_.asked[kUsEast], 4);
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{1});
  EXPECT_TRUE(s.conn->problems.empty());  // not the chain's problem
  EXPECT_EQ(StoredNode("n-1").last_error_code, "");

  source_.unavailable.clear();
  Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(s.conn->versions(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(RenderRetries(metrics_), 3u);
  Advance(std::chrono::seconds(5));  // nothing more is retried
  EXPECT_EQ(source_.asked[kUsEast], 5);
}

// A node whose first render meets the store down gets its snapshot when the
// store answers, with no render problem in between.
TEST_F(NodeFeedDriftTest, FirstRenderTheStoreCouldNotServeIsRetried) {
  source_.Set(kUsEast, 7);
  source_.unavailable.insert(kUsEast);
  Stream s = Hello("n-1", kUsEast);
  EXPECT_TRUE(s.conn->notifies.empty());
  EXPECT_TRUE(s.conn->problems.empty());
  source_.unavailable.clear();
  Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{7});
}

// A render that fails for any other reason is still the chain's problem,
// told to its nodes, and not retried before the next event or refresh.
TEST_F(NodeFeedDriftTest, OtherRenderFailuresAreNotRetried) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  source_.broken.insert(kUsEast);
  Commit("region:us-east", 2);
  ASSERT_EQ(s.conn->problems.size(), 1u);
  EXPECT_EQ(s.conn->problems[0].code, "render_failed");
  const int asked = source_.asked[kUsEast];
  Advance(std::chrono::seconds(5));
  EXPECT_EQ(source_.asked[kUsEast], asked);
  EXPECT_EQ(RenderRetries(metrics_), 0u);
}

}  // namespace
}  // namespace omnirelay::cp
