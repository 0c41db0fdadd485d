// omnirctl status, nodes, audit, token, rollout, and the global options
// (contexts, token files, exit codes) against a real control plane process.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>
#include <thread>

#include "cli_harness.h"
#include "eventually.h"
#include "fake_node.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class CliOpsTest : public CliServerTest {
 protected:
  // Issues a token through omnirctl; returns {id, secret}.
  std::pair<std::string, std::string> IssueToken(const std::string& scopes,
                                                 const std::string& name) {
    CliResult r = Admin({"token", "create", "--scopes", scopes, "--name", name, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const Json j = r.Json();
    if (!j.is_object()) return {};
    return {j["id"], j["token"]};
  }
};

// Polls another process: every 100 ms, not the shared default.
template <typename Pred>
bool Eventually(Pred done) {
  return test_support::Eventually(done, seconds(20), milliseconds(100));
}

// status: head revision, nodes, layers; no rollout active.
TEST_F(CliOpsTest, StatusSummarises) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult r = Admin({"status", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = r.Json();
  EXPECT_EQ(j["headRevision"], 1);
  EXPECT_EQ(j["nodes"]["total"], 0);
  EXPECT_EQ(j["rollouts"], Json::array());  // none active
  CliResult text = Admin({"status"});
  EXPECT_NE(text.out.find("head revision:  1"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("rollouts:       none active"), std::string::npos) << text.out;
}

// status is one audited read: the status carries the layers and the active
// rollouts (no layer.list or rollout.list beside it), text and -o json alike.
TEST_F(CliOpsTest, StatusIsAuditedOnce) {
  ASSERT_EQ(WriteGlobal(), 1);
  const std::string secret = TokenSecret("config:read", "status-reader");
  CliResult text = Anonymous({"--token", secret, "status"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("layers:         global r1\n"), std::string::npos) << text.out;
  CliResult json = Anonymous({"--token", secret, "status", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  ASSERT_EQ(json.Json()["layers"].size(), 1u) << json.out;
  EXPECT_EQ(json.Json()["layers"][0]["scope"], "global");
  EXPECT_EQ(json.Json()["layers"][0]["revision"], 1);
  EXPECT_EQ(AuditedActions("status-reader"), (std::vector<std::string>{"status", "status"}));
}

// nodes list shows a connected node; --drift keeps only drifted ones; a
// dry run names the node a shadowing config would be blocked by.
TEST_F(CliOpsTest, NodesDriftAndBlockedNodes) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult none = Admin({"nodes", "list"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "no nodes have said hello yet\n");

  auto [id, secret] = IssueToken("node", "node:n-1");
  ASSERT_FALSE(secret.empty());
  // Says hello without the "shadowing" feature and never ACKs, so it stays
  // drifted and would block shadowing configs.
  test_support::FakeNode node(daemon_->grpc_address(), secret, "n-1", "global", {});
  node.Hello();
  Json nodes;
  ASSERT_TRUE(Eventually([&] {
    nodes = Admin({"nodes", "list", "--drift", "-o", "json"}).Json();
    return nodes.is_object() && nodes["nodes"].size() == 1;
  })) << nodes.dump();
  EXPECT_EQ(nodes["nodes"][0]["nodeId"], "n-1");
  EXPECT_EQ(nodes["nodes"][0]["scopeChain"], "global");
  EXPECT_EQ(nodes["nodes"][0]["drift"], true);
  // Assigned moments ago and not ACKed yet: updating (drifted after the grace).
  EXPECT_EQ(nodes["nodes"][0]["state"], "updating");

  CliResult table = Admin({"nodes", "list"});
  EXPECT_EQ(table.out.rfind("NODE  STATE     SCOPE CHAIN  ASSIGNED", 0), 0u) << table.out;

  CliResult dry = Admin(
      {"shadow", "enable", "--service", "billing", "--percent", "20", "--dry-run", "-o", "json"});
  EXPECT_EQ(dry.exit_code, 3) << dry.err;  // the write would be refused
  ASSERT_EQ(dry.Json()["blockedNodes"].size(), 1u) << dry.out;
  EXPECT_EQ(dry.Json()["blockedNodes"][0]["nodeId"], "n-1");

  CliResult write = Admin({"shadow", "enable", "--service", "billing", "--percent", "20"});
  EXPECT_EQ(write.exit_code, 3);
  EXPECT_EQ(write.err.rfind("error: missing_feature: ", 0), 0u) << write.err;
}

// nodes forget: an offline node leaves the list (exit 0), a connected one
// is refused with conflict (exit 4), an unknown one is not_found (exit 1).
TEST_F(CliOpsTest, NodesForgetOfflineOnly) {
  ASSERT_EQ(WriteGlobal(), 1);
  auto [gone_id, gone_secret] = IssueToken("node", "node:gone-1");
  auto [live_id, live_secret] = IssueToken("node", "node:live-1");
  auto gone = std::make_unique<test_support::FakeNode>(daemon_->grpc_address(), gone_secret,
                                                       "gone-1", "global");
  gone->Hello();
  test_support::FakeNode live(daemon_->grpc_address(), live_secret, "live-1", "global");
  live.Hello();
  ASSERT_TRUE(Eventually([&] {
    return Admin({"status", "-o", "json"}).Json()["nodes"]["connected"] == 2;
  }));
  gone.reset();  // its stream ends: offline
  Json nodes;
  ASSERT_TRUE(Eventually([&] {
    nodes = Admin({"nodes", "list", "--state", "offline", "-o", "json"}).Json();
    return nodes.is_object() && nodes["nodes"].size() == 1;
  })) << nodes.dump();
  EXPECT_EQ(nodes["nodes"][0]["nodeId"], "gone-1");

  CliResult forgot = Admin({"nodes", "forget", "gone-1"});
  EXPECT_EQ(forgot.exit_code, 0) << forgot.err;
  EXPECT_EQ(forgot.out, "forgot node gone-1\n");
  nodes = Admin({"nodes", "list", "-o", "json"}).Json();
  ASSERT_EQ(nodes["nodes"].size(), 1u) << nodes.dump();
  EXPECT_EQ(nodes["nodes"][0]["nodeId"], "live-1");

  CliResult connected = Admin({"nodes", "forget", "live-1", "-o", "json"});
  EXPECT_EQ(connected.exit_code, 4) << connected.err;
  EXPECT_EQ(connected.ErrJson()["error"]["code"], "conflict") << connected.err;
  CliResult unknown = Admin({"nodes", "forget", "nobody-1", "-o", "json"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.err;
  EXPECT_EQ(unknown.ErrJson()["error"]["code"], "not_found") << unknown.err;
  EXPECT_EQ(Admin({"nodes", "list", "-o", "json"}).Json()["nodes"].size(), 1u);
}

// audit tail lists what happened, never a token secret.
TEST_F(CliOpsTest, AuditTailListsEntries) {
  ASSERT_EQ(WriteGlobal(), 1);
  auto [id, secret] = IssueToken("config:read", "reader");
  CliResult r = Admin({"audit", "tail", "--since", "5m", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool saw_put = false;
  const Json entries = r.Json()["entries"];
  for (const auto& e : entries) {
    if (e["action"] == "layer.put" && e["scope"] == "global" && e["revision"] == 1) saw_put = true;
  }
  EXPECT_TRUE(saw_put) << r.out;
  EXPECT_EQ(r.out.find(secret), std::string::npos);
  CliResult text = Admin({"audit", "tail"});
  EXPECT_EQ(text.out.rfind("TIME", 0), 0u);
  EXPECT_NE(text.out.find("layer.put"), std::string::npos);
  EXPECT_EQ(Admin({"audit", "tail", "--since", "soon"}).exit_code, 2);
}

// audit verify: exit 0 while the chain holds; an entry changed with an SQL
// client on the running daemon's store is the first break (exit 3).
TEST_F(CliOpsTest, AuditVerifyFindsAnEntryChangedByHand) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult ok = Admin({"audit", "verify"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.rfind("audit chain: intact, ", 0), 0u) << ok.out;
  const Json before = Admin({"audit", "verify", "-o", "json"}).Json();
  ASSERT_EQ(before["ok"], true) << before.dump();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/data/state.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  const std::string edit =
      "UPDATE audit SET outcome = 'ok', summary = 'nothing to see' WHERE id = "
      "(SELECT MIN(id) FROM audit WHERE action = 'layer.put')";
  ASSERT_EQ(sqlite3_exec(db, edit.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);

  CliResult broken = Admin({"audit", "verify"});
  EXPECT_EQ(broken.exit_code, 3) << broken.out << broken.err;
  EXPECT_NE(broken.out.find("audit chain: BROKEN"), std::string::npos) << broken.out;
  EXPECT_NE(broken.out.find("first break: entry "), std::string::npos) << broken.out;
  CliResult json = Admin({"audit", "verify", "-o", "json"});
  EXPECT_EQ(json.exit_code, 3);
  const Json report = json.Json();
  EXPECT_EQ(report["ok"], false) << report.dump();
  EXPECT_GT(report["firstBreak"].value("id", 0), 0) << report.dump();
  // Read-only tokens without audit:read are refused (exit 5).
  auto [id, secret] = IssueToken("config:read", "reader");
  WriteFile(Scratch("reader.token"), secret);
  EXPECT_EQ(Anonymous({"--token-file", Scratch("reader.token"), "audit", "verify"}).exit_code, 5);
}

// audit tail --scope/--principal/--action/--writes-only narrow the entries
// (in the server's query); --follow takes the same filters.
TEST_F(CliOpsTest, AuditTailFilters) {
  ASSERT_EQ(WriteGlobal(), 1);
  auto [id, secret] = IssueToken("config:read", "reader");
  ASSERT_EQ(Anonymous({"--token", secret, "config", "get", "--scope", "global"}).exit_code, 0);
  auto entries = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"audit", "tail", "--since", "5m", "-o", "json"});
    CliResult r = Admin(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.Json()["entries"];
  };
  const Json writes = entries({"--writes-only"});
  ASSERT_FALSE(writes.empty());
  for (const auto& e : writes) {
    EXPECT_TRUE(e["action"] == "layer.put" || e["action"] == "token.create") << e.dump();
  }
  const Json reads = entries({"--principal", "reader"});
  ASSERT_EQ(reads.size(), 1u) << reads.dump();
  EXPECT_EQ(reads[0]["action"], "layer.get");
  const Json puts = entries({"--scope", "global", "--action", "layer.put"});
  ASSERT_EQ(puts.size(), 1u) << puts.dump();
  EXPECT_EQ(puts[0]["revision"], 1);
  EXPECT_EQ(Admin({"audit", "tail", "--scope", "galaxy:x"}).exit_code, 2);

  CliProcess follow(
      {"--server", daemon_->grpc_address(), "--token-file", dir_ + "/data/admin.token", "audit",
       "tail", "--follow", "--writes-only", "-o", "json"},
      {});
  ASSERT_EQ(Anonymous({"--token", secret, "config", "list"}).exit_code, 0);  // a read: not shown
  ASSERT_EQ(WriteGlobal(), 2);
  EXPECT_TRUE(follow.WaitForLine("\"layer.put\"", seconds(20))) << follow.out();
  follow.Stop();
  EXPECT_EQ(follow.out().find("layer.list"), std::string::npos) << follow.out();
  EXPECT_EQ(follow.out().find("audit.query"), std::string::npos) << follow.out();
}

// audit tail --follow streams entries written after it started, and (finding
// 7) starts now: a write from before it is not replayed.
TEST_F(CliOpsTest, AuditFollowStreams) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliProcess follow({"--server", daemon_->grpc_address(), "--token-file",
                     dir_ + "/data/admin.token", "audit", "tail", "--follow", "-o", "json"},
                    {});
  // Its own query is audited, so its first line says it is following.
  ASSERT_TRUE(follow.WaitForLine("\"audit.query\"", seconds(20))) << follow.out();
  ASSERT_EQ(WriteGlobal(), 2);
  EXPECT_TRUE(follow.WaitForLine("\"layer.put\"", seconds(20))) << follow.out();
  follow.Stop();
  EXPECT_EQ(follow.out().find("\"revision\":1,"), std::string::npos) << follow.out();
  // One JSON object per line.
  const std::string first = follow.out().substr(0, follow.out().find('\n'));
  EXPECT_TRUE(Json::parse(first, nullptr, false).is_object()) << first;
}

// token create / list / revoke; a token's scopes are enforced (exit 5).
TEST_F(CliOpsTest, TokenLifecycle) {
  CliResult created =
      Admin({"token", "create", "--scopes", "config:read", "--name", "reader", "--ttl", "1h"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_NE(created.out.find("shown once"), std::string::npos);
  auto [id, secret] = IssueToken("config:read,audit:read", "ci");
  ASSERT_EQ(secret.rfind("omr_", 0), 0u);

  ASSERT_EQ(WriteGlobal(), 1);
  CliResult read = Anonymous({"--token", secret, "config", "get", "--scope", "global"});
  EXPECT_EQ(read.exit_code, 0) << read.err;
  CliResult write =
      Anonymous({"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json")},
                {{"OMNIRCTL_TOKEN", secret}});
  EXPECT_EQ(write.exit_code, 5);
  EXPECT_EQ(write.err.rfind("error: permission_denied: ", 0), 0u) << write.err;

  CliResult list = Admin({"token", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_EQ(list.Json()["tokens"].size(), 3u);  // admin, reader, ci
  EXPECT_EQ(list.out.find(secret), std::string::npos);

  EXPECT_EQ(Admin({"token", "revoke", id, "--dry-run"}).exit_code, 0);
  EXPECT_EQ(Anonymous({"--token", secret, "status"}).exit_code, 0);
  CliResult revoked = Admin({"token", "revoke", id});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(revoked.out, "token " + id + " (ci) revoked\n");
  // Revoking it again is a conflict, exit 4, dry run or not.
  CliResult again = Admin({"token", "revoke", id, "-o", "json"});
  EXPECT_EQ(again.exit_code, 4) << again.err;
  EXPECT_EQ(again.ErrJson()["error"]["code"], "conflict");
  EXPECT_EQ(Admin({"token", "revoke", "ci", "--dry-run"}).exit_code, 4);
  CliResult after = Anonymous({"--token", secret, "status", "-o", "json"});
  EXPECT_EQ(after.exit_code, 5);
  EXPECT_EQ(after.ErrJson()["error"]["code"], "unauthenticated");
  CliResult table = Admin({"token", "list"});
  EXPECT_NE(table.out.find("revoked"), std::string::npos) << table.out;
  // Only admins manage tokens.
  EXPECT_EQ(Anonymous({"--token", secret, "token", "list"}).exit_code, 5);
  EXPECT_EQ(Admin({"token", "create", "--scopes", "root"}).exit_code, 2);
}

// Token names: node:<id> only for a node token (invalid_name, exit 3), one
// live token per name (conflict, exit 4), revoke by name.
TEST_F(CliOpsTest, TokenNamesAndRevokeByName) {
  CliResult claims =
      Admin({"token", "create", "--scopes", "config:write", "--name", "node:edge-1", "-o", "json"});
  EXPECT_EQ(claims.exit_code, 3) << claims.err;
  EXPECT_EQ(claims.ErrJson()["error"]["code"], "invalid_name");
  EXPECT_EQ(claims.ErrJson()["error"]["details"]["errors"][0]["path"], "/name");
  EXPECT_EQ(Admin({"token", "create", "--scopes", "node", "--name", "edge-1"}).exit_code, 3);

  auto [id, secret] = IssueToken("config:read", "grafana");
  CliResult twice = Admin({"token", "create", "--scopes", "config:read", "--name", "grafana"});
  EXPECT_EQ(twice.exit_code, 4) << twice.err;
  EXPECT_NE(twice.err.find("already exists (id " + id + ")"), std::string::npos) << twice.err;

  CliResult dry = Admin({"token", "revoke", "grafana", "--dry-run", "-o", "json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.Json()["id"], id);
  EXPECT_EQ(dry.Json()["dryRun"], true);
  EXPECT_EQ(Anonymous({"--token", secret, "status"}).exit_code, 0);
  CliResult by_name = Admin({"token", "revoke", "grafana", "-o", "json"});
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  EXPECT_EQ(by_name.Json()["id"], id);
  EXPECT_EQ(by_name.Json()["revoked"], true);
  EXPECT_EQ(Anonymous({"--token", secret, "status"}).exit_code, 5);
  EXPECT_EQ(Admin({"token", "revoke", "grafana"}).exit_code, 4);
  EXPECT_EQ(Admin({"token", "revoke", "nobody"}).exit_code, 1);
  // The name is free again.
  EXPECT_EQ(Admin({"token", "create", "--scopes", "config:read", "--name", "grafana"}).exit_code,
            0);
}

// token create --secret-file writes the secret 0600 and does not print it.
TEST_F(CliOpsTest, TokenSecretFile) {
  CliResult r = Admin({"token", "create", "--scopes", "config:read", "--secret-file",
                       Scratch("reader.token"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string secret = ReadFile(Scratch("reader.token"));
  ASSERT_EQ(secret.rfind("omr_", 0), 0u);
  EXPECT_EQ(r.out.find(secret.substr(0, secret.size() - 1)), std::string::npos);
  EXPECT_EQ(Anonymous({"--token-file", Scratch("reader.token"), "status"}).exit_code, 0);
}

// No token, a bad token, an unreadable or loose token file.
TEST_F(CliOpsTest, TokenErrors) {
  CliResult none = Anonymous({"status"});
  EXPECT_EQ(none.exit_code, 5);
  EXPECT_EQ(none.err,
            "error: unauthenticated: a bearer token is required (pass --token-file FILE, or set "
            "OMNIRCTL_TOKEN or a context's tokenFile)\n");
  EXPECT_EQ(Anonymous({"--token", "omr_nope", "status"}).exit_code, 5);
  EXPECT_EQ(Anonymous({"--token-file", Scratch("missing"), "status"}).exit_code, 1);
  WriteFile(Scratch("loose.token"), ReadFile(dir_ + "/data/admin.token"), 0644);
  CliResult loose = Anonymous({"--token-file", Scratch("loose.token"), "status"});
  EXPECT_EQ(loose.exit_code, 0) << loose.err;
  EXPECT_NE(loose.err.find("warning: token file"), std::string::npos) << loose.err;
  EXPECT_EQ(Anonymous({"--token", "x", "--token-file", Scratch("loose.token"), "status"}).exit_code,
            2);
}

// The rollout commands' usage errors exit 2: the old shape's --wave is gone,
// an action names its rollout, a change set is needed. (The rollouts
// themselves: cli_rollout_test.cc.)
TEST_F(CliOpsTest, RolloutUsageErrors) {
  const std::vector<std::vector<std::string>> commands = {
      {"rollout", "start", "-f", Sample("layers/00-global.json"), "--wave", "canary:5"},
      {"rollout", "start"},
      {"rollout", "start", "-f", Sample("layers/00-global.json"), "--canary", "101"},
      {"rollout", "start", "-f", Sample("layers/00-global.json"), "--bake", "soon"},
      {"rollout", "status", "--interval", "0s"},
      {"rollout", "rollback"},
      {"rollout", "pause"},
      {"rollout", "resume"},
      {"rollout", "promote"},
      {"rollout", "abort"}};
  for (const auto& c : commands) {
    CliResult r = Admin(c);
    EXPECT_EQ(r.exit_code, 2) << c[1] << " " << r.err;
    std::vector<std::string> json = c;
    json.insert(json.end(), {"-o", "json"});
    EXPECT_EQ(Admin(json).ErrJson()["error"]["code"], "invalid_argument") << c[1];
  }
}

// Unreachable server: exit 6 with a clear message, as text or JSON; a tiny
// timeout is reported the same way.
TEST_F(CliOpsTest, UnreachableExits6) {
  CliResult r = RunCli({"--server", "127.0.0.1:1", "--token", "omr_x", "status"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(r.err.rfind("error: unavailable: cannot reach the control plane at 127.0.0.1:1", 0), 0u)
      << r.err;
  CliResult j = RunCli({"status", "-o", "json"}, {{"OMNIRCTL_SERVER", "127.0.0.1:1"}});
  EXPECT_EQ(j.exit_code, 6);
  EXPECT_EQ(j.ErrJson()["error"]["exitCode"], 6);
  CliResult slow = Admin({"--timeout", "1ms", "audit", "tail", "--since", "1d"});
  EXPECT_EQ(slow.exit_code, 6) << slow.err;
}

// Usage errors exit 2: bad scope, missing flag, bad duration, unknown command.
TEST_F(CliOpsTest, UsageErrorsExit2) {
  EXPECT_EQ(Admin({"config", "get", "--scope", "galaxy:far"}).exit_code, 2);
  EXPECT_EQ(Admin({"config", "get"}).exit_code, 2);
  EXPECT_EQ(Admin({"config", "effective", "--scope-chain", "region:a,global"}).exit_code, 2);
  EXPECT_EQ(Admin({"--timeout", "soon", "status"}).exit_code, 2);
  EXPECT_EQ(Admin({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Admin({"status", "-o", "yaml"}).exit_code, 2);
  EXPECT_EQ(Admin({"--cert", "c.pem", "status"}).exit_code, 2);  // --key missing
}

// Colour only on a terminal, and not with NO_COLOR; errors are coloured on a terminal too.
TEST_F(CliOpsTest, ColourOnlyOnATerminal) {
  const std::vector<std::string> args = {"--server",     daemon_->grpc_address(),
                                         "--token-file", dir_ + "/data/admin.token",
                                         "token",        "list"};
  CliResult tty = RunCliOnTty(args, {{"TERM", "xterm"}});
  EXPECT_EQ(tty.exit_code, 0) << tty.out;
  EXPECT_NE(tty.out.find("\033[1mID\033[0m"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("\033[32mactive\033[0m"), std::string::npos) << tty.out;
  CliResult no_colour = RunCliOnTty(args, {{"TERM", "xterm"}, {"NO_COLOR", "1"}});
  EXPECT_EQ(no_colour.out.find('\033'), std::string::npos) << no_colour.out;
  CliResult piped = RunCli(args);
  EXPECT_EQ(piped.out.find('\033'), std::string::npos) << piped.out;
  CliResult error = RunCliOnTty({"--server", "127.0.0.1:1", "status"}, {{"TERM", "xterm"}});
  EXPECT_EQ(error.exit_code, 6);
  EXPECT_EQ(error.out.rfind("\033[31merror\033[0m: unavailable: ", 0), 0u) << error.out;
}

// The contexts file picks server and token file; --context selects another.
TEST_F(CliOpsTest, ContextsFile) {
  const Json contexts = {
      {"currentContext", "local"},
      {"contexts",
       {{"local", {{"server", daemon_->grpc_address()}, {"tokenFile", "admin.token"}}},
        {"dead", {{"server", "127.0.0.1:1"}, {"timeout", "2s"}}}}}};
  WriteFile(Scratch("admin.token"), ReadFile(dir_ + "/data/admin.token"));
  WriteFile(Scratch("config"), contexts.dump());
  const Env env = {{"OMNIRCTL_CONFIG", Scratch("config")}};
  CliResult r = RunCli({"status", "-o", "json"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RunCli({"--context", "dead", "status"}, env).exit_code, 6);
  EXPECT_EQ(RunCli({"--context", "nope", "status"}, env).exit_code, 2);
  // Finding 7: validate is offline whatever context is set (a CI script
  // behaves the same everywhere); --remote asks the server (unreachable here).
  EXPECT_EQ(
      RunCli({"--context", "dead", "config", "validate", "-f", Sample("layers/00-global.json")},
             env)
          .exit_code,
      0);
  EXPECT_EQ(RunCli({"--context", "dead", "config", "validate", "--remote", "-f",
                    Sample("layers/00-global.json")},
                   env)
                .exit_code,
            6);
  // A flag beats the context; a malformed file is a usage error.
  EXPECT_EQ(RunCli({"--server", "127.0.0.1:1", "status"}, env).exit_code, 6);
  WriteFile(Scratch("bad"), "{\"contexts\": 1, \"currentContext\": \"x\"}");
  EXPECT_EQ(RunCli({"status"}, {{"OMNIRCTL_CONFIG", Scratch("bad")}}).exit_code, 2);
}

// --advertise-http may list several endpoints: a node's Welcome carries each
// of them, in order (they were once announced as one "a,b" string).
TEST_F(CliOpsTest, AdvertisedHttpListReachesTheWelcome) {
  cp::testing::DaemonProcess daemon(Scratch("advertise"));
  ASSERT_TRUE(daemon.StartWithArgs({"--advertise-http", "cp-a:7080,cp-b:7080"}, /*tls=*/false));
  test_support::FakeNode node(daemon.grpc_address(), daemon.admin_token(), "n-1", "global", {});
  node.Hello();
  auto first = node.Next();
  ASSERT_TRUE(first && first->has_welcome()) << (first ? first->DebugString() : "no message");
  ASSERT_EQ(first->welcome().http_endpoints_size(), 2);
  EXPECT_EQ(first->welcome().http_endpoints(0), "cp-a:7080");
  EXPECT_EQ(first->welcome().http_endpoints(1), "cp-b:7080");
}

}  // namespace
}  // namespace omnirelay::cli::testing
