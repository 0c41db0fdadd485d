// The node feed through the gRPC face: an in-process control plane (real
// SQLite store, in-process bus, real keys) and raw gRPC node clients built
// on the generated stub — what a relay node speaks, without the relay library.
#include "omnirelay/controlplane/node_feed.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <thread>

#include "api_harness.h"
#include "eventually.h"
#include "fake_node.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/controlplane/grpc_face.h"
#include "omnirelay/controlplane/v1/config_service.grpc.pb.h"
#include "omnirelay/controlplane/v1/errors.pb.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"

namespace omnirelay::cp::testing {
namespace {

namespace v1 = controlplane::v1;
using Json = nlohmann::json;
using std::chrono::milliseconds;

using test_support::Eventually;
using test_support::FakeNode;

class NodeFeedTest : public ::testing::Test {
 protected:
  void SetUp() override { StartFace(GrpcFaceOptions{}); }
  void TearDown() override { Shutdown(); }

  // A fresh feed and a gRPC face serving it.
  void StartFace(GrpcFaceOptions options) {
    NodeFeedOptions feed_options;
    feed_options.http_endpoints = {"127.0.0.1:7080"};
    feed_ = MakeNodeFeed(feed_options, stack_.auth(), assignments_, stack_.store(), stack_.bus(),
                         stack_.clock(), stack_.metrics());
    options.listen = "127.0.0.1:0";
    auto face = StartGrpcFace(options, stack_.service(), stack_.auth(), *feed_, stack_.store(),
                              stack_.metrics());
    ASSERT_TRUE(face.ok()) << face.status().ToString();
    face_ = std::move(face).value();
  }
  // As the daemon stops: the face, then the feed (which writes the last status).
  void Shutdown() {
    if (face_) face_->Shutdown();
    if (feed_) feed_->Stop();
  }

  std::unique_ptr<FakeNode> Node(const std::string& id, const std::string& chain) {
    return std::make_unique<FakeNode>(face_->port(), stack_.Token({"node"}, "node:" + id), id,
                                      chain);
  }

  std::int64_t Put(const std::string& scope, const std::string& document) {
    auto out = stack_.service().PutLayer(admin_, scope, document, std::nullopt, false, true);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? out->revision : 0;
  }

  // Verifies a Notify as a node must: signature by a trusted key over the
  // exact bytes, hash of those bytes, version inside them. Returns the payload.
  Json Verify(const v1::Notify& n) {
    auto verified = VerifyEnvelope(n.envelope(), stack_.trusted_keys(), kSnapshotPayloadType);
    EXPECT_TRUE(verified.ok()) << verified.status().ToString();
    if (!verified.ok()) return nullptr;
    EXPECT_EQ(ContentId(verified->payload), n.hash());
    Json snapshot = Json::parse(verified->payload);
    EXPECT_EQ(snapshot["metadata"]["version"], n.version());
    return snapshot;
  }

  api::Node StoredNode(const std::string& id) {
    feed_->FlushStatusForTest();
    auto node = stack_.service().GetNode(admin_, id);
    EXPECT_TRUE(node.ok()) << node.status().ToString();
    return node.ok() ? *node : api::Node{};
  }

  std::uint64_t CounterValue(const std::string& name, const std::string& labels = "") {
    return stack_.metrics().counter(name, "", labels).value();
  }

  const Principal admin_{"t", "admin", {"admin"}};
  Stack stack_;
  NewestOnChain assignments_{stack_.renderer()};
  std::unique_ptr<NodeFeed> feed_;
  std::unique_ptr<GrpcFace> face_;
};

const char kUsEast[] = "global,region:us-east";
const char kEuWest[] = "global,region:eu-west";

std::string RegionLayer(const std::string& region, int max_requests) {
  return Json{{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", "region:" + region}}},
              {"spec", {{"dispatcher", {{"maxConcurrentRequests", max_requests}}}}}}
      .dump();
}

// 100 raw node clients: one layer write reaches each as a Notify carrying a
// verifiable envelope (also fetched by hash); their ACKs show up as
// applied_version in node status.
TEST_F(NodeFeedTest, WriteReachesHundredNodesWhichAck) {
  constexpr int kNodes = 100;
  std::vector<std::unique_ptr<FakeNode>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(Node("n-" + std::to_string(i), i % 2 == 0 ? kUsEast : kEuWest));
  }
  for (auto& n : nodes) n->Hello();
  for (auto& n : nodes) {
    auto welcome = n->Next();
    ASSERT_TRUE(welcome && welcome->has_welcome()) << n->id();
    EXPECT_EQ(welcome->welcome().http_endpoints(0), "127.0.0.1:7080");
  }
  ASSERT_TRUE(Eventually([&] { return feed_->connected() == kNodes; }));

  const std::int64_t revision = Put("global", LayerDoc("global"));
  std::vector<std::thread> threads;
  std::vector<std::string> hashes(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    threads.emplace_back([&, i] {
      auto notify = nodes[i]->NextNotify();
      ASSERT_TRUE(notify) << nodes[i]->id();
      EXPECT_EQ(notify->version(), revision);
      Json snapshot = Verify(*notify);
      EXPECT_EQ(snapshot["metadata"]["scopeChain"][1],
                i % 2 == 0 ? "region:us-east" : "region:eu-west");
      hashes[i] = notify->hash();
      // Fetch by hash serves the same signed bytes the notify carried inline.
      grpc::ClientContext ctx;
      ctx.AddMetadata("authorization", "Bearer " + nodes[i]->token());
      v1::FetchRequest fetch;
      fetch.set_hash(notify->hash());
      v1::SignedSnapshot fetched;
      ASSERT_TRUE(nodes[i]->stub().Fetch(&ctx, fetch, &fetched).ok());
      EXPECT_EQ(fetched.envelope(), notify->envelope());
      EXPECT_EQ(fetched.version(), revision);
      EXPECT_TRUE(nodes[i]->Ack(*notify));
    });
  }
  for (auto& t : threads) t.join();
  // One render per chain: the nodes of a chain share one hash.
  EXPECT_EQ(hashes[0], hashes[2]);
  EXPECT_NE(hashes[0], hashes[1]);

  ASSERT_TRUE(Eventually(
      [&] { return CounterValue("omnirelay_cp_node_acks_total") == std::uint64_t{kNodes}; }));
  for (int i = 0; i < kNodes; ++i) {
    api::Node r = StoredNode(nodes[i]->id());
    EXPECT_EQ(r.applied_version, revision) << r.node_id;
    EXPECT_EQ(r.assigned_version, revision);
    EXPECT_EQ(r.applied_hash, hashes[i]);
    EXPECT_TRUE(r.connected);
    EXPECT_EQ(r.scope_chain, i % 2 == 0 ? kUsEast : kEuWest);
  }
  // The operator view through the gRPC ConfigService says the same.
  auto config = v1::ConfigService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(face_->port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + stack_.Token({"config:read"}, "reader"));
  v1::GetNodeRequest req;
  req.set_node_id("n-7");
  v1::Node node;
  ASSERT_TRUE(config->GetNode(&ctx, req, &node).ok());
  EXPECT_EQ(node.applied_version(), revision);
  EXPECT_FALSE(node.drifted());
  EXPECT_GE(CounterValue("omnirelay_cp_notifies_sent_total"), std::uint64_t{kNodes});
}

// A node token speaks only for its own node id: another id is refused.
TEST_F(NodeFeedTest, NodeTokenForAnotherNodeIsRefused) {
  auto node = Node("n-1", kUsEast);
  node->Hello(0, "", /*as_node=*/"n-2");
  auto error = node->Next();
  ASSERT_TRUE(error && error->has_error());
  EXPECT_EQ(error->error().code(), "permission_denied");
  EXPECT_EQ(node->WaitEnded().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(feed_->connected(), 0u);
}

// A stream without a valid token is refused as unauthenticated.
TEST_F(NodeFeedTest, UnknownTokenIsUnauthenticated) {
  FakeNode node(face_->port(), "omr_000000000000_nope", "n-1", kUsEast);
  node.Hello();
  EXPECT_EQ(node.WaitEnded().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// Revoking a node's token ends the stream it already holds open (the bus
// carries the revocation to every replica); a token that expires while its
// stream is open ends it within the hub's sweep interval (5 s).
TEST_F(NodeFeedTest, RevokedOrExpiredTokenEndsAnOpenStream) {
  auto issued = stack_.service().CreateToken(admin_, "node:n-r", {"node"}, 0);
  ASSERT_TRUE(issued.ok()) << issued.status().ToString();
  FakeNode revoked(face_->port(), issued->secret, "n-r", kUsEast);
  revoked.Hello();
  auto welcome = revoked.Next();
  ASSERT_TRUE(welcome && welcome->has_welcome());

  // 3 s: long enough to be admitted on a slow (sanitizer) build, short enough
  // to expire within the test.
  auto short_lived = stack_.service().CreateToken(admin_, "node:n-e", {"node"}, 3);
  ASSERT_TRUE(short_lived.ok()) << short_lived.status().ToString();
  FakeNode expiring(face_->port(), short_lived->secret, "n-e", kUsEast);
  expiring.Hello();
  welcome = expiring.Next();
  ASSERT_TRUE(welcome && welcome->has_welcome());

  ASSERT_TRUE(stack_.service().RevokeToken(admin_, issued->record.id).ok());
  auto error = revoked.Next();
  ASSERT_TRUE(error && error->has_error());
  EXPECT_EQ(error->error().code(), "unauthenticated");
  EXPECT_NE(error->error().message().find("revoked"), std::string::npos);
  EXPECT_EQ(revoked.WaitEnded().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(expiring.WaitEnded().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(12));
  // The hub forgets a stream when gRPC reports it done, just after the client saw the end.
  EXPECT_TRUE(Eventually([&] { return feed_->connected() == 0; }, std::chrono::seconds(5)));
  EXPECT_EQ(feed_->connected(), 0u);
}

// An admin token may open a stream for any node (tools, tests).
TEST_F(NodeFeedTest, AdminTokenMayActForANode) {
  FakeNode node(face_->port(), stack_.Token({"admin"}, "ops"), "n-9", kUsEast);
  node.Hello();
  auto welcome = node.Next();
  ASSERT_TRUE(welcome && welcome->has_welcome());
}

// The first message must be a hello; a malformed chain is refused.
TEST_F(NodeFeedTest, ProtocolErrorsEndTheStream) {
  auto wrong_order = Node("n-1", kUsEast);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + wrong_order->token());
  auto stream = wrong_order->stub().Stream(&ctx);
  v1::NodeMessage ack;
  ack.mutable_ack()->set_version(1);
  stream->Write(ack);
  v1::ServerMessage m;
  ASSERT_TRUE(stream->Read(&m));
  EXPECT_EQ(m.error().code(), "invalid_argument");
  while (stream->Read(&m)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  auto bad_chain = Node("n-2", "region:us-east,global");
  bad_chain->Hello();
  EXPECT_EQ(bad_chain->WaitEnded().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

// A NACK is recorded as the node's last_error and counted by reason; an ACK clears it.
TEST_F(NodeFeedTest, NackIsRecordedAsLastError) {
  Put("global", LayerDoc("global"));
  auto node = Node("n-1", kUsEast);
  node->Hello();
  auto notify = node->NextNotify();
  ASSERT_TRUE(notify);
  v1::NodeMessage nack;
  nack.mutable_nack()->set_version(notify->version());
  nack.mutable_nack()->set_hash(notify->hash());
  nack.mutable_nack()->set_reason("expired");
  nack.mutable_nack()->set_message("expiresAt is in the past");
  ASSERT_TRUE(node->Send(nack));
  ASSERT_TRUE(Eventually(
      [&] { return CounterValue("omnirelay_cp_node_nacks_total", "reason=\"expired\"") == 1; }));
  api::Node r = StoredNode("n-1");
  EXPECT_EQ(r.last_error, "expired: expiresAt is in the past");
  EXPECT_EQ(r.applied_version, 0);
  EXPECT_EQ(r.assigned_version, notify->version());

  ASSERT_TRUE(node->Ack(*notify));
  ASSERT_TRUE(Eventually([&] { return CounterValue("omnirelay_cp_node_acks_total") == 1; }));
  EXPECT_EQ(StoredNode("n-1").last_error, "");
}

// A status report lands in the node record: discovery generation and health figures.
TEST_F(NodeFeedTest, StatusReportIsRecorded) {
  auto node = Node("n-1", kUsEast);
  node->Hello();
  ASSERT_TRUE(node->Next());  // welcome
  v1::NodeMessage status;
  status.mutable_status()->set_config_version(0);
  status.mutable_status()->set_discovery_generation(42);
  (*status.mutable_status()->mutable_health())["error_rate"] = 0.25;
  ASSERT_TRUE(node->Send(status));
  ASSERT_TRUE(
      Eventually([&] { return CounterValue("omnirelay_cp_node_status_reports_total") == 1; }));
  api::Node r = StoredNode("n-1");
  EXPECT_EQ(r.discovery_generation, 42);
  EXPECT_EQ(Json::parse(r.health_json)["error_rate"], 0.25);
}

// A write to a scope off a node's chain does not notify it; the next notify
// it gets is the one for its own chain's write.
TEST_F(NodeFeedTest, UnrelatedScopeWritesDoNotNotify) {
  const std::int64_t first = Put("global", LayerDoc("global"));
  auto east = Node("n-east", kUsEast);
  auto west = Node("n-west", kEuWest);
  east->Hello();
  west->Hello();
  ASSERT_EQ(east->NextNotify()->version(), first);
  ASSERT_EQ(west->NextNotify()->version(), first);

  const std::int64_t west_write = Put("region:eu-west", RegionLayer("eu-west", 600));
  auto west_notify = west->NextNotify();
  ASSERT_TRUE(west_notify);
  EXPECT_EQ(west_notify->version(), west_write);
  const std::int64_t east_write = Put("region:us-east", RegionLayer("us-east", 700));
  // Events are handled in order: a notify for the eu-west write would come first.
  auto east_notify = east->NextNotify();
  ASSERT_TRUE(east_notify);
  EXPECT_EQ(east_notify->version(), east_write);
  EXPECT_EQ(Verify(*east_notify)["spec"]["dispatcher"]["maxConcurrentRequests"], 700);
}

// A node that already has the current snapshot gets a Welcome and no Notify.
TEST_F(NodeFeedTest, UpToDateNodeIsNotNotifiedAgain) {
  const std::int64_t first = Put("global", LayerDoc("global"));
  auto node = Node("n-1", kUsEast);
  node->Hello();
  auto notify = node->NextNotify();
  ASSERT_TRUE(notify);
  ASSERT_EQ(notify->version(), first);
  node->Close();

  auto again = Node("n-1", kUsEast);
  again->Hello(notify->version(), notify->hash());
  ASSERT_TRUE(again->Next()->has_welcome());
  const std::int64_t second = Put("region:us-east", RegionLayer("us-east", 700));
  auto next = again->NextNotify();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->version(), second);  // not `first` again
}

// No layer yet: the node waits; the first write then reaches it.
TEST_F(NodeFeedTest, NodeWaitsForTheFirstLayer) {
  auto node = Node("n-1", kUsEast);
  node->Hello();
  ASSERT_TRUE(node->Next()->has_welcome());
  const std::int64_t revision = Put("global", LayerDoc("global"));
  auto notify = node->NextNotify();
  ASSERT_TRUE(notify);
  EXPECT_EQ(notify->version(), revision);
}

// Envelopes over the inline limit travel by Fetch(hash); a node token fetches
// only its own chain's snapshots.
TEST_F(NodeFeedTest, LargeEnvelopesAreFetchedByHash) {
  Shutdown();
  GrpcFaceOptions options;
  options.inline_envelope_bytes = 0;
  StartFace(options);
  Put("global", LayerDoc("global"));
  Put("region:eu-west", RegionLayer("eu-west", 600));
  auto node = Node("n-1", kUsEast);
  node->Hello();
  auto notify = node->NextNotify();
  ASSERT_TRUE(notify);
  EXPECT_TRUE(notify->envelope().empty());

  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + node->token());
  v1::FetchRequest req;
  req.set_hash(notify->hash());
  v1::SignedSnapshot fetched;
  ASSERT_TRUE(node->stub().Fetch(&ctx, req, &fetched).ok());
  v1::Notify full = *notify;
  full.set_envelope(fetched.envelope());
  Verify(full);
  EXPECT_GE(CounterValue("omnirelay_cp_snapshot_fetches_total"), 1u);

  // The eu-west snapshot is not this node's to read.
  auto west = stack_.service().NodeSnapshot(admin_, "n-west", kEuWest);
  ASSERT_TRUE(west.ok());
  grpc::ClientContext other;
  other.AddMetadata("authorization", "Bearer " + node->token());
  req.set_hash((*west)->hash);
  EXPECT_EQ(node->stub().Fetch(&other, req, &fetched).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Closing a stream marks the node disconnected; a newer stream of the same
// node replaces an older one.
TEST_F(NodeFeedTest, StreamEndAndReplacement) {
  auto node = Node("n-1", kUsEast);
  node->Hello();
  ASSERT_TRUE(node->Next());
  ASSERT_TRUE(Eventually([&] { return CounterValue("omnirelay_cp_node_hellos_total") == 1; }));
  EXPECT_EQ(feed_->connected(), 1u);
  EXPECT_TRUE(StoredNode("n-1").connected);

  FakeNode second(face_->port(), node->token(), "n-1", kUsEast);
  second.Hello();
  ASSERT_TRUE(second.Next()->has_welcome());
  EXPECT_EQ(node->WaitEnded().error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(Eventually([&] { return CounterValue("omnirelay_cp_node_hellos_total") == 2; }));
  EXPECT_EQ(feed_->connected(), 1u);
  EXPECT_TRUE(StoredNode("n-1").connected);

  EXPECT_TRUE(second.Close().ok());
  ASSERT_TRUE(Eventually([&] { return feed_->connected() == 0; }));
  EXPECT_FALSE(StoredNode("n-1").connected);
}

// Finding 2 of "fleet truth": a node layer staged before the node existed
// that makes its chain invalid. The node is told on its open stream (a
// Problem with code and pointer, the stream stays up); its record and state
// say render_failed with the pointer; the status counts it. Removing the
// layer sends it a snapshot and clears the problem.
TEST_F(NodeFeedTest, RenderFailureReachesTheNodeAndItsState) {
  Put("global", LayerDoc("global"));
  std::string bad = LayerDoc("node:n-1", [](Json& spec) {
    spec = Json{{"routes", {{"auth", {{"weights", {{"nope", 100}}}}}}}};
  });
  auto staged = stack_.service().PutLayer(admin_, "node:n-1", bad, std::nullopt, false, true,
                                          /*allow_unknown_node=*/true);
  ASSERT_TRUE(staged.ok()) << staged.status().ToString();

  auto node = Node("n-1", std::string(kUsEast) + ",node:n-1");
  node->Hello();
  std::optional<v1::ServerMessage> m = node->Next();
  ASSERT_TRUE(m && m->has_welcome());
  m = node->Next();
  ASSERT_TRUE(m && m->has_problem()) << (m ? m->DebugString() : "nothing");
  EXPECT_EQ(m->problem().code(), "render_failed");
  EXPECT_EQ(m->problem().path(), "/spec/routes/auth/weights/nope");
  EXPECT_NE(m->problem().message().find("global,region:us-east,node:n-1"), std::string::npos)
      << m->problem().message();

  api::Node r = StoredNode("n-1");
  EXPECT_EQ(r.state, "render_failed");
  EXPECT_EQ(r.last_error_code, "render_failed");
  EXPECT_EQ(r.last_error_path, "/spec/routes/auth/weights/nope");
  auto status = stack_.service().GetStatus(admin_);
  ASSERT_TRUE(status.ok());
  for (const auto& [state, count] : status->nodes_by_state) {
    EXPECT_EQ(count, state == "render_failed" ? 1 : 0) << state;
  }

  auto removed = stack_.service().DeleteLayer(admin_, "node:n-1", std::nullopt, false, true);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  auto notify = node->NextNotify();
  ASSERT_TRUE(notify);
  ASSERT_TRUE(node->Ack(*notify));
  ASSERT_TRUE(Eventually([&] { return StoredNode("n-1").state == "current"; }));
  EXPECT_EQ(StoredNode("n-1").last_error, "");
}

// Finding 3: drift is computed for a disconnected node (its assigned version
// follows its chain); a dead node can be forgotten (not while connected) and
// expires by itself; either way it leaves the totals and the profiles that
// constrain writes.
TEST_F(NodeFeedTest, OfflineNodesDriftAndAreForgottenOrExpired) {
  const std::int64_t v1 = Put("global", LayerDoc("global"));
  auto node = Node("n-1", kUsEast);
  node->Hello();
  auto notify = node->NextNotify();
  ASSERT_TRUE(notify);
  ASSERT_TRUE(node->Ack(*notify));
  ASSERT_TRUE(Eventually([&] { return StoredNode("n-1").state == "current"; }));
  EXPECT_TRUE(node->Close().ok());
  ASSERT_TRUE(Eventually([&] { return StoredNode("n-1").state == "offline"; }));
  EXPECT_FALSE(StoredNode("n-1").drift());

  const std::int64_t v2 =
      Put("global",
          LayerDoc("global", [](Json& spec) { spec["dispatcher"]["maxConcurrentRequests"] = 7; }));
  api::Node offline = StoredNode("n-1");
  EXPECT_EQ(offline.state, "offline");
  EXPECT_EQ(offline.applied_version, v1);
  EXPECT_EQ(offline.assigned_version, v2);
  EXPECT_TRUE(offline.drift());
  auto status = stack_.service().GetStatus(admin_);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->nodes_drifted, 1);

  // A connected node is not forgotten; a disconnected one is, at once.
  auto other = Node("n-2", kEuWest);
  other->Hello();
  ASSERT_TRUE(other->Next());
  ASSERT_TRUE(Eventually([&] {
    feed_->FlushStatusForTest();
    auto n2 = stack_.store().GetNode("n-2");  // not there until its hello is processed
    return n2.ok() && n2->connected;
  }));
  EXPECT_EQ(stack_.service().ForgetNode(admin_, "n-2").code(), StatusCode::kConflict);
  const Principal reader{"r", "r", {"config:read"}};
  EXPECT_EQ(stack_.service().ForgetNode(reader, "n-1").code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE(stack_.service().ForgetNode(admin_, "n-1").ok());
  EXPECT_EQ(stack_.service().GetNode(admin_, "n-1").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(stack_.service().ForgetNode(admin_, "n-1").code(), StatusCode::kNotFound);
  auto profiles = stack_.store().NodeProfiles();
  ASSERT_TRUE(profiles.ok());
  for (const auto& profile : *profiles) {
    EXPECT_NE(profile.scope_chain, kUsEast);  // n-1 no longer constrains writes
  }

  // Expiry: a node disconnected longer than the expiry (24 h by default)
  // goes at the next sweep; a connected one stays however old its last word.
  EXPECT_TRUE(other->Close().ok());
  ASSERT_TRUE(Eventually([&] { return !StoredNode("n-2").connected; }));
  NodeRecord old = *stack_.store().GetNode("n-2");
  old.last_seen_ms -= 25LL * 3600 * 1000;
  ASSERT_TRUE(stack_.store().UpsertNode(old).ok());
  ASSERT_TRUE(stack_.service().SweepNodes().ok());
  EXPECT_EQ(stack_.store().GetNode("n-2").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(CounterValue("omnirelay_cp_nodes_expired_total"), 1u);
  EXPECT_EQ(stack_.metrics().gauge("omnirelay_cp_nodes", "", "state=\"offline\"").value(), 0);
}

// Over gRPC, a second process of a node (another instance id) supersedes the
// first: the older stream gets Error{superseded} and ends ABORTED with an
// ErrorDetail naming superseded; the node's status shows it, counted once.
TEST_F(NodeFeedTest, NewerInstanceSupersedesTheOlderOverGrpc) {
  auto older = Node("n-1", kUsEast);
  older->set_instance_id("a1a1a1a1");
  older->Hello();
  ASSERT_TRUE(older->Next()->has_welcome());
  ASSERT_TRUE(Eventually([&] { return feed_->connected() == 1; }));

  FakeNode newer(face_->port(), older->token(), "n-1", kUsEast);
  newer.set_instance_id("b2b2b2b2");
  newer.Hello();
  ASSERT_TRUE(newer.Next()->has_welcome());
  std::optional<v1::ServerMessage> said;
  while ((said = older->Next()) && !said->has_error()) {
  }
  ASSERT_TRUE(said.has_value());
  EXPECT_EQ(said->error().code(), "superseded");
  EXPECT_NE(said->error().message().find("b2b2b2b2"), std::string::npos);
  const grpc::Status ended = older->WaitEnded();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::ABORTED);
  v1::ErrorDetail detail;
  ASSERT_TRUE(detail.ParseFromString(ended.error_details()));
  EXPECT_EQ(detail.code(), "superseded");
  EXPECT_EQ(detail.status(), "superseded");

  EXPECT_EQ(CounterValue("omnirelay_cp_node_superseded_total"), 1u);
  ASSERT_TRUE(Eventually([&] { return CounterValue("omnirelay_cp_node_hellos_total") == 2; }));
  EXPECT_EQ(feed_->connected(), 1u);
  const api::Node node = StoredNode("n-1");
  EXPECT_TRUE(node.connected);
  EXPECT_EQ(node.last_error.rfind("superseded: instance a1a1a1a1", 0), 0u) << node.last_error;
}

// Shutdown ends every node stream with UNAVAILABLE "shutting down".
TEST_F(NodeFeedTest, ShutdownClosesStreams) {
  auto a = Node("n-1", kUsEast);
  auto b = Node("n-2", kEuWest);
  a->Hello();
  b->Hello();
  ASSERT_TRUE(a->Next());
  ASSERT_TRUE(b->Next());
  // The welcome can precede the hub's registration of the hello; a hello still
  // queued at shutdown is refused, never recorded. Wait until both are in.
  ASSERT_TRUE(Eventually([&] { return feed_->connected() == 2; }));
  Shutdown();
  for (auto* n : {a.get(), b.get()}) {
    grpc::Status s = n->WaitEnded();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(s.error_message(), "shutting down");
  }
  auto record = stack_.store().GetNode("n-1");
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->connected);
}

}  // namespace
}  // namespace omnirelay::cp::testing
