// omnirctl config revert and rollout freeze|unfreeze against a real control
// plane process.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli_harness.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;

class CliFreezeTest : public CliServerTest {
 protected:
  // Writes `doc` to a scratch file and sets it as the layer of `scope`; the revision.
  std::int64_t Set(const std::string& scope, const Json& doc) {
    const std::string file = Scratch("layer.json");
    WriteFile(file, doc.dump());
    CliResult r = Admin({"config", "set", "--scope", scope, "-f", file, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.Json().value("revision", std::int64_t{-1});
  }

  Json Global() const { return Json::parse(ReadFile(Sample("layers/00-global.json"))); }

  Json GetDocument(const std::string& scope) {
    CliResult r = Admin({"config", "get", "--scope", scope, "-o", "json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.Json();
  }
};

// A revert commits the old content as a new, higher revision, audited with both revisions.
TEST_F(CliFreezeTest, RevertRestoresContentAtAHigherRevision) {
  ASSERT_EQ(WriteGlobal(), 1);
  Json changed = Global();
  changed["spec"]["dispatcher"]["maxConcurrentRequests"] = 7;
  ASSERT_EQ(Set("global", changed), 2);

  CliResult r = Admin({"config", "revert", "--scope", "global", "--to-revision", "1", "--reason",
                       "bad dispatcher", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["revision"], 3);
  EXPECT_EQ(r.Json()["valid"], true);
  const Json now = GetDocument("global");
  EXPECT_EQ(now["revision"], 3);
  EXPECT_EQ(now["document"]["spec"]["dispatcher"], Global()["spec"]["dispatcher"]);

  CliResult text = Admin({"config", "revert", "--scope", "global", "--to-revision", "2"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("global: content of revision 2 restored"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("written as revision 4"), std::string::npos) << text.out;

  CliResult audit =
      Admin({"audit", "tail", "--action", "layer.revert", "--writes-only", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  const Json entries = audit.Json()["entries"];
  ASSERT_EQ(entries.size(), 2u) << audit.out;
  EXPECT_EQ(entries[0]["revision"], 3);
  EXPECT_NE(entries[0]["summary"].get<std::string>().find(
                "revert to revision 1 from revision 2: bad dispatcher"),
            std::string::npos)
      << entries[0];
}

// Reverting to a revision that deleted the layer deletes it.
TEST_F(CliFreezeTest, RevertOfADeleteDeletes) {
  ASSERT_EQ(WriteGlobal(), 1);
  CliResult del = Admin({"config", "delete", "--scope", "global", "--confirm", "-o", "json"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  ASSERT_EQ(WriteGlobal(), 3);

  CliResult r = Admin(
      {"config", "revert", "--scope", "global", "--to-revision", "2", "--confirm", "-o", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.Json()["revision"], 4);
  CliResult get = Admin({"config", "get", "--scope", "global"});
  EXPECT_EQ(get.exit_code, 1) << get.err;  // not_found
  EXPECT_NE(get.err.find("not_found"), std::string::npos) << get.err;
}

// A revision of another scope, or none at all, is not_found naming it.
TEST_F(CliFreezeTest, RevertToAForeignRevisionIsNotFound) {
  ASSERT_EQ(WriteGlobal(), 1);
  Json region = {{"apiVersion", "omnirelay.config/v1"},
                 {"kind", "ConfigLayer"},
                 {"metadata", {{"scope", "region:eu-west"}}},
                 {"spec", {{"dispatcher", {{"maxConcurrentRequests", 600}}}}}};
  ASSERT_EQ(Set("region:eu-west", region), 2);

  CliResult r = Admin({"config", "revert", "--scope", "global", "--to-revision", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: not_found: revision 2 is not a revision of global", 0), 0u)
      << r.err;
  EXPECT_NE(r.err.find("region:eu-west"), std::string::npos) << r.err;

  CliResult json =
      Admin({"config", "revert", "--scope", "global", "--to-revision", "9", "-o", "json"});
  EXPECT_EQ(json.ErrJson()["error"]["code"], "not_found") << json.err;
}

// While frozen a plain write and a delete exit 4 `frozen`, naming who and
// why; a revert passes; the freeze survives a restart; unfreezing lets writes through.
TEST_F(CliFreezeTest, FreezeRefusesPlainWritesNotRevertsAndSurvivesARestart) {
  ASSERT_EQ(WriteGlobal(), 1);
  Json changed = Global();
  changed["spec"]["dispatcher"]["maxConcurrentRequests"] = 7;
  ASSERT_EQ(Set("global", changed), 2);

  CliResult frozen = Admin({"rollout", "freeze", "--reason", "incident 7", "-o", "json"});
  ASSERT_EQ(frozen.exit_code, 0) << frozen.err;
  EXPECT_EQ(frozen.Json()["frozen"], true);
  EXPECT_EQ(frozen.Json()["reason"], "incident 7");
  EXPECT_EQ(frozen.Json()["by"], "admin");

  daemon_->Stop();
  ASSERT_TRUE(daemon_->Start()) << "the control plane did not restart";

  const std::string file = Scratch("global.json");
  WriteFile(file, Global().dump());
  CliResult set = Admin({"config", "set", "--scope", "global", "-f", file});
  EXPECT_EQ(set.exit_code, 4);
  EXPECT_EQ(set.err.rfind("error: frozen: a layer write refused: changes are frozen by admin", 0),
            0u)
      << set.err;
  EXPECT_NE(set.err.find("incident 7"), std::string::npos) << set.err;
  CliResult dry = Admin({"config", "set", "--scope", "global", "-f", file, "--dry-run"});
  EXPECT_EQ(dry.exit_code, 4) << dry.err;
  CliResult del = Admin({"config", "delete", "--scope", "global", "-o", "json"});
  EXPECT_EQ(del.exit_code, 4);
  EXPECT_EQ(del.ErrJson()["error"]["code"], "frozen") << del.err;

  CliResult status = Admin({"status", "-o", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.Json()["freeze"]["reason"], "incident 7") << status.out;
  CliResult status_text = Admin({"status"});
  EXPECT_NE(status_text.out.find("FROZEN by admin"), std::string::npos) << status_text.out;

  CliResult revert = Admin({"config", "revert", "--scope", "global", "--to-revision", "1",
                            "--reason", "incident 7", "-o", "json"});
  ASSERT_EQ(revert.exit_code, 0) << revert.err;
  EXPECT_EQ(revert.Json()["revision"], 3);

  CliResult unfrozen = Admin({"rollout", "unfreeze", "-o", "json"});
  ASSERT_EQ(unfrozen.exit_code, 0) << unfrozen.err;
  EXPECT_EQ(unfrozen.Json(), Json({{"frozen", false}}));
  CliResult again = Admin({"rollout", "unfreeze"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("not frozen"), std::string::npos) << again.out;
  CliResult write = Admin({"config", "set", "--scope", "global", "-f", file, "-o", "json"});
  ASSERT_EQ(write.exit_code, 0) << write.err;
  EXPECT_EQ(write.Json()["revision"], 4);

  CliResult audit = Admin({"audit", "tail", "--writes-only", "-o", "json"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  const Json entries = audit.Json()["entries"];
  std::vector<std::string> seen;
  for (const auto& e : entries) {
    seen.push_back(e["action"].get<std::string>() + " " + e["outcome"].get<std::string>());
  }
  for (const char* want : {"freeze.set ok", "layer.put frozen", "layer.delete frozen",
                           "layer.revert ok", "freeze.clear ok"}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), want), seen.end()) << want << "\n" << audit.out;
  }
}

// A token without rollout:write cannot freeze (exit 5); a read token sees the freeze in status.
TEST_F(CliFreezeTest, ReadTokenCannotFreeze) {
  CliResult token =
      Admin({"token", "create", "--scopes", "config:read", "--name", "reader", "-o", "json"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  const std::string secret = token.Json()["token"];
  CliResult r = Anonymous({"--token", secret, "rollout", "freeze", "--reason", "no"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err.rfind("error: permission_denied", 0), 0u) << r.err;
  CliResult revert =
      Anonymous({"--token", secret, "config", "revert", "--scope", "global", "--to-revision", "1"});
  EXPECT_EQ(revert.exit_code, 5) << revert.err;

  ASSERT_EQ(Admin({"rollout", "freeze", "--reason", "drill"}).exit_code, 0);
  CliResult status = Anonymous({"--token", secret, "status", "-o", "json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.Json()["freeze"]["by"], "admin");
}

}  // namespace
}  // namespace omnirelay::cli::testing
