// omnirctl config ... and shadow ... against a real control plane process.
#include <gtest/gtest.h>

#include "cli_harness.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;

class CliConfigTest : public CliServerTest {};

// config set writes a layer; config get returns it, as JSON and as a plain document.
TEST_F(CliConfigTest, SetThenGetRoundTrips) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult get = Admin({"config", "get", "--scope", "global", "-o", "json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  const Json j = get.Json();
  EXPECT_EQ(j["scope"], "global");
  EXPECT_EQ(j["revision"], 1);
  EXPECT_EQ(j["document"]["metadata"]["scope"], "global");
  EXPECT_FALSE(j["updatedAt"].get<std::string>().empty());

  CliResult plain = Admin({"config", "get", "--scope", "global"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.Json(), j["document"]);  // the table form is the document alone
}

// -f - reads the document from stdin.
TEST_F(CliConfigTest, SetReadsStdin) {
  CliResult r =
      RunCli({"--server", daemon_->grpc_address(), "--token-file", dir_ + "/data/admin.token",
              "config", "set", "--scope", "global", "-f", "-", "-o", "json"},
             {}, ReadFile(Sample("layers/00-global.json")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["revision"], 1);
}

// set --dry-run reports validation, the change and blocking nodes, and writes nothing.
TEST_F(CliConfigTest, SetDryRunWritesNothing) {
  CliResult r = Admin({"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json"),
                       "--dry-run", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = r.Json();
  EXPECT_EQ(j["dryRun"], true);
  EXPECT_FALSE(j.contains("revision")) << r.out;  // none: nothing was written
  EXPECT_EQ(j["valid"], true);
  EXPECT_NE(j["diff"].get<std::string>().find("clusters +6"), std::string::npos);
  EXPECT_TRUE(j["blockedNodes"].empty());

  CliResult text = Admin(
      {"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json"), "--dry-run"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("dry run: nothing written to global"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("blocked nodes:   none"), std::string::npos) << text.out;

  CliResult list = Admin({"config", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_TRUE(list.Json()["layers"].empty());
}

// An invalid document is refused with exit 3, the diagnostic code and its JSON pointer.
TEST_F(CliConfigTest, SetInvalidDocumentExits3WithPointers) {
  CliResult r =
      Admin({"config", "set", "--scope", "global", "-f", Sample("broken/weights_sum.json")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.rfind("error: weights_sum: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("\n  /spec/routes/"), std::string::npos) << r.err;

  CliResult j = Admin({"config", "set", "--scope", "global", "-f",
                       Sample("broken/weights_sum.json"), "-o", "json"});
  EXPECT_EQ(j.exit_code, 3);
  const Json e = j.ErrJson();
  ASSERT_TRUE(e.is_object()) << j.err;
  EXPECT_EQ(e["error"]["code"], "weights_sum");
  EXPECT_EQ(e["error"]["status"], "invalid");
  EXPECT_EQ(e["error"]["details"]["errors"][0]["path"].get<std::string>().rfind("/spec/routes/", 0),
            0u);
  EXPECT_TRUE(j.out.empty());
}

// A write naming a stale revision is a CAS conflict: exit 4.
TEST_F(CliConfigTest, StaleExpectRevisionExits4) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult r = Admin({"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json"),
                       "--expect-revision", "0", "-o", "json"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.ErrJson()["error"]["code"], "conflict") << r.err;

  CliResult ok = Admin({"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json"),
                        "--expect-revision", "1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("written as revision 2"), std::string::npos) << ok.out;
}

// config diff lists changes by JSON pointer and the server's summary, writing nothing.
TEST_F(CliConfigTest, DiffShowsChangesByPointer) {
  ASSERT_EQ(WriteGlobal(), 1);
  Json doc = Json::parse(ReadFile(Sample("layers/00-global.json")));
  doc["spec"]["routes"]["billing"]["weights"] = {{"billing-v1", 80}, {"billing-v2", 20}};
  WriteFile(Scratch("g.json"), doc.dump());

  CliResult r =
      Admin({"config", "diff", "--scope", "global", "-f", Scratch("g.json"), "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = r.Json();
  EXPECT_EQ(j["currentRevision"], 1);
  ASSERT_EQ(j["changes"].size(), 2u) << j.dump();
  EXPECT_EQ(j["changes"][0]["op"], "change");
  EXPECT_EQ(j["changes"][0]["path"], "/spec/routes/billing/weights/billing-v1");
  EXPECT_EQ(j["changes"][0]["before"], 90);
  EXPECT_EQ(j["changes"][0]["after"], 80);
  EXPECT_EQ(j["diff"], "routes +0 -0 ~1 (~billing)");

  CliResult text = Admin({"config", "diff", "--scope", "global", "-f", Scratch("g.json")});
  EXPECT_NE(text.out.find("~ /spec/routes/billing/weights/billing-v1: 90 -> 80"), std::string::npos)
      << text.out;
  EXPECT_EQ(
      Admin({"config", "history", "--scope", "global", "-o", "json"}).Json()["revisions"].size(),
      1u);
}

// config diff is one audited request: the dry run answers the layer it
// would replace, so there is no layer.get beside it (text and -o json, a
// scope with a layer and one without).
TEST_F(CliConfigTest, DiffIsAuditedOnce) {
  ASSERT_EQ(WriteGlobal(), 1);
  const std::string secret = TokenSecret("config:write", "differ");
  Json doc = Json::parse(ReadFile(Sample("layers/00-global.json")));
  doc["spec"]["dispatcher"]["maxConcurrentRequests"] = 999;
  WriteFile(Scratch("g.json"), doc.dump());

  CliResult text = Anonymous(
      {"--token", secret, "config", "diff", "--scope", "global", "-f", Scratch("g.json")});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out.rfind("--- global (revision 1)\n", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("~ /spec/dispatcher/maxConcurrentRequests: 1000 -> 999"),
            std::string::npos)
      << text.out;
  CliResult json = Anonymous({"--token", secret, "config", "diff", "--scope", "global", "-f",
                              Scratch("g.json"), "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(json.Json()["currentRevision"], 1);
  EXPECT_EQ(json.Json()["currentDocument"]["spec"]["dispatcher"]["maxConcurrentRequests"], 1000);
  ASSERT_EQ(json.Json()["changes"].size(), 1u) << json.out;

  const std::string region = Sample("layers/10-region-eu-west.json");
  CliResult fresh =
      Anonymous({"--token", secret, "config", "diff", "--scope", "region:eu-west", "-f", region});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(fresh.out.rfind("--- region:eu-west (no layer yet)\n", 0), 0u) << fresh.out;
  EXPECT_NE(fresh.out.find("\n+ /spec: "), std::string::npos) << fresh.out;

  EXPECT_EQ(AuditedActions("differ"), std::vector<std::string>(3, "layer.put.dry_run"));
}

// history lists revisions newest first; get --revision reads an old one.
TEST_F(CliConfigTest, HistoryAndGetAtRevision) {
  ASSERT_EQ(WriteGlobal(), 1);
  ASSERT_EQ(WriteGlobal(), 2);
  CliResult h = Admin({"config", "history", "--scope", "global", "-o", "json"});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const Json revs = h.Json()["revisions"];
  ASSERT_EQ(revs.size(), 2u);
  EXPECT_EQ(revs[0]["revision"], 2);
  EXPECT_EQ(revs[1]["revision"], 1);
  EXPECT_EQ(revs[0]["author"], "admin");

  CliResult text = Admin({"config", "history", "--scope", "global"});
  EXPECT_EQ(text.out.rfind("REVISION  WHEN", 0), 0u) << text.out;
  // A relative time: "just now", or a few seconds on a loaded machine.
  EXPECT_TRUE(text.out.find("just now") != std::string::npos ||
              text.out.find("s ago") != std::string::npos)
      << text.out;

  CliResult old = Admin({"config", "get", "--scope", "global", "--revision", "1", "-o", "json"});
  EXPECT_EQ(old.exit_code, 0) << old.err;
  EXPECT_EQ(old.Json()["revision"], 1);
}

// config history pages: --limit, --before, the next cursor in JSON
// ("nextBefore", absent on the last page) and as a hint under the table.
TEST_F(CliConfigTest, HistoryPages) {
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(WriteGlobal(), i);
  CliResult first = Admin({"config", "history", "--scope", "global", "--limit", "2", "-o", "json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.Json()["revisions"].size(), 2u);
  EXPECT_EQ(first.Json()["revisions"][0]["revision"], 5);
  EXPECT_EQ(first.Json()["nextBefore"], 4);

  CliResult last = Admin(
      {"config", "history", "--scope", "global", "--before", "2", "--limit", "2", "-o", "json"});
  ASSERT_EQ(last.exit_code, 0) << last.err;
  ASSERT_EQ(last.Json()["revisions"].size(), 1u);
  EXPECT_EQ(last.Json()["revisions"][0]["revision"], 1);
  EXPECT_FALSE(last.Json().contains("nextBefore")) << last.out;

  CliResult table = Admin({"config", "history", "--scope", "global", "--limit", "2"});
  EXPECT_NE(table.out.find("older revisions: omnirctl config history --scope global --before 4 "
                           "--limit 2"),
            std::string::npos)
      << table.out;
  CliResult whole = Admin({"config", "history", "--scope", "global"});
  EXPECT_EQ(whole.out.find("older revisions"), std::string::npos) << whole.out;

  EXPECT_EQ(Admin({"config", "history", "--scope", "global", "--limit", "0"}).exit_code, 2);
  EXPECT_EQ(Admin({"config", "history", "--scope", "global", "--limit", "1001"}).exit_code, 2);
  EXPECT_EQ(Admin({"config", "history", "--scope", "global", "--before", "x"}).exit_code, 2);
}

// effective merges a scope chain; a scope without a layer is not_found (exit 1).
TEST_F(CliConfigTest, EffectiveMergesTheChain) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult region = Admin({"config", "set", "--scope", "region:eu-west", "-f",
                            Sample("layers/10-region-eu-west.json")});
  ASSERT_EQ(region.exit_code, 0) << region.err;
  CliResult r =
      Admin({"config", "effective", "--scope-chain", "global,region:eu-west", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json j = r.Json();
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["spec"]["routes"]["billing"]["weights"], Json({{"billing-eu", 100}}));
  EXPECT_EQ(j["spec"]["dispatcher"]["maxConcurrentRequests"], 600);

  CliResult missing = Admin({"config", "get", "--scope", "cell:nowhere"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err.rfind("error: not_found: ", 0), 0u) << missing.err;
}

// delete of a layer still routed to is destructive: the dry run says so
// (exit 3), the delete needs --confirm.
TEST_F(CliConfigTest, DeleteLayer) {
  ASSERT_EQ(WriteGlobal(), 1);
  ASSERT_EQ(Admin({"config", "set", "--scope", "region:eu-west", "-f",
                   Sample("layers/10-region-eu-west.json")})
                .exit_code,
            0);
  CliResult dry =
      Admin({"config", "delete", "--scope", "region:eu-west", "--dry-run", "-o", "json"});
  EXPECT_EQ(dry.exit_code, 3) << dry.err;
  EXPECT_EQ(dry.Json()["dryRun"], true);
  EXPECT_EQ(dry.Json()["errors"][0]["code"], "destructive_change");
  CliResult refused = Admin({"config", "delete", "--scope", "region:eu-west"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_EQ(refused.err.rfind("error: destructive_change: ", 0), 0u) << refused.err;
  CliResult del = Admin(
      {"config", "delete", "--scope", "region:eu-west", "--expect-revision", "2", "--confirm"});
  EXPECT_EQ(del.exit_code, 0) << del.err;
  EXPECT_EQ(Admin({"config", "get", "--scope", "region:eu-west"}).exit_code, 1);
}

// validate: offline without a server; server-side with one (exit 6 proves it asked).
TEST_F(CliConfigTest, ValidateOfflineOrOnServer) {
  CliResult offline =
      RunCli({"config", "validate", "-f", Sample("broken/dangling_cluster.json"), "-o", "json"});
  EXPECT_EQ(offline.exit_code, 3);
  EXPECT_EQ(offline.Json()["errors"][0]["code"], "dangling_cluster");

  CliResult server = Admin({"config", "validate", "--remote", "-f",
                            Sample("broken/dangling_cluster.json"), "-o", "json"});
  EXPECT_EQ(server.exit_code, 3) << server.err;
  EXPECT_EQ(server.Json()["valid"], false);
  EXPECT_EQ(server.Json()["errors"][0]["code"], "dangling_cluster");

  CliResult good = Admin({"config", "validate", "--remote", "-f", Sample("layers/00-global.json")});
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_NE(good.out.find("valid (checked by the server)"), std::string::npos);

  // With --scope: a dry-run write of that scope, against the current layers.
  // No global layer yet: the topology places no region (unknown_scope).
  CliResult scoped = Admin({"config", "validate", "-f", Sample("layers/10-region-eu-west.json"),
                            "--scope", "region:eu-west", "-o", "json"});
  EXPECT_EQ(scoped.exit_code, 3) << scoped.out << scoped.err;
  EXPECT_NE(scoped.err.find("unknown_scope"), std::string::npos) << scoped.err;

  // Offline by default, even with a server given (finding 7).
  CliResult offline_default = RunCli(
      {"--server", "127.0.0.1:1", "config", "validate", "-f", Sample("layers/00-global.json")});
  EXPECT_EQ(offline_default.exit_code, 0) << offline_default.err;
  CliResult unreachable = RunCli({"--server", "127.0.0.1:1", "config", "validate", "--remote", "-f",
                                  Sample("layers/00-global.json")});
  EXPECT_EQ(unreachable.exit_code, 6);
}

// shadow enable / disable edit the layer with CAS; a second disable has nothing to do.
TEST_F(CliConfigTest, ShadowEnableAndDisable) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult on = Admin({"shadow", "enable", "--service", "billing", "--percent", "12.5",
                        "--cluster", "billing-dr", "-o", "json"});
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.Json()["revision"], 2);
  EXPECT_EQ(on.Json()["routes"], Json({"billing"}));
  Json doc = Admin({"config", "get", "--scope", "global"}).Json();
  EXPECT_EQ(doc["spec"]["routes"]["billing"]["shadow"],
            Json({{"cluster", "billing-dr"}, {"percent", 12.5}}));

  CliResult off = Admin({"shadow", "disable", "--service", "billing"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_NE(off.out.find("written as revision 3"), std::string::npos) << off.out;
  doc = Admin({"config", "get", "--scope", "global"}).Json();
  EXPECT_FALSE(doc["spec"]["routes"]["billing"].contains("shadow"));

  CliResult again = Admin({"shadow", "disable", "--service", "billing", "-o", "json"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.Json()["changed"], false);

  // Enabling again reuses no cluster (none left): --cluster is required.
  CliResult no_cluster = Admin({"shadow", "enable", "--service", "billing", "--percent", "5"});
  EXPECT_EQ(no_cluster.exit_code, 2) << no_cluster.err;
}

// At a more specific scope, disable writes a null over the inherited shadow
// and enable creates the layer; the effective config follows.
TEST_F(CliConfigTest, ShadowAtRegionScope) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult off = Admin({"shadow", "disable", "--service", "billing", "--scope", "region:us-east"});
  ASSERT_EQ(off.exit_code, 0) << off.err;
  Json layer = Admin({"config", "get", "--scope", "region:us-east"}).Json();
  EXPECT_TRUE(layer["spec"]["routes"]["billing"]["shadow"].is_null()) << layer.dump();
  Json eff =
      Admin({"config", "effective", "--scope-chain", "global,region:us-east", "-o", "json"}).Json();
  EXPECT_FALSE(eff["spec"]["routes"]["billing"].contains("shadow"));

  CliResult on = Admin({"shadow", "enable", "--service", "billing", "--percent", "1", "--scope",
                        "region:us-east", "--cluster", "billing-dr"});
  ASSERT_EQ(on.exit_code, 0) << on.err;
  eff =
      Admin({"config", "effective", "--scope-chain", "global,region:us-east", "-o", "json"}).Json();
  EXPECT_EQ(eff["spec"]["routes"]["billing"]["shadow"]["percent"], 1);
}

// Below region level the server places the scope (DESIGN.md §3.1): shadow
// on a cluster scope needs no chain, sees the routes the layers above it
// define, and makes one audited read (layer.context) before its one write.
TEST_F(CliConfigTest, ShadowAtClusterScopeReadsOnce) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult region = Admin({"config", "set", "--scope", "region:eu-west", "-f",
                            Sample("layers/10-region-eu-west.json")});
  ASSERT_EQ(region.exit_code, 0) << region.err;
  CliResult token =
      Admin({"token", "create", "--scopes", "config:write", "--name", "shadower", "-o", "json"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  const std::string secret = token.Json()["token"];

  CliResult on =
      Anonymous({"--token", secret, "shadow", "enable", "--service", "billing", "--percent", "2",
                 "--scope", "cluster:euw1-a-prod", "--cluster", "billing-dr", "-o", "json"});
  ASSERT_EQ(on.exit_code, 0) << on.err;
  EXPECT_EQ(on.Json()["routes"], Json({"billing"}));
  Json eff = Admin({"config", "effective", "--scope-chain",
                    "global,region:eu-west,cell:euw1-a,cluster:euw1-a-prod", "-o", "json"})
                 .Json();
  EXPECT_EQ(eff["spec"]["routes"]["billing"]["shadow"]["percent"], 2) << eff.dump();

  CliResult audit =
      Admin({"audit", "tail", "--since", "5m", "--principal", "shadower", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  const Json entries = audit.Json()["entries"];
  std::vector<std::string> reads, writes;
  for (const auto& e : entries) {
    EXPECT_EQ(e["scope"], "cluster:euw1-a-prod") << e.dump();
    (e.value("action", "") == "layer.put" ? writes : reads).push_back(e["action"]);
  }
  EXPECT_EQ(reads, std::vector<std::string>{"layer.context"}) << audit.out;
  EXPECT_EQ(writes, std::vector<std::string>{"layer.put"}) << audit.out;

  // The chain is the server's to know: the option is gone.
  CliResult chained = Admin({"shadow", "disable", "--service", "billing", "--scope", "cell:euw1-a",
                             "--scope-chain", "global,region:eu-west,cell:euw1-a"});
  EXPECT_EQ(chained.exit_code, 2) << chained.err;
  // A scope the topology does not place is refused before anything is written.
  CliResult nowhere = Admin(
      {"shadow", "disable", "--service", "billing", "--scope", "cluster:nowhere", "-o", "json"});
  EXPECT_EQ(nowhere.exit_code, 3) << nowhere.err;
  EXPECT_EQ(nowhere.ErrJson()["error"]["code"], "unknown_scope") << nowhere.err;
}

// shadow of a service no route serves is not_found (exit 1); --dry-run writes nothing.
TEST_F(CliConfigTest, ShadowErrorsAndDryRun) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult unknown = Admin(
      {"shadow", "enable", "--service", "nosuch", "--percent", "5", "--cluster", "billing-dr"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err.rfind("error: not_found: ", 0), 0u) << unknown.err;

  CliResult dry = Admin(
      {"shadow", "enable", "--service", "billing", "--percent", "50", "--dry-run", "-o", "json"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.Json()["dryRun"], true);
  EXPECT_EQ(dry.Json()["diff"], "routes +0 -0 ~1 (~billing)");
  Json doc = Admin({"config", "get", "--scope", "global"}).Json();
  EXPECT_EQ(doc["spec"]["routes"]["billing"]["shadow"]["percent"], 5);  // unchanged

  CliResult bad = Admin({"shadow", "enable", "--service", "billing", "--percent", "150"});
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
}  // namespace omnirelay::cli::testing

namespace omnirelay::cli::testing {
namespace {

// A command line the parser refuses is reported like every other error: one
// `error: invalid_argument: ...` line, or JSON on stderr with -o json; exit 2.
// No server is needed for any of these.
TEST(CliUsage, ParseErrorsUseTheErrorFormat) {
  CliResult bogus = RunCli({"status", "--bogus", "-o", "json"});
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_EQ(bogus.ErrJson()["error"]["code"], "invalid_argument") << bogus.err;
  EXPECT_NE(bogus.ErrJson()["error"]["message"].get<std::string>().find("--bogus"),
            std::string::npos);

  CliResult unknown = RunCli({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err.rfind("error: invalid_argument: unknown command \"frobnicate\"", 0), 0u)
      << unknown.err;

  // Finding 6: a typo in a subcommand names it and the closest one.
  CliResult typo = RunCli({"config", "sett", "--scope", "global", "-f", "x.json"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("unknown config command \"sett\" (did you mean \"set\"?)"),
            std::string::npos)
      << typo.err;

  // Percents hold two decimals in the document model: more is refused, not rounded.
  CliResult precise = RunCli({"shadow", "enable", "--service", "billing", "--percent", "10.555",
                              "--server", "127.0.0.1:1"});
  EXPECT_EQ(precise.exit_code, 2);
  EXPECT_NE(precise.err.find("at most two decimals"), std::string::npos) << precise.err;
}

}  // namespace
}  // namespace omnirelay::cli::testing
