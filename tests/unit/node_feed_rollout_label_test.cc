// The node feed and rollout labels (node_feed.h, AssignmentSource::Assigned):
// a node's hello decides whether it may be sent the rendering of its snapshot
// that names a rollout wave, and the nodes sent one rendering share one
// Assignment (encoded once), however many they are.
#include <gtest/gtest.h>

#include "node_feed_fixture.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp {
namespace {

using namespace feed_testing;  // NOLINT: the fixture and its fakes

const std::vector<std::string> kReadsLabels = {"shadowing", "rolloutInfo"};
const std::vector<std::string> kOldNode = {"shadowing"};

class NodeFeedRolloutLabelTest : public NodeFeedUnitTest {
 protected:
  Stream HelloWith(const std::string& node, const std::vector<std::string>& features) {
    std::string& secret = node_tokens_["node:" + node];
    if (secret.empty()) secret = Issue("node:" + node, {"node"}).secret;
    Stream s = Connect(secret);
    SayHello(s, node, kUsEast, 0, "", "", features);
    return s;
  }
};

// Only a node whose hello advertised rolloutInfo is sent the labelled
// rendering; a node without the feature gets the chain's own snapshot.
TEST_F(NodeFeedRolloutLabelTest, OnlyNodesAdvertisingTheFeatureGetTheLabel) {
  source_.Set(kUsEast, 1);
  auto labelled = FakeSource::Snapshot(kUsEast, 1, 7);  // another hash, same version
  source_.labelled[kUsEast] = labelled;
  Stream reader = HelloWith("n-1", kReadsLabels);
  Stream old = HelloWith("n-2", kOldNode);
  Stream none = HelloWith("n-3", {});
  ASSERT_EQ(reader.conn->notifies.size(), 1u);
  ASSERT_EQ(old.conn->notifies.size(), 1u);
  ASSERT_EQ(none.conn->notifies.size(), 1u);
  EXPECT_EQ(reader.conn->notifies[0]->hash, labelled->hash);
  EXPECT_EQ(old.conn->notifies[0]->hash, source_.newest[kUsEast]->hash);
  EXPECT_EQ(none.conn->notifies[0]->hash, source_.newest[kUsEast]->hash);
}

// The nodes sent one labelled rendering share one Assignment: the transport
// encodes it once for the whole wave, not once per node.
TEST_F(NodeFeedRolloutLabelTest, NodesSentOneRenderingShareOneAssignment) {
  source_.Set(kUsEast, 1);
  source_.labelled[kUsEast] = FakeSource::Snapshot(kUsEast, 1, 7);
  std::vector<Stream> readers;
  for (int i = 0; i < 5; ++i) readers.push_back(HelloWith("n-" + std::to_string(i), kReadsLabels));
  int encoded = 0;
  for (const Stream& s : readers) {
    ASSERT_EQ(s.conn->notifies.size(), 1u);
    EXPECT_EQ(s.conn->notifies[0].get(), readers[0].conn->notifies[0].get());
    s.conn->notifies[0]->EncodedOnce<std::string>([&](const Assignment& x) {
      ++encoded;
      return x.hash;
    });
  }
  EXPECT_EQ(encoded, 1);
}

// The node's record shows the labelled hash as assigned, and its ACK of it
// is accepted (it was assigned to that node).
TEST_F(NodeFeedRolloutLabelTest, AckOfTheLabelledRenderingIsAccepted) {
  source_.Set(kUsEast, 1);
  auto labelled = FakeSource::Snapshot(kUsEast, 1, 7);
  source_.labelled[kUsEast] = labelled;
  Stream reader = HelloWith("n-1", kReadsLabels);
  feed_->OnAck(*reader.session, AckMsg{1, labelled->hash});
  feed_->FlushStatusForTest();
  auto node = store_->GetNode("n-1");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->assigned_hash, labelled->hash);
  EXPECT_EQ(node->applied_hash, labelled->hash);
  EXPECT_EQ(RefusedReports("ack"), 0u);
}

}  // namespace
}  // namespace omnirelay::cp
