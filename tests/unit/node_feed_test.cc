// The node feed without a transport (node_feed.h): fake connections, a fake
// assignment source, a synchronous bus and a FakeClock; the feed runs with no
// threads (manual_for_test), so every step is driven from the test.
#include "omnirelay/controlplane/node_feed.h"

#include <gtest/gtest.h>

#include "feed_session.h"
#include "node_feed_fixture.h"

namespace omnirelay::cp {
namespace {

using namespace feed_testing;  // NOLINT: the fixture and its fakes

// An admitted hello gets the Welcome, reading resumes, and the chain's newest snapshot follows.
TEST_F(NodeFeedUnitTest, AdmittedHelloIsWelcomedAndSentTheNewest) {
  source_.Set(kUsEast, 7);
  Stream s = Hello("n-1", kUsEast);
  ASSERT_EQ(s.conn->welcomes.size(), 1u);
  EXPECT_EQ(s.conn->welcomes[0].http_endpoints, std::vector<std::string>{"127.0.0.1:7080"});
  EXPECT_TRUE(s.conn->reading);
  EXPECT_FALSE(s.conn->closed);
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{7});
  EXPECT_EQ(feed_->connected(), 1u);
  EXPECT_EQ(feed_->ChainOf("n-1"), kUsEast);
}

// A node token may not speak for another node: permission denied, no welcome.
TEST_F(NodeFeedUnitTest, HelloWithAnotherNodesTokenIsDenied) {
  Stream s = Connect(Issue("node:n-2", {"node"}).secret);
  SayHello(s, "n-1", kUsEast);
  ASSERT_TRUE(s.conn->closed);
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(s.conn->welcomes.empty());
  EXPECT_EQ(feed_->connected(), 0u);
}

// A chain naming another node's scope is refused as an invalid argument.
TEST_F(NodeFeedUnitTest, HelloWithAnotherNodesScopeIsRefused) {
  Stream s = Connect(Issue("node:n-1", {"node"}).secret);
  SayHello(s, "n-1", "global,node:n-2");
  ASSERT_TRUE(s.conn->closed);
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kInvalidArgument);
}

// An unknown bearer token is unauthenticated.
TEST_F(NodeFeedUnitTest, HelloWithUnknownTokenIsUnauthenticated) {
  Stream s = Connect("omr_000000000000_nope");
  SayHello(s, "n-1", kUsEast);
  ASSERT_TRUE(s.conn->closed);
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kUnauthenticated);
}

// A bus event revoking a token ends exactly the streams opened with it.
TEST_F(NodeFeedUnitTest, RevocationEndsTheStreamsOfThatToken) {
  IssuedToken doomed = Issue("node:n-1", {"node"});
  Stream a = Connect(doomed.secret);
  SayHello(a, "n-1", kUsEast);
  Stream b = Hello("n-2", kUsEast);
  ChangeEvent revoke;
  revoke.revoked_tokens = {doomed.record.id};
  ASSERT_TRUE(bus_.Publish(revoke).ok());
  ASSERT_TRUE(a.conn->closed);
  EXPECT_EQ(a.conn->closed->code(), StatusCode::kUnauthenticated);
  EXPECT_FALSE(b.conn->closed);
  // Finding 6: the node's record says why it went away (nodes list LAST ERROR).
  Ended(a);
  feed_->FlushStatusForTest();
  auto stored = store_->GetNode("n-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->last_error.rfind("unauthenticated: ", 0), 0u) << stored->last_error;
  EXPECT_NE(stored->last_error.find("revoked"), std::string::npos) << stored->last_error;
}

// Finding 6: a node whose own token expired (or was revoked) while it was
// away is refused at its next hello, and `nodes list` says why; someone
// else's refused token changes no node, and a node never seen is not made.
TEST_F(NodeFeedUnitTest, RefusedOwnTokenAtHelloBecomesTheNodesLastError) {
  IssuedToken own = Issue("node:n-1", {"node"}, 60);
  Stream first = Connect(own.secret);
  SayHello(first, "n-1", kUsEast);
  Ended(first);
  Stream other = Hello("n-3", kUsEast);
  Ended(other);
  IssuedToken foreign = Issue("node:n-2", {"node"}, 60);
  IssuedToken stranger = Issue("node:n-9", {"node"}, 60);
  Advance(std::chrono::seconds(120));  // every token above has expired
  for (auto [secret, node] : {std::pair{own.secret, "n-1"}, std::pair{foreign.secret, "n-3"},
                              std::pair{stranger.secret, "n-9"}}) {
    Stream again = Connect(secret);
    SayHello(again, node, kUsEast);
    ASSERT_TRUE(again.conn->closed) << node;
    EXPECT_EQ(again.conn->closed->code(), StatusCode::kUnauthenticated) << node;
  }
  NodeRecord n1 = StoredNode("n-1");
  EXPECT_EQ(n1.last_error_code, "unauthenticated");
  EXPECT_NE(n1.last_error.find("has expired"), std::string::npos) << n1.last_error;
  EXPECT_FALSE(n1.connected);
  EXPECT_EQ(StoredNode("n-3").last_error, "");
  EXPECT_EQ(store_->GetNode("n-9").status().code(), StatusCode::kNotFound);
}

// A hello admitted before its token's revocation arrived cannot join after it.
TEST_F(NodeFeedUnitTest, RevokedTokenCannotJoinLater) {
  IssuedToken doomed = Issue("node:n-1", {"node"});
  ChangeEvent revoke;
  revoke.revoked_tokens = {doomed.record.id};
  ASSERT_TRUE(bus_.Publish(revoke).ok());
  Stream s = Connect(doomed.secret);
  SayHello(s, "n-1", kUsEast);  // the store does not know of the revocation here
  ASSERT_TRUE(s.conn->closed);
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(feed_->connected(), 0u);
}

// A stream whose token expires is ended by the first sweep at or after the expiry.
TEST_F(NodeFeedUnitTest, ExpiredTokenEndsTheStreamAtTheSweep) {
  Stream s = Connect(Issue("node:n-1", {"node"}, /*ttl_seconds=*/10).secret);
  SayHello(s, "n-1", kUsEast);
  ASSERT_FALSE(s.conn->closed);
  Advance(std::chrono::seconds(5));  // sweep at 5 s: 5 s left
  EXPECT_FALSE(s.conn->closed);
  Advance(std::chrono::seconds(4));  // no sweep due
  EXPECT_FALSE(s.conn->closed);
  Advance(std::chrono::seconds(1));  // sweep at 10 s: expired
  ASSERT_TRUE(s.conn->closed);
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kUnauthenticated);
}

// Chains are re-rendered by the timed refresh only once refresh_interval has passed.
TEST_F(NodeFeedUnitTest, RefreshRunsEveryInterval) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  ASSERT_EQ(source_.asked[kUsEast], 1);
  Advance(std::chrono::seconds(59));
  EXPECT_EQ(source_.asked[kUsEast], 1);
  Advance(std::chrono::seconds(1));
  EXPECT_EQ(source_.asked[kUsEast], 2);
  Advance(std::chrono::seconds(60));
  EXPECT_EQ(source_.asked[kUsEast], 3);
}

// A re-signed snapshot (same version, new hash, later expiry) reaches nodes at the refresh.
TEST_F(NodeFeedUnitTest, RefreshSendsTheResignedSnapshot) {
  source_.Set(kUsEast, 1, /*expires_at_ms=*/1000);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  source_.Set(kUsEast, 1, /*expires_at_ms=*/2000);
  Advance(std::chrono::seconds(60));
  ASSERT_EQ(s.conn->notifies.size(), 2u);
  EXPECT_EQ(s.conn->notifies[1]->expires_at_ms, 2000);
}

// A change event re-renders the chains containing a changed scope, and no others.
// A stream the feed has asked the transport to close is offered nothing more,
// even before the transport reports it closed: no Notify is handed over and
// no assignment is recorded for a stream that is going away.
TEST_F(NodeFeedUnitTest, ClosingStreamIsOfferedNothing) {
  source_.Set(kUsEast, 1);
  IssuedToken doomed = Issue("node:n-1", {"node"});
  Stream a = Connect(doomed.secret);
  SayHello(a, "n-1", kUsEast);
  feed_->OnNotifyWritten(*a.session);
  ASSERT_EQ(a.conn->versions(), std::vector<std::int64_t>{1});
  ChangeEvent revoke;
  revoke.revoked_tokens = {doomed.record.id};
  ASSERT_TRUE(bus_.Publish(revoke).ok());
  ASSERT_TRUE(a.conn->closed);  // the fake transport never reports OnClosed
  source_.Set(kUsEast, 2);
  ChangeEvent event;
  event.revision = 2;
  event.scopes = {"region:us-east"};
  ASSERT_TRUE(bus_.Publish(event).ok());
  feed_->RunDueForTest();
  EXPECT_EQ(a.conn->versions(), std::vector<std::int64_t>{1});
}

TEST_F(NodeFeedUnitTest, ChangeEventRendersOnlyAffectedChains) {
  source_.Set(kUsEast, 1);
  source_.Set(kEuWest, 1);
  Stream east = Hello("n-1", kUsEast);
  Stream west = Hello("n-2", kEuWest);
  feed_->OnNotifyWritten(*east.session);
  feed_->OnNotifyWritten(*west.session);
  source_.Set(kEuWest, 2);
  ChangeEvent event;
  event.revision = 2;
  event.scopes = {"region:eu-west"};
  ASSERT_TRUE(bus_.Publish(event).ok());
  feed_->RunDueForTest();
  EXPECT_EQ(source_.asked[kUsEast], 1);
  EXPECT_EQ(source_.asked[kEuWest], 2);
  EXPECT_EQ(west.conn->versions(), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(east.conn->versions(), std::vector<std::int64_t>{1});
}

// A node that reported the assigned hash in its hello is not sent it again.
TEST_F(NodeFeedUnitTest, SnapshotTheNodeHasIsNotSent) {
  source_.Set(kUsEast, 3);
  ASSERT_TRUE(store_->PutSnapshot(*source_.newest[kUsEast]).ok());  // as the renderer does
  Stream s = Hello("n-1", kUsEast, 3, source_.newest[kUsEast]->hash);
  EXPECT_TRUE(s.conn->notifies.empty());
  Advance(std::chrono::seconds(60));  // the refresh finds the same snapshot
  EXPECT_TRUE(s.conn->notifies.empty());
}

// The same assignment is sent once, however many events touch its chain.
TEST_F(NodeFeedUnitTest, RepeatedEventsDoNotResend) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  ChangeEvent event;
  event.revision = 5;
  event.scopes = {"global"};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(bus_.Publish(event).ok());
    feed_->RunDueForTest();
  }
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{1});
}

// A node is never sent a version older than one it was sent (even if the source says so).
TEST_F(NodeFeedUnitTest, OlderVersionIsNeverSentAfterNewer) {
  source_.Set(kUsEast, 5);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  source_.Set(kUsEast, 6);
  source_.held["n-1"] = FakeSource::Snapshot(kUsEast, 4);
  Advance(std::chrono::seconds(60));
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{5});
}

// The source decides per node: a held node keeps its snapshot while others move on.
TEST_F(NodeFeedUnitTest, AssignmentSourceDecidesPerNode) {
  source_.Set(kUsEast, 1);
  Stream held = Hello("n-1", kUsEast);
  Stream moving = Hello("n-2", kUsEast);
  feed_->OnNotifyWritten(*held.session);
  feed_->OnNotifyWritten(*moving.session);
  source_.held["n-1"] = source_.newest[kUsEast];
  source_.Set(kUsEast, 2);
  Advance(std::chrono::seconds(60));
  EXPECT_EQ(held.conn->versions(), std::vector<std::int64_t>{1});
  EXPECT_EQ(moving.conn->versions(), (std::vector<std::int64_t>{1, 2}));
}

// A change event of commits past a pinning rollout's base (its own staged
// layers) renders the chain but asks about no node and sends nothing: the
// source re-offers the nodes it moves. The timed refresh visits them when it
// re-signs the chain (not before: nothing new to send).
TEST_F(NodeFeedUnitTest, CommitsPastAPinnedBaseSkipTheFanOut) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  source_.pinned_base = 1;
  source_.Set(kUsEast, 2);
  const int asked = source_.asked[kUsEast];
  const int assigned = source_.assigned_calls;
  ChangeEvent event;
  event.scopes = {"global"};
  event.revision = 2;
  ASSERT_TRUE(bus_.Publish(event).ok());
  feed_->RunDueForTest();
  EXPECT_EQ(source_.asked[kUsEast], asked + 1);  // rendered
  EXPECT_EQ(source_.assigned_calls, assigned);   // nobody asked about
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{1});
  source_.Set(kUsEast, 2, 600'000);   // re-signed
  Advance(std::chrono::seconds(60));  // the timed refresh
  EXPECT_GT(source_.assigned_calls, assigned);
  EXPECT_EQ(s.conn->versions(), (std::vector<std::int64_t>{1, 2}));
}

// A chain whose group has nothing yet (its first node waits for the first
// render) or whose nodes were told a render problem is sent as usual, pinned
// or not.
TEST_F(NodeFeedUnitTest, APinnedRoundStillServesAGroupWithNothingYet) {
  Stream s = Hello("n-1", kUsEast);  // nothing to render yet: waits
  ASSERT_TRUE(s.conn->versions().empty());
  source_.pinned_base = 1;
  source_.Set(kUsEast, 2);
  ChangeEvent event;
  event.scopes = {"global"};
  event.revision = 2;
  ASSERT_TRUE(bus_.Publish(event).ok());
  feed_->RunDueForTest();
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{2});
}

// A round that merges an older commit (at or below the pinned base) with the
// rollout's own fans out: the pinned nodes may not have that one yet.
TEST_F(NodeFeedUnitTest, ARoundWithACommitAtThePinnedBaseFansOut) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  feed_->OnNotifyWritten(*s.session);
  source_.pinned_base = 2;
  source_.Set(kUsEast, 3);
  ChangeEvent older;
  older.scopes = {"region:us-east"};
  older.revision = 2;
  ChangeEvent staged;
  staged.scopes = {"global"};
  staged.revision = 3;
  ASSERT_TRUE(bus_.Publish(older).ok());
  ASSERT_TRUE(bus_.Publish(staged).ok());
  feed_->RunDueForTest();  // one round of both
  EXPECT_EQ(s.conn->versions(), (std::vector<std::int64_t>{1, 3}));
}

// A connection still writing a Notify gets only the newest of those assigned meanwhile.
TEST_F(NodeFeedUnitTest, SlowConsumerGetsOnlyTheNewest) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  ASSERT_EQ(s.conn->versions(), std::vector<std::int64_t>{1});  // not written yet
  ChangeEvent event;
  event.scopes = {"global"};
  event.revision = 2;
  for (std::int64_t v : {2, 3, 4}) {
    source_.Set(kUsEast, v);
    ASSERT_TRUE(bus_.Publish(event).ok());
    feed_->RunDueForTest();
  }
  EXPECT_EQ(s.conn->versions(), std::vector<std::int64_t>{1});
  feed_->OnNotifyWritten(*s.session);
  EXPECT_EQ(s.conn->versions(), (std::vector<std::int64_t>{1, 4}));
  feed_->OnNotifyWritten(*s.session);
  EXPECT_EQ(s.conn->versions(), (std::vector<std::int64_t>{1, 4}));
}

// One Assignment object is shared by every node of a chain (encoded once by the transport).
TEST_F(NodeFeedUnitTest, NodesOfAChainShareOneAssignment) {
  source_.Set(kUsEast, 1);
  Stream a = Hello("n-1", kUsEast);
  Stream b = Hello("n-2", kUsEast);
  feed_->OnNotifyWritten(*a.session);
  feed_->OnNotifyWritten(*b.session);
  source_.Set(kUsEast, 2);
  Advance(std::chrono::seconds(60));
  ASSERT_EQ(a.conn->notifies.size(), 2u);
  ASSERT_EQ(b.conn->notifies.size(), 2u);
  EXPECT_EQ(a.conn->notifies[1].get(), b.conn->notifies[1].get());
  int encoded = 0;
  for (const auto& n : {a.conn->notifies[1], b.conn->notifies[1]}) {
    n->EncodedOnce<std::string>([&](const Assignment& x) {
      ++encoded;
      return x.hash;
    });
  }
  EXPECT_EQ(encoded, 1);
}

// Many changes of one node's status cost one store write, made once status_delay has passed.
TEST_F(NodeFeedUnitTest, StatusWritesAreCoalesced) {
  Stream s = Hello("n-1", kUsEast);
  for (std::int64_t v = 1; v <= 20; ++v) {
    source_.Set(kUsEast, v);
    ASSERT_TRUE(bus_.Publish(ChangeEvent{v, {"global"}, {}, {}}).ok());
    feed_->RunDueForTest();
    ASSERT_EQ(s.conn->notifies.size(), static_cast<std::size_t>(v));
    feed_->OnNotifyWritten(*s.session);
    feed_->OnAck(*s.session, AckMsg{v, s.conn->notifies.back()->hash});
  }
  feed_->OnStatus(*s.session, StatusMsg{9, {{"error_rate", 0.5}}});
  Advance(std::chrono::milliseconds(249));
  EXPECT_EQ(StatusWrites(), 0u);
  Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(StatusWrites(), 1u);
  auto stored = store_->GetNode("n-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->applied_version, 20);
  EXPECT_EQ(stored->discovery_generation, 9);
  EXPECT_TRUE(stored->connected);
}

// A NACK is recorded as the node's last error, reason first.
TEST_F(NodeFeedUnitTest, NackIsRecordedAsLastError) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  ASSERT_EQ(s.conn->notifies.size(), 1u);
  feed_->OnNack(*s.session, NackMsg{1, s.conn->notifies[0]->hash, "invalid", "bad route"});
  feed_->FlushStatusForTest();
  auto stored = store_->GetNode("n-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->last_error, "invalid: bad route");
}

// The node's record holds its assignment before the Notify leaves: a node
// that answers at once (here, inside the connection's Notify) has its NACK
// recorded against the version it was sent, not against none.
TEST_F(NodeFeedUnitTest, AssignmentIsRecordedBeforeTheNotifyLeaves) {
  source_.Set(kUsEast, 1);
  Stream s = Hello("n-1", kUsEast);
  ASSERT_EQ(s.conn->notifies.size(), 1u);
  feed_->OnNotifyWritten(*s.session);
  std::optional<NodeRecord> seen_at_nack;
  s.conn->on_notify = [&](const Assignment& sent) {
    feed_->OnNack(*s.session, NackMsg{sent.version, sent.hash, "invalid", "refused at once"});
    seen_at_nack = s.session->state()->Copy();
  };
  source_.Set(kUsEast, 2);
  Commit("global", 2);
  ASSERT_EQ(s.conn->notifies.size(), 2u);
  ASSERT_TRUE(seen_at_nack);
  EXPECT_EQ(seen_at_nack->assigned_version, 2);
  EXPECT_EQ(seen_at_nack->assigned_hash, s.conn->notifies[1]->hash);
  EXPECT_EQ(seen_at_nack->last_error, "invalid: refused at once");
}

// Finding 8: an ACK or NACK for a (version, hash) never assigned to the
// node is refused, counted and shown as its last error; the applied version
// stays what it was.
TEST_F(NodeFeedUnitTest, ReportsForWhatWasNeverAssignedAreRefused) {
  source_.Set(kUsEast, 3);
  Stream s = Hello("n-1", kUsEast);
  ASSERT_EQ(s.conn->notifies.size(), 1u);
  feed_->OnAck(*s.session, AckMsg{1'000'000'000'000'000, "sha256:fff"});
  feed_->OnAck(*s.session, AckMsg{3, "sha256:not-the-hash-sent"});
  feed_->OnNack(*s.session, NackMsg{2, "sha256:zzz", "invalid", "made up"});
  feed_->FlushStatusForTest();
  auto stored = store_->GetNode("n-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->applied_version, 0);
  EXPECT_NE(stored->last_error.find("was never assigned to this node"), std::string::npos)
      << stored->last_error;
  EXPECT_EQ(RefusedReports("ack"), 2u);
  EXPECT_EQ(RefusedReports("nack"), 1u);
  // The real one counts.
  feed_->OnAck(*s.session, AckMsg{3, s.conn->notifies[0]->hash});
  feed_->FlushStatusForTest();
  EXPECT_EQ(store_->GetNode("n-1")->applied_version, 3);
}

// Finding 8: what a hello says the node runs is believed only for a
// snapshot this control plane stored at that version; a made-up claim is
// refused as a report (counted, the node's last error), the node counts as
// running nothing and is sent its assignment.
TEST_F(NodeFeedUnitTest, HelloClaimingASnapshotNeverSignedIsNotBelieved) {
  source_.Set(kUsEast, 3);
  ASSERT_TRUE(store_->PutSnapshot(*source_.newest[kUsEast]).ok());
  Stream liar = Hello("n-1", kUsEast, 1'000'000'000'000'000, "sha256:fff");
  ASSERT_EQ(liar.conn->notifies.size(), 1u);  // sent its assignment, as a new node
  Stream wrong_version = Hello("n-2", kUsEast, 7, source_.newest[kUsEast]->hash);
  ASSERT_EQ(wrong_version.conn->notifies.size(), 1u);
  feed_->FlushStatusForTest();
  for (const char* id : {"n-1", "n-2"}) {
    auto stored = store_->GetNode(id);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->applied_version, 0) << id;
    EXPECT_EQ(stored->applied_hash, "") << id;
    EXPECT_EQ(stored->last_error_code, "invalid_argument") << id;
  }
  EXPECT_NE(store_->GetNode("n-1")->last_error.find("was never signed by this control plane"),
            std::string::npos)
      << store_->GetNode("n-1")->last_error;
  EXPECT_NE(store_->GetNode("n-2")->last_error.find("that hash is version 3"), std::string::npos)
      << store_->GetNode("n-2")->last_error;
  EXPECT_EQ(RefusedReports("hello"), 2u);
  // The honest one: believed, nothing sent, no error.
  Stream honest = Hello("n-3", kUsEast, 3, source_.newest[kUsEast]->hash);
  EXPECT_TRUE(honest.conn->notifies.empty());
  feed_->FlushStatusForTest();
  EXPECT_EQ(store_->GetNode("n-3")->applied_version, 3);
  EXPECT_EQ(store_->GetNode("n-3")->last_error, "");
  EXPECT_EQ(RefusedReports("hello"), 2u);
}

// Finding 8: a status report with a negative generation, a NaN or a huge
// figure is refused with its reason and never stored.
// A window of `requests` (with `errors`) over `window_ms`; `per_bucket`
// samples in each of the first two latency buckets.
SloReport Window(std::int64_t version, std::uint64_t requests, std::uint64_t errors,
                 std::int64_t window_ms, std::uint64_t per_bucket = 0) {
  SloReport r;
  r.config_version = version;
  r.window_start_ms = 1'000;
  r.window_ms = window_ms;
  r.window.requests = requests;
  r.window.errors = errors;
  r.window.latency.counts[0] = per_bucket;
  r.window.latency.counts[1] = per_bucket;
  return r;
}

TEST_F(NodeFeedUnitTest, InvalidStatusReportsAreRefused) {
  Stream s = Hello("n-1", kUsEast);
  feed_->OnStatus(*s.session, StatusMsg{4, {{"error_rate", 0.25}}});
  feed_->FlushStatusForTest();
  struct Bad {
    StatusMsg status;
    const char* says;
  };
  for (const Bad& bad :
       {Bad{StatusMsg{-1, {}}, "discoveryGeneration -1 is negative"},
        Bad{StatusMsg{5, {{"error_rate", std::nan("")}}}, "is not finite"},
        Bad{StatusMsg{5, {{"p99_ms", 1e308}}}, "outside [0, 1e15]"},
        Bad{StatusMsg{5, {{"p99_ms", -3}}}, "outside [0, 1e15]"},
        Bad{StatusMsg{5, {}, {Window(3, 10, 11, 1000)}}, "11 errors of 10 requests"},
        Bad{StatusMsg{5, {}, {Window(3, UINT64_MAX, 0, 1000)}}, "at most 1e12"},
        Bad{StatusMsg{5, {}, {Window(3, 10, 0, -5)}}, "windowMs -5"},
        Bad{StatusMsg{5, {}, {Window(3, 10, 0, 0)}}, "windowMs 0"},
        Bad{StatusMsg{5, {}, {Window(-1, 10, 0, 1000)}}, "negative config version"},
        Bad{StatusMsg{5, {}, {Window(3, 10, 0, 1000, 11)}}, "latency bucket of 11"},
        Bad{StatusMsg{5, {}, {Window(3, 10, 0, 1000, 6)}}, "12 latency samples"}}) {
    feed_->OnStatus(*s.session, bad.status);
    feed_->FlushStatusForTest();
    auto stored = store_->GetNode("n-1");
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->discovery_generation, 4) << bad.says;
    EXPECT_EQ(stored->health_json, R"({"error_rate":0.25})") << bad.says;
    EXPECT_NE(stored->last_error.find(bad.says), std::string::npos) << stored->last_error;
  }
  EXPECT_EQ(RefusedReports("status"), 11u);
  // A sound window passes.
  feed_->OnStatus(*s.session, StatusMsg{6, {}, {Window(3, 10, 2, 1000, 5)}});
  feed_->FlushStatusForTest();
  EXPECT_EQ(store_->GetNode("n-1")->discovery_generation, 6);
  EXPECT_EQ(RefusedReports("status"), 11u);
}

// Finding 8: only a node token bound to the id (or an admin token) may say
// hello as a node; a config:read token may not.
TEST_F(NodeFeedUnitTest, OnlyTheNodesOwnTokenSpeaksForIt) {
  Stream reader = Connect(Issue("ci", {"config:read"}).secret);
  SayHello(reader, "n-1", kUsEast);
  ASSERT_TRUE(reader.conn->closed.has_value());
  EXPECT_EQ(reader.conn->closed->code(), StatusCode::kPermissionDenied);
  Stream other = Connect(Issue("node:n-2", {"node"}).secret);
  SayHello(other, "n-1", kUsEast);
  ASSERT_TRUE(other.conn->closed.has_value());
  EXPECT_EQ(other.conn->closed->code(), StatusCode::kPermissionDenied);
  Stream admin = Connect(Issue("ops", {"admin"}).secret);
  SayHello(admin, "n-1", kUsEast);
  EXPECT_FALSE(admin.conn->closed.has_value());
}

// A hello whose chain the topology refuses (check_chain) is closed with
// that refusal and never joins a group.
TEST_F(NodeFeedUnitTest, HelloWithAChainTheTopologyRefusesIsClosed) {
  chain_check_ = [](const std::vector<Scope>& chain, const std::string&) {
    return chain.size() > 1 && chain[1].level != ScopeLevel::kRegion
               ? Status(StatusCode::kScopeMismatch, "skips the region level")
               : Status::Ok();
  };
  Stream s = Hello("n-1", "global,cell:euw1-a");
  ASSERT_TRUE(s.conn->closed.has_value());
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kScopeMismatch);
  EXPECT_TRUE(s.conn->welcomes.empty());
  EXPECT_EQ(feed_->connected(), 0u);
  Stream ok = Hello("n-2", kUsEast);
  EXPECT_FALSE(ok.conn->closed.has_value());
}

// A second stream of a node replaces the first, which is closed as unavailable.
TEST_F(NodeFeedUnitTest, NewerStreamOfANodeReplacesTheOlder) {
  Stream first = Hello("n-1", kUsEast);
  Stream second = Hello("n-1", kUsEast);
  ASSERT_TRUE(first.conn->closed);
  EXPECT_EQ(first.conn->closed->code(), StatusCode::kUnavailable);
  Ended(first);
  EXPECT_FALSE(second.conn->closed);
  EXPECT_EQ(feed_->connected(), 1u);
}

// Two processes with one node id (different instance ids): the newer wins;
// the older is closed superseded, counted once, and the node's status says so.
TEST_F(NodeFeedUnitTest, NewerInstanceSupersedesTheOlder) {
  source_.Set(kUsEast, 3);
  Stream older = HelloFrom("n-1", "inst-a");
  Stream newer = HelloFrom("n-1", "inst-b");
  // The winner's ACK does not hide what happened.
  ASSERT_EQ(newer.conn->notifies.size(), 1u);
  feed_->OnAck(*newer.session, AckMsg{3, newer.conn->notifies[0]->hash});
  ASSERT_TRUE(older.conn->closed);
  EXPECT_EQ(older.conn->closed->code(), StatusCode::kSuperseded);
  EXPECT_NE(older.conn->closed->message().find("inst-b"), std::string::npos);
  Ended(older);
  EXPECT_FALSE(newer.conn->closed);
  EXPECT_EQ(feed_->connected(), 1u);
  EXPECT_EQ(Superseded(), 1u);
  const NodeRecord node = StoredNode("n-1");
  EXPECT_TRUE(node.connected);
  EXPECT_EQ(node.applied_version, 3);
  EXPECT_EQ(node.last_error.rfind("superseded: ", 0), 0u) << node.last_error;
  EXPECT_NE(node.last_error.find("inst-a"), std::string::npos) << node.last_error;
  EXPECT_NE(node.last_error.find("inst-b"), std::string::npos) << node.last_error;
  // The node's next hello while none of its streams is open clears it.
  Ended(newer);
  HelloFrom("n-1", "inst-c");
  EXPECT_EQ(StoredNode("n-1").last_error, "");
}

// While the winner is connected, a superseded instance saying hello again is
// closed superseded at once: it cannot knock the newer one off.
TEST_F(NodeFeedUnitTest, SupersededInstanceDoesNotComeBack) {
  Stream older = HelloFrom("n-1", "inst-a");
  Stream newer = HelloFrom("n-1", "inst-b");
  Ended(older);
  Stream again = HelloFrom("n-1", "inst-a");
  ASSERT_TRUE(again.conn->closed);
  EXPECT_EQ(again.conn->closed->code(), StatusCode::kSuperseded);
  Ended(again);
  EXPECT_FALSE(newer.conn->closed);
  EXPECT_EQ(feed_->connected(), 1u);
  EXPECT_EQ(Superseded(), 1u);
  // Once the winner is gone there is nobody to fight: it may connect.
  Ended(newer);
  Stream alone = HelloFrom("n-1", "inst-a");
  EXPECT_FALSE(alone.conn->closed);
  EXPECT_EQ(feed_->connected(), 1u);
}

// The same process reconnecting (same instance id) replaces its older stream
// quietly: unavailable, not counted, no last error.
TEST_F(NodeFeedUnitTest, SameInstanceReconnectReplacesQuietly) {
  Stream first = HelloFrom("n-1", "inst-a");
  Stream second = HelloFrom("n-1", "inst-a");
  ASSERT_TRUE(first.conn->closed);
  EXPECT_EQ(first.conn->closed->code(), StatusCode::kUnavailable);
  Ended(first);
  EXPECT_FALSE(second.conn->closed);
  EXPECT_EQ(Superseded(), 0u);
  EXPECT_EQ(StoredNode("n-1").last_error, "");
}

// A hello without an instance id (an older node) replaces, and is replaced,
// quietly as before, whatever the other stream says.
TEST_F(NodeFeedUnitTest, HelloWithoutInstanceIdReplacesQuietly) {
  Stream old_node = HelloFrom("n-1", "");
  Stream new_node = HelloFrom("n-1", "inst-a");
  Stream old_again = HelloFrom("n-1", "");
  for (const Stream* s : {&old_node, &new_node}) {
    ASSERT_TRUE(s->conn->closed);
    EXPECT_EQ(s->conn->closed->code(), StatusCode::kUnavailable);
    Ended(*s);
  }
  EXPECT_FALSE(old_again.conn->closed);
  EXPECT_EQ(Superseded(), 0u);
}

// An instance id that is too long or not printable is refused.
TEST_F(NodeFeedUnitTest, MalformedInstanceIdIsRefused) {
  for (const std::string& bad : {std::string(65, 'a'), std::string("a b"), std::string("a\nb")}) {
    Stream s = HelloFrom("n-1", bad);
    ASSERT_TRUE(s.conn->closed);
    EXPECT_EQ(s.conn->closed->code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(feed_->connected(), 0u);
}

// A node whose stream ends is disconnected, and its record says so.
TEST_F(NodeFeedUnitTest, EndedStreamDisconnectsTheNode) {
  Stream s = Hello("n-1", kUsEast);
  Ended(s);
  EXPECT_EQ(feed_->connected(), 0u);
  EXPECT_EQ(feed_->ChainOf("n-1"), "");
  feed_->FlushStatusForTest();
  auto stored = store_->GetNode("n-1");
  ASSERT_TRUE(stored.ok());
  EXPECT_FALSE(stored->connected);
}

// CloseAll ends every stream as unavailable and refuses new ones.
TEST_F(NodeFeedUnitTest, CloseAllEndsStreamsAndRefusesNewOnes) {
  Stream s = Hello("n-1", kUsEast);
  feed_->CloseAll();
  ASSERT_TRUE(s.conn->closed);
  EXPECT_EQ(s.conn->closed->code(), StatusCode::kUnavailable);
  auto conn = std::make_shared<FakeConnection>();
  EXPECT_EQ(feed_->Connect(conn, "token"), nullptr);
}

}  // namespace
}  // namespace omnirelay::cp
