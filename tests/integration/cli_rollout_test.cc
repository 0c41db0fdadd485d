// omnirctl rollout start|status|promote|rollback against a real control plane
// process with FakeNodes on its node feed: the canary wave first, the same
// JSON as REST, operator actions, the overlap refusal and the exit codes.
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>

#include "cli_harness.h"
#include "eventually.h"
#include "fake_node.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kNodes = 8;

class CliRolloutTest : public CliServerTest {
 protected:
  void SetUp() override {
    CliServerTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(WriteGlobal(), 1);
    for (int i = 0; i < kNodes; ++i) {
      nodes_.push_back(std::make_unique<test_support::FakeNode>(
          daemon_->grpc_address(), daemon_->admin_token(), "n-" + std::to_string(i), "global"));
      nodes_.back()->Hello();
      auto first = nodes_.back()->NextNotify();
      ASSERT_TRUE(first) << "node " << i << " got no snapshot";
      ASSERT_TRUE(nodes_.back()->Ack(*first));
    }
    Json changed = Json::parse(ReadFile(Sample("layers/00-global.json")));
    changed["spec"]["routes"]["billing"]["weights"] = {{"billing-v1", 50}, {"billing-v2", 50}};
    changed_ = Scratch("changed.json");
    WriteFile(changed_, changed.dump());
  }

  void TearDown() override {
    nodes_.clear();
    CliServerTest::TearDown();
  }

  // GET /v1/rollouts/{id} as admin, parsed.
  Json Rest(const std::string& path) {
    httplib::Client http("127.0.0.1", daemon_->http_port());
    http.set_read_timeout(30, 0);
    auto res = http.Get(path, {{"Authorization", "Bearer " + daemon_->admin_token()}});
    return res ? Json::parse(res->body, nullptr, false) : Json();
  }

  // omnirctl's -o json and REST's object for the same path agree. A driver
  // tick between the two reads may record a gate evaluation (updatedAt), so
  // a differing pair is read again; a real difference persists.
  void ExpectSameAsRest(const std::vector<std::string>& cli, const std::string& path) {
    Json ours;
    Json theirs;
    for (int attempt = 0; attempt < 10; ++attempt) {
      CliResult r = Admin(cli);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      ours = r.Json();
      theirs = Rest(path);
      if (ours == theirs) return;
    }
    EXPECT_EQ(ours, theirs);
  }

  std::string changed_;
  std::vector<std::unique_ptr<test_support::FakeNode>> nodes_;
};

// start shows the canary wave; status -o json is REST's object; promote moves
// on; rollback ends rolled_back; a second start exits 4; an unknown id exits 1.
TEST_F(CliRolloutTest, StartStatusPromoteRollback) {
  CliResult start = Admin({"rollout", "start", "-f", changed_, "--canary", "25", "--bake", "1h",
                           "--reason", "billing 50/50", "-o", "json"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  const Json started = start.Json();
  const std::string id = started.value("id", "");
  ASSERT_EQ(id.rfind("ro-", 0), 0u) << start.out;
  EXPECT_EQ(started["state"], "running");
  EXPECT_EQ(started["version"], 2);
  EXPECT_EQ(started["policy"]["canaryPercent"], 25);
  EXPECT_EQ(started["policy"]["bakeMs"], 3600000);
  ASSERT_EQ(started["waves"].size(), 2u) << start.out;
  EXPECT_EQ(started["waves"][0]["kind"], "canary");
  EXPECT_EQ(started["waves"][0]["state"], "baking");
  const int canary = started["waves"][0]["nodes"];
  EXPECT_GE(canary, 1);
  EXPECT_LT(canary, kNodes);
  EXPECT_EQ(started["waves"][0]["assignedNew"], canary);

  // The same object through REST and omnirctl -o json.
  ExpectSameAsRest({"rollout", "status", id, "-o", "json"}, "/v1/rollouts/" + id);
  ExpectSameAsRest({"rollout", "status", "-o", "json"}, "/v1/rollouts");

  // For people: the waves and the gate.
  CliResult table = Admin({"rollout", "status", id});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("rollout " + id + ": running, v2 (from v1) of global"),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("canary"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("baking"), std::string::npos) << table.out;

  // A second rollout on the held chain: exit 4, rollout_in_progress naming the holder.
  CliResult second = Admin({"rollout", "start", "-f", changed_});
  EXPECT_EQ(second.exit_code, 4) << second.err;
  EXPECT_NE(second.err.find("rollout_in_progress"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find(id), std::string::npos) << second.err;

  CliResult promote = Admin({"rollout", "promote", id, "--reason", "looks good", "-o", "json"});
  ASSERT_EQ(promote.exit_code, 0) << promote.err;
  EXPECT_EQ(promote.Json()["currentWave"], 1);
  EXPECT_EQ(promote.Json()["waves"][1]["assignedNew"], kNodes - canary);

  CliResult rollback = Admin({"rollout", "rollback", id, "--reason", "drill"});
  ASSERT_EQ(rollback.exit_code, 0) << rollback.err;
  EXPECT_NE(rollback.out.find("rolled_back"), std::string::npos) << rollback.out;
  Json done;
  ASSERT_TRUE(test_support::Eventually(
      [&] {
        done = Admin({"rollout", "status", id, "-o", "json"}).Json();
        return done.value("state", "") == "rolled_back";
      },
      seconds(20), milliseconds(200)))
      << done.dump();
  EXPECT_EQ(done["rollbackReason"], "operator");
  EXPECT_GT(done.value("rollbackVersion", 0), 2);

  // --watch of a finished rollout prints it once and exits 1 (it did not succeed).
  CliResult watch = Admin({"rollout", "status", id, "--watch", "-o", "json"});
  EXPECT_EQ(watch.exit_code, 1) << watch.err;
  EXPECT_EQ(watch.Json(), done);

  // Acting on a finished rollout is a conflict; an unknown id is not_found.
  CliResult again = Admin({"rollout", "rollback", id});
  EXPECT_EQ(again.exit_code, 4) << again.err;
  CliResult unknown = Admin({"rollout", "status", "ro-0000000000"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  EXPECT_NE(unknown.err.find("not_found"), std::string::npos) << unknown.err;
}

// The flags override the policy file; a dry run commits nothing.
TEST_F(CliRolloutTest, FlagsOverrideThePolicyFileInADryRun) {
  WriteFile(Scratch("policy.json"), R"({"canaryPercent": 50, "bakeMs": 1000, "minAckRatio": 0.9})");
  CliResult r = Admin({"rollout", "start", "-f", changed_, "--policy", Scratch("policy.json"),
                       "--canary", "10", "--bake", "90s", "--manual", "--dry-run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = r.Json();
  EXPECT_EQ(j["dryRun"], true);
  EXPECT_EQ(j["policy"]["canaryPercent"], 10);
  EXPECT_EQ(j["policy"]["bakeMs"], 90000);
  EXPECT_EQ(j["policy"]["promotion"], "manual");
  EXPECT_EQ(j["policy"]["minAckRatio"], 0.9);
  CliResult list = Admin({"rollout", "status", "-o", "json"});
  EXPECT_EQ(list.Json(), Json({{"rollouts", Json::array()}}));
  CliResult text = Admin({"rollout", "status"});
  EXPECT_EQ(text.out, "no rollouts\n");
}

// Usage errors exit 2; a bad policy exits 3 with its pointer; read tokens may not start.
TEST_F(CliRolloutTest, RefusalsAndExitCodes) {
  EXPECT_EQ(Admin({"rollout", "start"}).exit_code, 2);
  EXPECT_EQ(Admin({"rollout", "promote"}).exit_code, 2);  // the id is required
  EXPECT_EQ(Admin({"rollout", "start", "-f", changed_, "--wave", "global"}).exit_code, 2);
  CliResult bad = Admin({"rollout", "start", "-f", changed_, "--policy", changed_});
  EXPECT_EQ(bad.exit_code, 3) << bad.err;
  EXPECT_NE(bad.err.find("unknown_field"), std::string::npos) << bad.err;

  CliResult token = Admin({"token", "create", "--name", "viewer", "--scopes", "config:read",
                           "--secret-file", Scratch("viewer.token")});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  CliResult denied =
      Anonymous({"--token-file", Scratch("viewer.token"), "rollout", "start", "-f", changed_});
  EXPECT_EQ(denied.exit_code, 5) << denied.err;
  EXPECT_NE(denied.err.find("permission_denied"), std::string::npos) << denied.err;
}

// config set --rollout stages the write as `rollout start -f FILE` does;
// while it holds the chain a plain set or delete exits 4 naming --force, and
// --force writes anyway; --rollout flags need --rollout and exclude --force.
TEST_F(CliRolloutTest, ConfigSetRolloutAndForce) {
  EXPECT_EQ(
      Admin({"config", "set", "--scope", "global", "-f", changed_, "--canary", "5"}).exit_code, 2);
  EXPECT_EQ(Admin({"config", "set", "--scope", "global", "-f", changed_, "--rollout", "--force"})
                .exit_code,
            2);
  CliResult wrong = Admin(
      {"config", "set", "--scope", "region:eu-west", "-f", changed_, "--rollout", "--dry-run"});
  EXPECT_EQ(wrong.exit_code, 3) << wrong.err;
  EXPECT_NE(wrong.err.find("invalid_scope"), std::string::npos) << wrong.err;

  CliResult dry = Admin({"config", "set", "--scope", "global", "-f", changed_, "--rollout",
                         "--canary", "25", "--dry-run", "-o", "json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.Json()["dryRun"], true);
  EXPECT_EQ(dry.Json()["policy"]["canaryPercent"], 25);

  CliResult start = Admin({"config", "set", "--scope", "global", "-f", changed_, "--rollout",
                           "--canary", "25", "--bake", "1h", "--manual", "--reason", "via set"});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  // What `rollout start` prints: the rollout and its waves.
  EXPECT_NE(start.out.find(": running, v2 (from v1) of global"), std::string::npos) << start.out;
  EXPECT_NE(start.out.find("canary"), std::string::npos) << start.out;
  const Json list = Admin({"rollout", "status", "-o", "json"}).Json();
  ASSERT_EQ(list["rollouts"].size(), 1u) << list.dump();
  const Json rollout = list["rollouts"][0];
  EXPECT_EQ(rollout["reason"], "via set");
  EXPECT_EQ(rollout["policy"]["promotion"], "manual");
  EXPECT_EQ(rollout["policy"]["bakeMs"], 3600000);
  const std::string id = rollout.value("id", "");

  Json other = Json::parse(ReadFile(changed_));
  other["spec"]["dispatcher"]["maxConcurrentRequests"] = 11;
  WriteFile(Scratch("other.json"), other.dump());
  CliResult held = Admin({"config", "set", "--scope", "global", "-f", Scratch("other.json")});
  EXPECT_EQ(held.exit_code, 4) << held.err;
  EXPECT_NE(held.err.find("rollout_in_progress"), std::string::npos) << held.err;
  EXPECT_NE(held.err.find("--force"), std::string::npos) << held.err;
  EXPECT_EQ(Admin({"config", "delete", "--scope", "global", "--dry-run"}).exit_code, 4);

  CliResult forced = Admin(
      {"config", "set", "--scope", "global", "-f", Scratch("other.json"), "--force", "-o", "json"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(forced.Json()["revision"], 3);
  // A forced delete passes the hold (its dry run answers for the rest).
  CliResult del =
      Admin({"config", "delete", "--scope", "global", "--dry-run", "--force", "-o", "json"});
  EXPECT_NE(del.exit_code, 4) << del.err;
  EXPECT_EQ(del.err.find("rollout_in_progress"), std::string::npos) << del.err;
  EXPECT_EQ(del.Json()["dryRun"], true) << del.out;
  const Json audit = Rest("/v1/audit?since=1h");
  int forced_entries = 0;
  for (const Json& e : audit.value("entries", Json::array())) {
    forced_entries += e.value("action", "") == "layer.put" &&
                      e.value("summary", "").find("forced past rollout " + id) != std::string::npos;
  }
  EXPECT_EQ(forced_entries, 1) << audit.dump();
}

// A change over the daemon's --max-change-entries (200 by default) exits 3
// with change_too_large, in a dry run too, for config set and rollout start;
// --allow-large-change passes.
TEST_F(CliRolloutTest, LargeChangesNeedAllowLargeChange) {
  Json big = Json::parse(ReadFile(changed_));
  for (int i = 0; i < 250; ++i) {
    big["spec"]["clusters"]["bulk-" + std::to_string(i)] = {{"service", "bulk"}};
  }
  const std::string file = Scratch("big.json");
  WriteFile(file, big.dump());
  CliResult set = Admin({"config", "set", "--scope", "global", "-f", file});
  EXPECT_EQ(set.exit_code, 3) << set.err;
  EXPECT_NE(set.err.find("change_too_large"), std::string::npos) << set.err;
  EXPECT_NE(set.err.find("limit of 200"), std::string::npos) << set.err;
  EXPECT_NE(set.err.find("--allow-large-change"), std::string::npos) << set.err;

  CliResult dry =
      Admin({"config", "set", "--scope", "global", "-f", file, "--dry-run", "-o", "json"});
  EXPECT_EQ(dry.exit_code, 3) << dry.err;
  EXPECT_EQ(dry.Json()["errors"][0]["code"], "change_too_large") << dry.out;
  EXPECT_EQ(dry.Json()["errors"][0]["path"], "/spec") << dry.out;

  CliResult rollout = Admin({"rollout", "start", "-f", file, "--dry-run"});
  EXPECT_EQ(rollout.exit_code, 3) << rollout.err;
  EXPECT_NE(rollout.err.find("change_too_large"), std::string::npos) << rollout.err;
  EXPECT_EQ(Admin({"rollout", "start", "-f", file, "--dry-run", "--allow-large-change"}).exit_code,
            0);

  CliResult allowed = Admin(
      {"config", "set", "--scope", "global", "-f", file, "--allow-large-change", "-o", "json"});
  ASSERT_EQ(allowed.exit_code, 0) << allowed.err;
  EXPECT_EQ(allowed.Json()["revision"], 2);
}

// A node that lacks a feature the change needs: the dry run names it (table
// and JSON, exit 3); the start is refused missing_feature (exit 3).
TEST_F(CliRolloutTest, DryRunNamesTheNodesThatWouldRefuse) {
  auto old =
      std::make_unique<test_support::FakeNode>(daemon_->grpc_address(), daemon_->admin_token(),
                                               "old-0", "global", std::vector<std::string>{});
  old->Hello();
  Json dry;
  ASSERT_TRUE(test_support::Eventually(
      [&] {
        dry = Admin({"rollout", "start", "-f", changed_, "--dry-run", "-o", "json"}).Json();
        return dry.contains("blockedNodes");
      },
      seconds(20), milliseconds(200)))
      << dry.dump();
  ASSERT_EQ(dry["blockedNodes"].size(), 1u) << dry.dump();
  EXPECT_EQ(dry["blockedNodes"][0]["nodeId"], "old-0");
  EXPECT_EQ(dry["blockedNodes"][0]["missing"], Json::array({"shadowing"}));

  CliResult table = Admin({"rollout", "start", "-f", changed_, "--dry-run"});
  EXPECT_EQ(table.exit_code, 3) << table.err;
  EXPECT_NE(table.out.find("1 node(s) would refuse it"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("old-0"), std::string::npos) << table.out;

  CliResult start = Admin({"rollout", "start", "-f", changed_});
  EXPECT_EQ(start.exit_code, 3) << start.err;
  EXPECT_NE(start.err.find("missing_feature"), std::string::npos) << start.err;
  EXPECT_NE(start.err.find("old-0"), std::string::npos) << start.err;
}

}  // namespace
}  // namespace omnirelay::cli::testing
