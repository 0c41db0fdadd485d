// Operating the store (issue 12 item 10) with the real controlplane binary:
// a backup taken while a writer keeps writing restores into a fresh daemon
// with layers, history, tokens, the cell's key and rollouts; restore
// refuses a data dir that is not empty and a damaged backup (exit 2 and 3);
// with small retention limits the audit table of a daemon that audits
// every read stays bounded and its chain verifies.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "eventually.h"
#include "fake_node.h"
#include "omnirelay/config/signing.h"

namespace omnirelay::cp::testing {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Outcome {
  int status = -1;
  std::string out;  // stdout and stderr together
};

// Runs `controlplane <args>` to completion.
Outcome Controlplane(const std::string& args) {
  Outcome run;
  FILE* pipe = ::popen((std::string(OMNI_CONTROLPLANE_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) run.out.append(buffer, n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string Layer(const std::string& scope, int max_concurrent) {
  return Json{{"apiVersion", "omnirelay.config/v1"},
              {"kind", "ConfigLayer"},
              {"metadata", {{"scope", scope}, {"author", "ops"}}},
              {"spec", {{"dispatcher", {{"maxConcurrentRequests", max_concurrent}}}}}}
      .dump();
}

class StoreOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("omni-storeops-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Path(const std::string& name) const { return (root_ / name).string(); }

  fs::path root_;
};

struct Api {
  explicit Api(const DaemonProcess& d, std::string token)
      : http("127.0.0.1", d.http_port()), auth{{"Authorization", "Bearer " + std::move(token)}} {
    http.set_read_timeout(20, 0);
  }
  Json Get(const std::string& path, int want = 200) {
    auto res = http.Get(path, auth);
    EXPECT_TRUE(res && res->status == want) << path << ": " << (res ? res->body : "no answer");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  }
  httplib::Result Put(const std::string& path, const std::string& body) {
    return http.Put(path, auth, body, "application/json");
  }
  Json Post(const std::string& path, const Json& body, int want) {
    auto res = http.Post(path, auth, body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == want) << path << ": " << (res ? res->body : "no answer");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  }
  httplib::Client http;
  httplib::Headers auth;
};

// A backup taken while a writer keeps writing is one committed state, and a
// fresh daemon on its restore has everything back: layers and their
// history, an issued token, the cell's key (its snapshots verify with the
// old trusted keys) and an unfinished rollout.
TEST_F(StoreOpsTest, BackupWhileWritingRestoresIntoAFreshDaemon) {
  DaemonProcess a(Path("a"));
  ASSERT_TRUE(a.Start());
  Api api(a, a.admin_token());
  const std::string global = ReadFile(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json");
  auto put = api.Put("/v1/layers/global", global);
  ASSERT_TRUE(put && put->status == 200) << (put ? put->body : "no answer");
  for (int i = 1; i <= 3; ++i) {
    auto r = api.Put("/v1/layers/region:us-east", Layer("region:us-east", 100 * i));
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  }
  test_support::FakeNode node(a.grpc_address(), a.admin_token(), "n-0", "global");
  node.Hello();
  auto notify = node.NextNotify();
  ASSERT_TRUE(notify);
  ASSERT_TRUE(node.Ack(*notify));
  const Json token = api.Post("/v1/tokens", {{"name", "ci"}, {"scopes", {"config:read"}}}, 201);
  ASSERT_TRUE(token.contains("token")) << token.dump();
  // A rollout on the us-east chains that stays running (a long bake).
  const Json rollout = api.Post(
      "/v1/rollouts",
      {{"layers", Json::array({Json::parse(Layer("region:us-east", 999))})},
       {"policy", {{"canaryPercent", 50}, {"bakeMs", 3'600'000}, {"slo", {{"minRequests", 0}}}}},
       {"reason", "held open"}},
      201);
  const std::string rollout_id = rollout.value("id", "");
  ASSERT_FALSE(rollout_id.empty()) << rollout.dump();

  // The writer: eu-west layers, one revision each, remembered by revision.
  std::mutex mu;
  std::map<std::int64_t, int> written;  // revision -> maxConcurrentRequests
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread writer([&] {
    Api w(a, a.admin_token());
    for (int n = 1; !stop.load(); ++n) {
      auto r = w.Put("/v1/layers/region:eu-west", Layer("region:eu-west", n));
      if (!r || r->status != 200) {
        failures.fetch_add(1);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu);
      written[Json::parse(r->body)["revision"].get<std::int64_t>()] = n;
    }
  });
  EXPECT_TRUE(test_support::Eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return written.size() >= 5;
  }));
  const Outcome backup =
      Controlplane("backup --data-dir " + Path("a") + " --to " + Path("b") + " -o json");
  std::size_t during = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    during = written.size();
  }
  EXPECT_TRUE(test_support::Eventually([&] {  // the writer goes on after the backup
    std::lock_guard<std::mutex> lock(mu);
    return written.size() >= during + 5;
  }));
  stop.store(true);
  writer.join();
  ASSERT_EQ(backup.status, 0) << backup.out;
  EXPECT_EQ(failures.load(), 0);
  const Json manifest = Json::parse(ReadFile(Path("b") + "/manifest.json"));
  EXPECT_EQ(Json::parse(backup.out), manifest);
  const std::int64_t head = manifest["headRevision"];
  EXPECT_EQ(fs::status(Path("b")).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(Path("b") + "/signing-key.pem").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  const Json global_history = api.Get("/v1/layers/global/history");
  const Json us_east_history = api.Get("/v1/layers/region:us-east/history");
  const Json rollout_then = api.Get("/v1/rollouts/" + rollout_id);
  const Json keys_then = api.Get("/v1/keys");
  const std::string admin = a.admin_token();
  EXPECT_EQ(a.Stop(), 0);

  const Outcome restore = Controlplane("restore --from " + Path("b") + " --data-dir " + Path("c"));
  ASSERT_EQ(restore.status, 0) << restore.out;
  DaemonProcess c(Path("c"));
  c.set_admin_token(admin);  // the store's tokens came back; no admin.token is written
  ASSERT_TRUE(c.Start());
  Api restored(c, admin);
  EXPECT_EQ(restored.Get("/v1/status")["headRevision"], head);
  // The eu-west layer as the writer wrote it at the newest revision <= head.
  const Json eu = restored.Get("/v1/layers/region:eu-west");
  const std::int64_t eu_revision = eu["revision"];
  {
    std::lock_guard<std::mutex> lock(mu);
    auto at = written.upper_bound(head);
    ASSERT_NE(at, written.begin());
    --at;
    EXPECT_EQ(at->first, eu_revision);
    EXPECT_EQ(eu["document"]["spec"]["dispatcher"]["maxConcurrentRequests"], at->second)
        << eu.dump();
  }
  EXPECT_EQ(restored.Get("/v1/layers/global/history"), global_history);
  EXPECT_EQ(restored.Get("/v1/layers/region:us-east/history"), us_east_history);
  const Json rollout_now = restored.Get("/v1/rollouts/" + rollout_id);
  EXPECT_EQ(rollout_now["version"], rollout_then["version"]);
  EXPECT_EQ(rollout_now["scopes"], rollout_then["scopes"]);
  EXPECT_EQ(restored.Get("/v1/keys"), keys_then);
  Api ci(c, token["token"].get<std::string>());
  ci.Get("/v1/layers");
  // The node's snapshot is signed with the cell's key: the trusted keys the
  // nodes already hold verify it.
  auto pulled = restored.http.Get("/v1/nodes/n-0/snapshot?chain=global", restored.auth);
  ASSERT_TRUE(pulled && pulled->status == 200) << (pulled ? pulled->body : "no answer");
  auto trusted = TrustedKeySet::Load(Path("a") + "/trusted-keys.json");
  ASSERT_TRUE(trusted.ok());
  auto verified = VerifyEnvelope(pulled->body, *trusted, kSnapshotPayloadType);
  EXPECT_TRUE(verified.ok()) << verified.status().ToString();
}

// Restore never overwrites, and refuses a backup that is damaged or does not
// match itself, with exit 3 and a line saying so.
TEST_F(StoreOpsTest, RestoreRefusesANonEmptyTargetAndADamagedBackup) {
  {
    DaemonProcess a(Path("a"));
    ASSERT_TRUE(a.Start());
    Api api(a, a.admin_token());
    for (int i = 1; i <= 20; ++i) {
      auto r = api.Put("/v1/layers/global", Layer("global", i));
      ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    }
    ASSERT_EQ(Controlplane("backup --data-dir " + Path("a") + " --to " + Path("b")).status, 0);
    const Outcome again = Controlplane("backup --data-dir " + Path("a") + " --to " + Path("b"));
    EXPECT_EQ(again.status, 2) << again.out;
    EXPECT_NE(again.out.find("is not empty"), std::string::npos) << again.out;
  }
  fs::create_directories(Path("full"));
  std::ofstream(Path("full") + "/state.db") << "something";
  const Outcome taken = Controlplane("restore --from " + Path("b") + " --data-dir " + Path("full"));
  EXPECT_EQ(taken.status, 2) << taken.out;
  EXPECT_NE(taken.out.find("already holds state.db"), std::string::npos) << taken.out;
  EXPECT_EQ(ReadFile(Path("full") + "/state.db"), "something");

  // One byte changed in the database: the manifest's SHA-256 catches it.
  const std::string state = Path("b") + "/state.db";
  std::string bytes = ReadFile(state);
  const std::string original = bytes;
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  std::ofstream(state, std::ios::binary | std::ios::trunc) << bytes;
  const Outcome damaged = Controlplane("restore --from " + Path("b") + " --data-dir " + Path("c"));
  EXPECT_EQ(damaged.status, 3) << damaged.out;
  EXPECT_NE(damaged.out.find("the backup is damaged"), std::string::npos) << damaged.out;
  EXPECT_FALSE(fs::exists(Path("c") + "/state.db"));

  // The database whole again but another key beside it: refused too.
  std::ofstream(state, std::ios::binary | std::ios::trunc) << original;
  auto other = SigningKey::Generate();
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other->SavePem(Path("b") + "/signing-key.pem").ok());
  const Outcome wrong_key =
      Controlplane("restore --from " + Path("b") + " --data-dir " + Path("c"));
  EXPECT_EQ(wrong_key.status, 3) << wrong_key.out;
  EXPECT_NE(wrong_key.out.find("records the cell's key"), std::string::npos) << wrong_key.out;
  EXPECT_FALSE(fs::exists(Path("c") + "/state.db"));
}

// The audit table's row count, or -1 when it could not be read (the daemon
// may hold the write lock): callers must treat -1 as "not known", never as small.
std::int64_t AuditRows(const std::string& db_path) {
  sqlite3* db = nullptr;
  std::int64_t rows = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM audit", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      rows = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return rows;
}

// A daemon that audits every read, with small limits: the audit table stays
// near its limit however many reads come, and the chain still verifies.
TEST_F(StoreOpsTest, AuditStaysBoundedWhileReadsAreAudited) {
  DaemonProcess a(Path("a"));
  ASSERT_TRUE(a.StartWithArgs({"--audit-max-entries=100", "--retention-interval=200ms"}, false));
  Api api(a, a.admin_token());
  std::int64_t most = 0;
  // Reads for 3 s, as fast as one client goes (thousands a second here).
  std::int64_t reads = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < until) {
    api.Get("/v1/layers");
    if (++reads % 100 == 0) most = std::max(most, AuditRows(Path("a") + "/state.db"));
  }
  // A pass runs every 200 ms: between two passes the table grows by the
  // reads of those 200 ms, never by all of them.
  EXPECT_LT(most, reads / 4) << "the audit table grew with the " << reads << " reads";
  std::printf("%lld audited reads; the audit table held at most %lld entries\n",
              static_cast<long long>(reads), static_cast<long long>(most));
  ASSERT_TRUE(test_support::Eventually([&] {
    const std::int64_t rows = AuditRows(Path("a") + "/state.db");
    return rows >= 0 && rows <= 101;
  })) << "the audit table never came down to its limit";
  const Json report = api.Get("/v1/audit/verify");
  EXPECT_EQ(report["ok"], true) << report.dump();
  EXPECT_GT(report["prunedThrough"]["id"].get<std::int64_t>(), reads - 200) << report.dump();
  auto metrics = api.http.Get("/metrics", api.auth);
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("omnirelay_cp_audit_pruned_total"), std::string::npos);
}

}  // namespace
}  // namespace omnirelay::cp::testing
