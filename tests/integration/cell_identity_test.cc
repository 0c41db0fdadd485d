// One cell, one identity (issue 12 item 4; cell_identity.h): two daemons of
// one cell on one store — a shared SQLite file and a Postgres database (the
// `postgres` ctest fixture's server, a fresh database per test) — sign with
// the one provisioned key and serve the same snapshot bytes; a replica with
// another key is refused; only the first start on an empty store makes an
// admin token; a relay trusting the first replica's keys verifies what the
// second serves, also after failing over to it.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/daemon.h"
#include "omnirelay/controlplane/store.h"
#include "postgres_test_server.h"
#include "relay_fleet.h"
#include "snapshot_fixtures.h"

namespace omnirelay::relay::testing {
namespace {

namespace fs = std::filesystem;

enum class Backend { kSharedSqlite, kPostgres };

void PrintTo(Backend backend, std::ostream* os) {
  *os << (backend == Backend::kPostgres ? "Postgres" : "SharedSqlite");
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kPostgres ? "Postgres" : "SharedSqlite";
}

class CellIdentityTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      const std::string server = cp::pg_test::FixtureServerUrl();
      ASSERT_FALSE(server.empty());
      store_url_ =
          cp::pg_test::EnsureDatabase(server, cp::pg_test::DatabaseFor(shared_.path().string()));
    } else {
      store_url_ = "sqlite://" + (shared_.path() / "state.db").string();
    }
    a_.Configure([this](cp::DaemonOptions& o) { o.store_url = store_url_; });
  }
  void TearDown() override {
    a_.Stop();
    b_.Stop();
    cp::pg_test::DropCreatedDatabases();
  }

  // Daemon options of a replica on the cell's store with data dir `dir`.
  cp::DaemonOptions ReplicaOptions(const fs::path& dir) const {
    cp::DaemonOptions o;
    o.data_dir = dir.string();
    o.grpc_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    o.sqlite_synchronous_full = false;
    o.store_url = store_url_;
    return o;
  }

  // Gives `replica` the first replica's signing-key.pem and trusted-keys.json.
  void CopyKeyFiles(const ControlPlane& to) const {
    for (const char* name : {"signing-key.pem", "trusted-keys.json"}) {
      fs::copy_file(fs::path(a_.data_dir()) / name, fs::path(to.data_dir()) / name,
                    fs::copy_options::overwrite_existing);
    }
  }

  std::string KeyIdOf(const ControlPlane& cp) const {
    auto key = SigningKey::LoadPem(cp.data_dir() + "/signing-key.pem");
    EXPECT_TRUE(key.ok()) << key.status().ToString();
    return key.ok() ? key->key_id() : "";
  }

  static int Get(const ControlPlane& cp, const std::string& path, const std::string& token) {
    httplib::Client client("127.0.0.1", cp.http_port());
    auto res = client.Get(path, {{"Authorization", "Bearer " + token}});
    return res ? res->status : -1;
  }

  TempDir shared_;  // the shared SQLite file, or names the Postgres database
  std::string store_url_;
  ControlPlane a_;  // the cell's first replica
  ControlPlane b_;  // another replica
  MetricsRegistry metrics_;
  TempDir lkg_dir_;
};

// A replica started with a key of its own (a fresh data dir) is refused,
// naming the cell's key id, its own and what to copy; it leaves its data dir
// as it found it. Given the first replica's key files it starts, writes no
// admin token, and takes the first replica's.
TEST_P(CellIdentityTest, ReplicaWithAnotherKeyIsRefusedUntilProvisioned) {
  a_.Start();
  const std::string cell_key = KeyIdOf(a_);
  auto refused = cp::Daemon::Start(ReplicaOptions(b_.data_dir()));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kConflict);
  const std::string& why = refused.status().message();
  EXPECT_NE(why.find("the cell signs with key " + cell_key), std::string::npos) << why;
  EXPECT_NE(why.find("this replica signs with key "), std::string::npos) << why;
  EXPECT_NE(why.find("copy signing-key.pem and trusted-keys.json"), std::string::npos) << why;
  EXPECT_FALSE(fs::exists(fs::path(b_.data_dir()) / "signing-key.pem"));
  EXPECT_FALSE(fs::exists(fs::path(b_.data_dir()) / "admin.token"));

  CopyKeyFiles(b_);
  b_.Configure([this](cp::DaemonOptions& o) { o.store_url = store_url_; });
  b_.Start();
  EXPECT_FALSE(fs::exists(fs::path(b_.data_dir()) / "admin.token"));
  EXPECT_EQ(Get(b_, "/v1/status", a_.admin_token()), 200);
}

// --signing-key: a replica given the cell's key file joins (its data dir
// gets no key of its own, its trusted-keys.json lists the cell's key); one
// given another key is refused naming both ids; a missing file is a usage
// error.
TEST_P(CellIdentityTest, SigningKeyFlagProvisionsTheCellsKey) {
  a_.Start();
  const std::string cell_key = KeyIdOf(a_);
  relay::testing::TestSigner other;  // another Ed25519 key
  const fs::path other_pem = shared_.path() / "other.pem";
  ASSERT_TRUE(other.key().SavePem(other_pem.string()).ok());
  cp::DaemonOptions o = ReplicaOptions(b_.data_dir());
  o.signing_key_file = other_pem.string();
  auto refused = cp::Daemon::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kConflict);
  EXPECT_NE(refused.status().message().find("this replica signs with key " + other.key().key_id() +
                                            " (" + other_pem.string()),
            std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find(cell_key), std::string::npos);

  o.signing_key_file = (shared_.path() / "missing.pem").string();
  auto missing = cp::Daemon::Start(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);

  const std::string a_key = a_.data_dir() + "/signing-key.pem";
  b_.Configure([&](cp::DaemonOptions& opts) {
    opts.store_url = store_url_;
    opts.signing_key_file = a_key;
  });
  b_.Start();
  EXPECT_FALSE(fs::exists(fs::path(b_.data_dir()) / "signing-key.pem"));
  EXPECT_NE(b_.TrustedKeys().Find(cell_key), nullptr);
}

// Two replicas starting at once on an empty store, provisioned one key,
// make one admin token between them: one admin.token file, one token in the
// store.
TEST_P(CellIdentityTest, ReplicasStartingTogetherMakeOneAdminToken) {
  relay::testing::TestSigner cell;
  const fs::path pem = shared_.path() / "cell.pem";
  ASSERT_TRUE(cell.key().SavePem(pem.string()).ok());
  cp::DaemonOptions for_a = ReplicaOptions(a_.data_dir());
  cp::DaemonOptions for_b = ReplicaOptions(b_.data_dir());
  for_a.signing_key_file = for_b.signing_key_file = pem.string();
  {
    // Made (empty) first: two processes creating one SQLite file at once
    // race on setting WAL mode, which this test is not about.
    auto created = cp::OpenStore(store_url_);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  Result<std::unique_ptr<cp::Daemon>> first = Status(StatusCode::kInternal, "not run");
  std::thread t([&] { first = cp::Daemon::Start(for_a); });
  Result<std::unique_ptr<cp::Daemon>> second = cp::Daemon::Start(for_b);
  t.join();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  const int files = static_cast<int>(fs::exists(fs::path(a_.data_dir()) / "admin.token")) +
                    static_cast<int>(fs::exists(fs::path(b_.data_dir()) / "admin.token"));
  EXPECT_EQ(files, 1);
  (*first)->Shutdown();
  (*second)->Shutdown();
  auto store = cp::OpenStore(store_url_);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto tokens = (*store)->ListTokens();
  ASSERT_TRUE(tokens.ok()) << tokens.status().ToString();
  EXPECT_EQ(tokens->size(), 1u);
}

// A first start that fails after it recorded the cell's key and made the
// admin token in the store (here: its gRPC port is taken) keeps the key and
// admin.token that match them, so starting again works — with that token.
TEST_P(CellIdentityTest, FailedFirstStartKeepsWhatTheStoreRecorded) {
  b_.Start();  // a daemon of its own (its own SQLite store), holding a port
  TempDir dir;
  const fs::path data = dir.path() / "data";
  cp::DaemonOptions o = ReplicaOptions(data);
  o.grpc_listen = b_.grpc_endpoint();
  auto failed = cp::Daemon::Start(o);
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(fs::exists(data / "signing-key.pem"));
  EXPECT_TRUE(fs::exists(data / "trusted-keys.json"));
  ASSERT_TRUE(fs::exists(data / "admin.token"));
  o.grpc_listen = "127.0.0.1:0";
  auto started = cp::Daemon::Start(o);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::string token;
  std::getline(std::ifstream(data / "admin.token"), token);
  httplib::Client client("127.0.0.1", (*started)->http_port());
  auto res = client.Get("/v1/status", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  (*started)->Shutdown();
}

// A data dir without admin.token on a store that holds tokens gets none at
// start; --issue-admin-token issues one (admin-<unix time>) that works, and
// is refused while admin.token exists.
TEST_P(CellIdentityTest, LostAdminTokenIsIssuedAgainOnlyWhenAsked) {
  const fs::path data = a_.data_dir();
  cp::DaemonOptions o = ReplicaOptions(data);
  {
    auto first = cp::Daemon::Start(o);
    ASSERT_TRUE(first.ok()) << first.status().ToString();
  }
  ASSERT_TRUE(fs::remove(data / "admin.token"));
  {
    auto again = cp::Daemon::Start(o);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_FALSE(fs::exists(data / "admin.token"));
  }
  o.issue_admin_token = true;
  auto recovered = cp::Daemon::Start(o);
  ASSERT_TRUE(recovered.ok()) << recovered.status().ToString();
  std::string token;
  std::getline(std::ifstream(data / "admin.token"), token);
  httplib::Client client("127.0.0.1", (*recovered)->http_port());
  auto res = client.Get("/v1/tokens", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_NE(res->body.find("\"admin-"), std::string::npos) << res->body;
  (*recovered)->Shutdown();
  auto refused = cp::Daemon::Start(o);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("admin.token exists"), std::string::npos)
      << refused.status().message();
}

// A write on A; both replicas answer the same envelope for the chain, the
// second without rendering; a relay that trusts A's key set and reads only
// from B verifies it; a relay on A fails over to B when A stops and applies
// what B signs (no unknown_key).
TEST_P(CellIdentityTest, RelaysVerifyWhatEitherReplicaServes) {
  a_.Start();
  CopyKeyFiles(b_);
  b_.Configure([this](cp::DaemonOptions& o) { o.store_url = store_url_; });
  b_.Start();
  b_.UseAdminToken(a_.admin_token());
  const std::int64_t v1 = a_.PutLayer("global");
  ASSERT_GT(v1, 0);
  const std::string from_a = a_.SnapshotEnvelope("probe");
  ASSERT_FALSE(from_a.empty());
  EXPECT_EQ(b_.SnapshotEnvelope("probe"), from_a);
  EXPECT_EQ(b_.Metric("omnirelay_cp_snapshot_renders_total"), 0);

  const TrustedKeySet keys_from_a = a_.TrustedKeys();
  RelayConfig on_b;
  on_b.grpc_endpoints = {b_.grpc_endpoint()};
  on_b.http_endpoints = {b_.http_endpoint()};
  Relay reads_b("relay-b", a_.NodeToken("relay-b"), lkg_dir_.path().string(), keys_from_a, metrics_,
                on_b);
  reads_b.StartWatcher();
  RelayConfig a_then_b;
  a_then_b.grpc_endpoints = {a_.grpc_endpoint(), b_.grpc_endpoint()};
  a_then_b.http_endpoints = {a_.http_endpoint(), b_.http_endpoint()};
  Relay fails_over("relay-ab", a_.NodeToken("relay-ab"), lkg_dir_.path().string(), keys_from_a,
                   metrics_, a_then_b);
  fails_over.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return reads_b.version() == v1 && fails_over.version() == v1; }))
      << reads_b.host().health().last_error.ToString() << " / "
      << fails_over.host().health().last_error.ToString();
  EXPECT_EQ(reads_b.host().Current()->hash(), fails_over.host().Current()->hash());

  a_.Stop();
  const std::int64_t v2 =
      b_.PutLayer("global", [](Json& s) { s["dispatcher"]["maxConcurrentRequests"] = 4000; });
  ASSERT_GT(v2, v1);
  EXPECT_TRUE(Eventually([&] { return fails_over.version() == v2 && reads_b.version() == v2; },
                         std::chrono::seconds(30)))
      << fails_over.host().health().last_error.ToString();
  EXPECT_TRUE(fails_over.host().health().last_error.ok())
      << fails_over.host().health().last_error.ToString();
  EXPECT_TRUE(reads_b.host().health().last_error.ok())
      << reads_b.host().health().last_error.ToString();
}

INSTANTIATE_TEST_SUITE_P(Stores, CellIdentityTest,
                         ::testing::Values(Backend::kSharedSqlite, Backend::kPostgres),
                         BackendName);

}  // namespace
}  // namespace omnirelay::relay::testing
