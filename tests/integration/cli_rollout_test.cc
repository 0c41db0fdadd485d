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

}  // namespace
}  // namespace omnirelay::cli::testing
