// The MeshKit feed clients (omnirelay/meshkit/feed.h): GrpcFeedClient driven
// by a fake Discovery server through bootstrap, deltas, a gap, a reset, a
// malformed delta and a disconnect; FileSource through changes and a
// refused file.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "eventually.h"
#include "meshkit/v1/discovery.grpc.pb.h"
#include "omnirelay/meshkit/feed.h"
#include "test_pki.h"

namespace omnirelay::meshkit {
namespace {

namespace v1 = ::meshkit::v1;
using test_support::Eventually;

// A Discovery server whose streams send what the test queues: each message
// goes to the stream open when it is sent. Disconnect() ends the open stream
// with UNAVAILABLE.
class FakeMeshKit final : public v1::Discovery::Service {
 public:
  explicit FakeMeshKit(
      std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials()) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", credentials, &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeMeshKit() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::WatchResponse>* writer) override {
    std::unique_lock<std::mutex> lock(mu_);
    requests_.push_back(*request);
    cv_.notify_all();
    while (true) {
      cv_.wait_for(lock, std::chrono::milliseconds(20),
                   [&] { return !queue_.empty() || disconnect_ || closing_; });
      if (context->IsCancelled() || closing_) return grpc::Status::CANCELLED;
      if (disconnect_) {
        disconnect_ = false;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the test disconnected");
      }
      if (queue_.empty()) continue;
      v1::WatchResponse next = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      writer->Write(next);
      lock.lock();
    }
  }

  void Send(v1::WatchResponse message) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(message));
    cv_.notify_all();
  }
  void Disconnect() {
    std::lock_guard<std::mutex> lock(mu_);
    disconnect_ = true;
    cv_.notify_all();
  }
  // The n-th request (1-based), waiting for it.
  v1::WatchRequest Request(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(20), [&] { return requests_.size() >= n; }))
        << "no request " << n;
    return requests_.size() >= n ? requests_[n - 1] : v1::WatchRequest{};
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::WatchResponse> queue_;
  std::vector<v1::WatchRequest> requests_;
  bool disconnect_ = false;
  bool closing_ = false;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

v1::Endpoint Ep(const std::string& id, const std::string& cluster,
                v1::Health health = v1::HEALTH_HEALTHY) {
  v1::Endpoint e;
  e.set_member_id(id);
  e.set_address("10.1.0." + std::to_string(id.size()));
  e.set_port(9000);
  e.set_service("billing");
  e.set_cluster(cluster);
  e.set_cell("use1-a");
  e.set_region("us-east");
  e.set_health(health);
  return e;
}

v1::WatchResponse Snapshot(const std::string& feed, std::uint64_t generation,
                           std::vector<v1::Endpoint> endpoints) {
  v1::WatchResponse m;
  auto* s = m.mutable_snapshot();
  s->set_feed_id(feed);
  s->set_generation(generation);
  for (auto& e : endpoints) *s->add_endpoints() = std::move(e);
  return m;
}

v1::WatchResponse Delta(std::uint64_t base, std::uint64_t generation,
                        std::vector<std::string> removed, std::vector<v1::Endpoint> upserted = {}) {
  v1::WatchResponse m;
  auto* d = m.mutable_delta();
  d->set_base_generation(base);
  d->set_generation(generation);
  for (auto& r : removed) d->add_removed(r);
  for (auto& e : upserted) *d->add_upserted() = std::move(e);
  return m;
}

class GrpcFeedTest : public ::testing::Test {
 protected:
  std::unique_ptr<GrpcFeedClient> Start() {
    GrpcFeedOptions o;
    o.target = server_.target();
    o.client_id = "relay-1";
    o.selector.services = {"billing"};
    o.initial_backoff = std::chrono::milliseconds(20);
    o.max_backoff = std::chrono::milliseconds(100);
    o.on_change = [this](const std::shared_ptr<const EndpointSet>& set) {
      std::lock_guard<std::mutex> lock(mu_);
      told_.push_back(set->generation());
    };
    auto client = GrpcFeedClient::Start(o);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }
  static bool AtGeneration(const EndpointSource& feed, std::uint64_t generation) {
    return Eventually([&] { return feed.generation() == generation; });
  }
  std::vector<std::uint64_t> told() {
    std::lock_guard<std::mutex> lock(mu_);
    return told_;
  }

  FakeMeshKit server_;
  std::mutex mu_;
  std::vector<std::uint64_t> told_;
};

TEST_F(GrpcFeedTest, BootstrapsThenAppliesDeltas) {
  auto feed = Start();
  const v1::WatchRequest first = server_.Request(1);
  EXPECT_EQ(first.resume_generation(), 0u);  // nothing held: a bootstrap
  EXPECT_EQ(first.client_id(), "relay-1");
  ASSERT_EQ(first.selector().services_size(), 1);
  EXPECT_EQ(first.selector().services(0), "billing");

  server_.Send(Snapshot("f1", 1, {Ep("a", "v1"), Ep("b", "v1"), Ep("c", "v2")}));
  ASSERT_TRUE(AtGeneration(*feed, 1));
  server_.Send(Delta(1, 4, {"a"}, {Ep("d", "v2", v1::HEALTH_DRAINING)}));
  ASSERT_TRUE(AtGeneration(*feed, 4));
  const auto set = feed->Current();
  EXPECT_EQ(set->Find("billing", "v1")->endpoints.size(), 1u);
  EXPECT_EQ(set->Find("billing", "v2")->endpoints.size(), 2u);
  EXPECT_EQ(set->Find("billing", "v2")->routable, 1u);
  const FeedStats stats = feed->stats();
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.snapshots, 1u);
  EXPECT_EQ(stats.deltas, 1u);
  EXPECT_EQ(stats.feed_id, "f1");
  EXPECT_EQ(told(), (std::vector<std::uint64_t>{1, 4}));
}

TEST_F(GrpcFeedTest, GapEndsTheStreamAndWatchesAgainFromASnapshot) {
  auto feed = Start();
  server_.Request(1);
  server_.Send(Snapshot("f1", 3, {Ep("a", "v1")}));
  ASSERT_TRUE(AtGeneration(*feed, 3));
  server_.Send(Delta(5, 6, {"a"}));  // applies to 5; the client holds 3
  const v1::WatchRequest again = server_.Request(2);
  EXPECT_EQ(again.resume_generation(), 0u);  // a snapshot, not a resume
  EXPECT_EQ(feed->generation(), 3u);         // kept what it had meanwhile
  server_.Send(Snapshot("f1", 6, {}));
  ASSERT_TRUE(AtGeneration(*feed, 6));
  EXPECT_EQ(feed->stats().gaps, 1u);
  EXPECT_EQ(feed->Current()->size(), 0u);
}

TEST_F(GrpcFeedTest, DisconnectResumesFromTheGenerationHeld) {
  auto feed = Start();
  server_.Request(1);
  server_.Send(Snapshot("f1", 1, {Ep("a", "v1")}));
  server_.Send(Delta(1, 2, {}, {Ep("b", "v1")}));
  ASSERT_TRUE(AtGeneration(*feed, 2));
  server_.Disconnect();
  const v1::WatchRequest resumed = server_.Request(2);
  EXPECT_EQ(resumed.feed_id(), "f1");
  EXPECT_EQ(resumed.resume_generation(), 2u);
  server_.Send(Delta(2, 3, {"a"}));
  ASSERT_TRUE(AtGeneration(*feed, 3));
  EXPECT_EQ(feed->Current()->size(), 1u);
  const FeedStats stats = feed->stats();
  EXPECT_GE(stats.reconnects, 1u);
  EXPECT_EQ(stats.snapshots, 1u);
  EXPECT_EQ(stats.last_error.code(), StatusCode::kUnavailable);  // the disconnect, reported
}

TEST_F(GrpcFeedTest, NewFeedInstanceResetsEverything) {
  auto feed = Start();
  server_.Request(1);
  server_.Send(Snapshot("f1", 40, {Ep("a", "v1"), Ep("b", "v1")}));
  ASSERT_TRUE(AtGeneration(*feed, 40));
  server_.Disconnect();
  EXPECT_EQ(server_.Request(2).resume_generation(), 40u);
  // MeshKit restarted without its history: a new instance, numbering from 1.
  server_.Send(Snapshot("f2", 1, {Ep("c", "v3")}));
  ASSERT_TRUE(AtGeneration(*feed, 1));
  EXPECT_EQ(feed->Current()->feed_id(), "f2");
  EXPECT_EQ(feed->Current()->Find("billing", "v1"), nullptr);
  EXPECT_EQ(feed->stats().resets, 1u);
}

TEST_F(GrpcFeedTest, MalformedDeltaIsRefusedAndFollowedByASnapshot) {
  auto feed = Start();
  server_.Request(1);
  server_.Send(Snapshot("f1", 1, {Ep("a", "v1")}));
  ASSERT_TRUE(AtGeneration(*feed, 1));
  v1::Endpoint bad = Ep("b", "v1");
  bad.set_port(70000);
  server_.Send(Delta(1, 2, {}, {bad}));
  EXPECT_EQ(server_.Request(2).resume_generation(), 0u);
  EXPECT_EQ(feed->generation(), 1u);
  const FeedStats stats = feed->stats();
  EXPECT_EQ(stats.refused, 1u);
  EXPECT_NE(stats.last_error.message().find("port"), std::string::npos)
      << stats.last_error.ToString();
  // The snapshot the next stream gets replaces what was held.
  server_.Send(Snapshot("f1", 7, {Ep("b", "v1"), Ep("c", "v1")}));
  ASSERT_TRUE(AtGeneration(*feed, 7));
  EXPECT_EQ(feed->Current()->size(), 2u);
  EXPECT_EQ(feed->stats().snapshots, 2u);
}

TEST(GrpcFeedNoServerTest, KeepsTryingWithBackoffAndSaysWhy) {
  // A port nothing listens on: bind one, note it, close it.
  int port = 0;
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port = ntohs(addr.sin_port);
    ::close(fd);
  }
  GrpcFeedOptions o;
  o.target = "127.0.0.1:" + std::to_string(port);
  o.initial_backoff = std::chrono::milliseconds(10);
  o.max_backoff = std::chrono::milliseconds(40);
  auto feed = GrpcFeedClient::Start(o);
  ASSERT_TRUE(feed.ok());
  ASSERT_TRUE(Eventually([&] { return (*feed)->stats().reconnects >= 3; }));
  const FeedStats stats = (*feed)->stats();
  EXPECT_FALSE(stats.connected);
  EXPECT_EQ(stats.last_error.code(), StatusCode::kUnavailable);
  EXPECT_EQ((*feed)->Current(), nullptr);
  (*feed)->Stop();  // returns although no stream ever opened
  EXPECT_EQ(GrpcFeedClient::Start(GrpcFeedOptions{}).status().code(), StatusCode::kInvalidArgument);
}

// ---- TLS to the feed (GrpcFeedOptions::ca_file; controlplane --meshkit-ca)

TEST(GrpcFeedTlsTest, VerifiesTheFeedAgainstTheGivenCa) {
  cp::testing::Pki pki;
  ASSERT_TRUE(pki.ok());
  grpc::SslServerCredentialsOptions tls;
  tls.pem_key_cert_pairs.push_back({pki.pem("server.key"), pki.pem("server.crt")});
  FakeMeshKit server(grpc::SslServerCredentials(tls));

  GrpcFeedOptions o;
  o.target = server.target();
  o.ca_file = pki.path("ca.crt");
  o.initial_backoff = std::chrono::milliseconds(20);
  o.max_backoff = std::chrono::milliseconds(100);
  auto trusted = GrpcFeedClient::Start(o);
  ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  server.Request(1);
  server.Send(Snapshot("f1", 1, {Ep("a", "v1")}));
  ASSERT_TRUE(Eventually([&] { return (*trusted)->generation() == 1; }));
  (*trusted)->Stop();

  // A feed whose certificate another CA signed is never read from.
  o.ca_file = pki.path("rogue-ca.crt");
  auto rogue = GrpcFeedClient::Start(o);
  ASSERT_TRUE(rogue.ok()) << rogue.status().ToString();
  ASSERT_TRUE(Eventually([&] { return !(*rogue)->stats().last_error.ok(); }));
  EXPECT_FALSE((*rogue)->stats().connected);
  EXPECT_EQ((*rogue)->generation(), 0u);
  // A CA file that is not there: refused at start, naming it.
  o.ca_file = pki.path("missing.crt");
  const auto missing = GrpcFeedClient::Start(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing.crt"), std::string::npos)
      << missing.status().ToString();
}

// ---- FileSource

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/omnirelay-meshkit-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/endpoints.json";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& content) {
    const std::string tmp = path_ + ".tmp";
    std::ofstream(tmp) << content;
    std::filesystem::rename(tmp, path_);  // as an editor or a config agent does
  }
  static std::string One(const std::string& id, const std::string& extra = "") {
    return R"({"memberId":")" + id +
           R"(","address":"10.0.0.9","port":8443,"service":"billing","cluster":"billing-v1",)"
           R"("cell":"use1-a","region":"us-east","health":"healthy")" +
           extra + "}";
  }
  std::string dir_;
  std::string path_;
};

TEST_F(FileSourceTest, EveryChangeIsANewGeneration) {
  Write(R"({"endpoints":[)" + One("a") + "]}");
  std::vector<std::uint64_t> told;
  std::mutex mu;
  FileSourceOptions o;
  o.path = path_;
  o.poll_interval = std::chrono::milliseconds(10);
  o.on_change = [&](const std::shared_ptr<const EndpointSet>& set) {
    std::lock_guard<std::mutex> lock(mu);
    told.push_back(set->generation());
  };
  auto source = FileSource::Start(o);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_EQ((*source)->generation(), 1u);
  EXPECT_EQ((*source)->Current()->feed_id().rfind("file:" + path_ + "@", 0), 0u)
      << (*source)->Current()->feed_id();
  Write(R"({"endpoints":[)" + One("a") + "," + One("b", R"(,"weight":3,"zone":"b")") + "]}");
  ASSERT_TRUE(Eventually([&] { return (*source)->generation() == 2; }));
  const ClusterEndpoints* c = (*source)->Current()->Find("billing", "billing-v1");
  ASSERT_EQ(c->endpoints.size(), 2u);
  EXPECT_EQ(c->endpoints[1].weight, 3u);
  EXPECT_EQ(c->endpoints[1].zone, "b");
  EXPECT_EQ(c->endpoints[1].port, 8443);
  // The same content again is no new generation.
  ASSERT_TRUE((*source)->Reload().ok());
  EXPECT_EQ((*source)->generation(), 2u);
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(told, (std::vector<std::uint64_t>{1, 2}));
}

TEST_F(FileSourceTest, RefusedFileKeepsTheSetBeforeAndSaysWhere) {
  Write(R"({"endpoints":[)" + One("a") + "]}");
  FileSourceOptions o;
  o.path = path_;
  o.poll_interval = std::chrono::milliseconds(0);  // Reload by hand
  auto source = FileSource::Start(o);
  ASSERT_TRUE(source.ok());
  Write(R"({"endpoints":[)" + One("a") + "," + One("b", R"(,"port":0)") + "]}");
  Status s = (*source)->Reload();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("/endpoints/1/port"), std::string::npos) << s.ToString();
  EXPECT_EQ((*source)->generation(), 1u);
  Write(R"({"endpoints":[)" + One("a", R"(,"health":"up")") + "]}");
  s = (*source)->Reload();
  EXPECT_NE(s.message().find("/endpoints/0/health"), std::string::npos) << s.ToString();
  Write(R"({"endpoints":[)" + One("a") + "," + One("a") + "]}");
  s = (*source)->Reload();
  EXPECT_NE(s.message().find("appears twice"), std::string::npos) << s.ToString();
  Write("{not json");
  EXPECT_EQ((*source)->Reload().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*source)->stats().refused, 4u);
  EXPECT_EQ((*source)->Current()->size(), 1u);
  // Fixed: applied as the next generation.
  Write(R"({"endpoints":[]})");
  ASSERT_TRUE((*source)->Reload().ok());
  EXPECT_EQ((*source)->generation(), 2u);
}

// Bridges ride along: parsed, published with the set, refused with a pointer.
TEST_F(FileSourceTest, BridgesAreReadWithTheEndpoints) {
  Write(R"({"endpoints":[)" + One("a") +
        R"(],"bridges":[{"name":"use1-euw1","cells":["use1-a","euw1-a"],"state":"flapping",)"
        R"("detail":"3 flaps in 60s"}]})");
  FileSourceOptions o;
  o.path = path_;
  o.poll_interval = std::chrono::milliseconds(0);
  auto source = FileSource::Start(o);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  const auto set = (*source)->Current();
  ASSERT_EQ(set->bridges().size(), 1u);
  EXPECT_EQ(set->bridges()[0].state, BridgeState::kFlapping);
  EXPECT_EQ(set->bridges()[0].detail, "3 flaps in 60s");
  EXPECT_TRUE(set->bridges()[0].Joins("euw1-a", "use1-a"));
  EXPECT_FALSE(set->bridges()[0].up());
  Write(R"({"endpoints":[],"bridges":[{"name":"b","cells":["use1-a","use1-a"],"state":"up"}]})");
  Status s = (*source)->Reload();
  EXPECT_NE(s.message().find("/bridges/0"), std::string::npos) << s.ToString();
  Write(R"({"endpoints":[],"bridges":[{"name":"b","cells":["x","y"],"state":"sideways"}]})");
  s = (*source)->Reload();
  EXPECT_NE(s.message().find("/bridges/0/state"), std::string::npos) << s.ToString();
  EXPECT_EQ((*source)->Current()->bridges().size(), 1u);  // the set before stays
}

// Bridges over the gRPC feed: in the snapshot, then a delta's new record.
TEST_F(GrpcFeedTest, BridgesFromSnapshotAndDelta) {
  auto feed = Start();
  server_.Request(1);
  v1::WatchResponse snap = Snapshot("f1", 1, {Ep("a", "v1")});
  auto* b = snap.mutable_snapshot()->add_bridges();
  b->set_name("use1-euw1");
  b->add_cells("use1-a");
  b->add_cells("euw1-a");
  b->set_state(v1::BRIDGE_DOWN);
  server_.Send(snap);
  ASSERT_TRUE(AtGeneration(*feed, 1));
  EXPECT_EQ(feed->Current()->bridges().at(0).state, BridgeState::kDown);
  v1::WatchResponse up = Delta(1, 2, {});
  auto* changed = up.mutable_delta()->add_bridges();
  *changed = *b;
  changed->set_state(v1::BRIDGE_UP);
  server_.Send(up);
  ASSERT_TRUE(AtGeneration(*feed, 2));
  EXPECT_TRUE(feed->Current()->bridges().at(0).up());
  v1::WatchResponse gone = Delta(2, 3, {});
  gone.mutable_delta()->add_removed_bridges("use1-euw1");
  server_.Send(gone);
  ASSERT_TRUE(AtGeneration(*feed, 3));
  EXPECT_TRUE(feed->Current()->bridges().empty());
}

TEST_F(FileSourceTest, MissingOrBadFileAtStartIsAnError) {
  FileSourceOptions o;
  o.path = path_;
  EXPECT_EQ(FileSource::Start(o).status().code(), StatusCode::kIoError);
  Write(R"({"endpoints":[{"memberId":"a"}]})");
  const auto bad = FileSource::Start(o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("/endpoints/0"), std::string::npos)
      << bad.status().ToString();
}

}  // namespace
}  // namespace omnirelay::meshkit
