// Internal to the node feed's unit tests: fake connections, a fake
// assignment source, a synchronous bus and the fixture that builds a feed
// with no threads (manual_for_test) over a real SQLite store.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp::feed_testing {

inline constexpr const char* kUsEast = "global,region:us-east";
inline constexpr const char* kEuWest = "global,region:eu-west";

// Records what the feed does to one stream; a Notify stays "in flight" until
// the test reports it written.
class FakeConnection final : public FeedConnection {
 public:
  void Welcome(const WelcomeMsg& welcome) override { welcomes.push_back(welcome); }
  void Notify(std::shared_ptr<const Assignment> assignment) override {
    notifies.push_back(std::move(assignment));
    if (on_notify) on_notify(*notifies.back());
  }
  void Problem(const ProblemMsg& problem) override { problems.push_back(problem); }
  void Close(const Status& why) override {
    if (!closed) closed = why;
  }
  void ResumeReading() override { reading = true; }

  std::vector<std::int64_t> versions() const {
    std::vector<std::int64_t> out;
    for (const auto& a : notifies) out.push_back(a->version);
    return out;
  }

  std::vector<WelcomeMsg> welcomes;
  std::vector<std::shared_ptr<const Assignment>> notifies;
  std::vector<ProblemMsg> problems;
  std::optional<Status> closed;
  bool reading = false;
  // Runs inside Notify, as a node that answers before the feed's call returns.
  std::function<void(const Assignment&)> on_notify;
};

// Snapshots set by the test; counts how often each chain was asked for.
class FakeSource final : public AssignmentSource {
 public:
  Result<std::shared_ptr<const SnapshotRecord>> Newest(const std::vector<Scope>& chain) override {
    const std::string key = ScopeChainToString(chain);
    ++asked[key];
    if (unavailable.count(key) != 0) {
      return Status(StatusCode::kUnavailable, "the store is unreachable (test)");
    }
    if (broken.count(key) != 0) {
      return Status(StatusCode::kInvalidArgument, "the chain does not validate (test)");
    }
    auto it = newest.find(key);
    if (it == newest.end()) return Status(StatusCode::kNotFound, "nothing for " + key);
    return it->second;
  }
  std::shared_ptr<const SnapshotRecord> Assigned(
      const std::string& node_id, const std::vector<Scope>& chain,
      const std::shared_ptr<const SnapshotRecord>& chain_newest, bool reads_rollout) override {
    if (reads_rollout) {
      auto it = labelled.find(ScopeChainToString(chain));
      if (it != labelled.end()) return it->second;
    }
    ++assigned_calls;
    auto it = held.find(node_id);
    return it != held.end() ? it->second : chain_newest;
  }
  bool PinsChainPast(const std::vector<std::string>& /*chain_scopes*/,
                     std::int64_t since) override {
    return pinned_base > 0 && since > pinned_base;
  }

  void Set(const std::string& chain, std::int64_t version, std::int64_t expires_at_ms = 0) {
    newest[chain] = Snapshot(chain, version, expires_at_ms);
  }
  static std::shared_ptr<const SnapshotRecord> Snapshot(const std::string& chain,
                                                        std::int64_t version,
                                                        std::int64_t expires_at_ms = 0) {
    auto s = std::make_shared<SnapshotRecord>();
    s->version = version;
    s->hash =
        "sha256:" + chain + "@" + std::to_string(version) + "/" + std::to_string(expires_at_ms);
    s->envelope = "{}";
    s->scope_chain = chain;
    s->expires_at_ms = expires_at_ms;
    return s;
  }

  std::map<std::string, std::shared_ptr<const SnapshotRecord>> newest;
  std::map<std::string, std::shared_ptr<const SnapshotRecord>> held;  // node id -> snapshot
  // chain -> what the nodes that read rollout labels are assigned (first)
  std::map<std::string, std::shared_ptr<const SnapshotRecord>> labelled;
  std::map<std::string, int> asked;
  std::set<std::string> unavailable;  // chains whose Newest fails kUnavailable
  std::set<std::string> broken;       // chains whose Newest fails kInvalidArgument
  int assigned_calls = 0;
  // PinsChainPast: every chain pinned by a "rollout" on this base (0: none).
  std::int64_t pinned_base = 0;
};

// Delivers on the publishing thread, so a test sees the effect at once.
class SyncBus final : public Bus {
 public:
  Status Publish(const ChangeEvent& event) override {
    for (const auto& [id, handler] : handlers_) handler(event);
    return Status::Ok();
  }
  int Subscribe(Handler handler) override {
    handlers_[++next_] = std::move(handler);
    return next_;
  }
  void Unsubscribe(int id) override { handlers_.erase(id); }

 private:
  std::map<int, Handler> handlers_;
  int next_ = 0;
};

struct Stream {
  std::shared_ptr<FakeConnection> conn;
  std::shared_ptr<FeedSession> session;
};

class NodeFeedUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/omnirelay-feed-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    SqliteOptions o;
    o.path = dir_ + "/state.db";
    o.synchronous_full = false;
    store_ = std::move(OpenSqliteStore(o).value());
    auth_ = std::make_unique<Authenticator>(*store_, clock_);
    NodeFeedOptions options;
    options.http_endpoints = {"127.0.0.1:7080"};
    options.refresh_interval = std::chrono::seconds(60);
    options.token_sweep_interval = std::chrono::seconds(5);
    options.status_delay = std::chrono::milliseconds(250);
    options.manual_for_test = true;
    options.check_chain = [this](const std::vector<Scope>& chain, const std::string& id) {
      return chain_check_ ? chain_check_(chain, id) : Status::Ok();
    };
    Configure(options);
    feed_ = MakeNodeFeed(options, *auth_, source_, *store_, bus_, clock_, metrics_);
  }
  // A derived fixture's changes to the feed's options.
  virtual void Configure(NodeFeedOptions& /*options*/) {}

  void TearDown() override {
    feed_->Stop();
    feed_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::map<std::string, std::string> node_tokens_;  // name -> secret, for Hello

  IssuedToken Issue(const std::string& name, const std::vector<std::string>& scopes,
                    std::int64_t ttl_seconds = 0) {
    auto t = auth_->Issue(name, scopes, ttl_seconds, AuditEntry{});
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : IssuedToken{};
  }

  Stream Connect(const std::string& token) {
    Stream s;
    s.conn = std::make_shared<FakeConnection>();
    s.session = feed_->Connect(s.conn, token);
    return s;
  }

  // A stream of `node` (with its own node token) that said hello.
  Stream Hello(const std::string& node, const std::string& chain, std::int64_t current_version = 0,
               const std::string& current_hash = "") {
    // One live token per name: a node's later hellos reuse its token.
    std::string& secret = node_tokens_["node:" + node];
    if (secret.empty()) secret = Issue("node:" + node, {"node"}).secret;
    Stream s = Connect(secret);
    SayHello(s, node, chain, current_version, current_hash);
    return s;
  }

  void SayHello(const Stream& s, const std::string& node, const std::string& chain,
                std::int64_t current_version = 0, const std::string& current_hash = "",
                const std::string& instance_id = "",
                const std::vector<std::string>& features = {}) {
    HelloMsg hello;
    hello.node_id = node;
    hello.features = features;
    hello.scope_chain = SplitCommaList(chain);
    hello.api_version = "omnirelay.config/v1";
    hello.current_version = current_version;
    hello.current_hash = current_hash;
    hello.instance_id = instance_id;
    feed_->OnHello(s.session, hello);
  }

  // A stream of `node` from the process `instance_id` that said hello.
  Stream HelloFrom(const std::string& node, const std::string& instance_id) {
    std::string& secret = node_tokens_["node:" + node];  // one live token per name
    if (secret.empty()) secret = Issue("node:" + node, {"node"}).secret;
    Stream s = Connect(secret);
    SayHello(s, node, kUsEast, 0, "", instance_id);
    return s;
  }

  std::uint64_t Superseded() {
    return metrics_.counter("omnirelay_cp_node_superseded_total", "").value();
  }

  NodeRecord StoredNode(const std::string& id) {
    feed_->FlushStatusForTest();
    auto stored = store_->GetNode(id);
    EXPECT_TRUE(stored.ok()) << stored.status().ToString();
    return stored.ok() ? *stored : NodeRecord{};
  }

  // What a transport does when the feed closed its stream.
  void Ended(const Stream& s) { feed_->OnClosed(s.session); }

  // A commit of `revision` touching `scope`, heard on the bus and handled.
  void Commit(const std::string& scope, std::int64_t revision) {
    ChangeEvent event;
    event.revision = revision;
    event.scopes = {scope};
    ASSERT_TRUE(bus_.Publish(event).ok());
    feed_->RunDueForTest();
  }

  void Advance(std::chrono::milliseconds by) {
    clock_.AdvanceMs(by.count());
    feed_->RunDueForTest();
  }

  std::uint64_t RefusedReports(const std::string& kind) {
    return metrics_.counter("omnirelay_cp_node_reports_refused_total", "", "kind=\"" + kind + "\"")
        .value();
  }

  std::uint64_t StatusWrites() {
    return metrics_.counter("omnirelay_cp_node_status_writes_total", "").value();
  }

  std::string dir_;
  FakeClock clock_;
  MetricsRegistry metrics_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Authenticator> auth_;
  FakeSource source_;
  SyncBus bus_;
  std::unique_ptr<NodeFeed> feed_;
  std::function<Status(const std::vector<Scope>&, const std::string&)> chain_check_;
};

}  // namespace omnirelay::cp::feed_testing
