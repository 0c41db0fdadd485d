// One API vocabulary: for the same state, the REST face (curl's view) and
// `omnirctl ... -o json` print the same field names with the same values —
// a script may switch from one to the other without renaming anything.
// Only what differs per call is set aside: a token's id and secret, and the
// creation / expiry times of two tokens made a moment apart.
#include <httplib.h>

#include <memory>

#include "cli_harness.h"
#include "eventually.h"
#include "fake_node.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ApiVocabularyTest : public CliServerTest {
 protected:
  // A REST call to `daemon` as admin; the body parsed (discarded when not JSON).
  static Json Rest(cp::testing::DaemonProcess& daemon, const std::string& method,
                   const std::string& path, const std::string& body = "",
                   httplib::Headers headers = {}) {
    httplib::Client http("127.0.0.1", daemon.http_port());
    http.set_read_timeout(30, 0);
    headers.emplace("Authorization", "Bearer " + daemon.admin_token());
    httplib::Result res = method == "GET"    ? http.Get(path, headers)
                          : method == "POST" ? http.Post(path, headers, body, "application/json")
                                             : http.Put(path, headers, body, "application/json");
    if (!res) return Json::value_t::discarded;
    return Json::parse(res->body, nullptr, false);
  }
  Json Rest(const std::string& method, const std::string& path, const std::string& body = "",
            httplib::Headers headers = {}) {
    return Rest(*daemon_, method, path, body, std::move(headers));
  }

  // omnirctl -o json against `daemon` as admin; its stdout parsed.
  Json Cli(cp::testing::DaemonProcess& daemon, std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", daemon.grpc_address(), "--token-file",
                               daemon.data_dir() + "/admin.token", "-o", "json"});
    CliResult r = RunCli(args);
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.err;
    return r.Json();
  }
  Json Cli(std::vector<std::string> args) { return Cli(*daemon_, std::move(args)); }
};

// A token made moments after another: the same fields, with the per-call id,
// secret and times checked for shape and then set aside.
void ExpectSameToken(Json rest, Json cli) {
  for (Json* t : {&rest, &cli}) {
    ASSERT_TRUE(t->is_object()) << t->dump();
    EXPECT_EQ((*t)["token"].get<std::string>().rfind("omr_", 0), 0u) << t->dump();
    EXPECT_FALSE((*t)["id"].get<std::string>().empty());
    for (const char* time : {"createdAt", "expiresAt"}) {
      EXPECT_TRUE(ParseRfc3339((*t)[time].get<std::string>()).ok()) << t->dump();
    }
  }
  const std::int64_t rest_created = *ParseRfc3339(rest["createdAt"].get<std::string>());
  const std::int64_t cli_created = *ParseRfc3339(cli["createdAt"].get<std::string>());
  EXPECT_LE(std::abs(rest_created - cli_created), 5);
  EXPECT_NE(rest["token"], cli["token"]);
  for (Json* t : {&rest, &cli}) {
    for (const char* per_call : {"id", "token", "createdAt", "expiresAt"}) t->erase(per_call);
  }
  EXPECT_EQ(rest, cli);
}

// PUT, history, POST /v1/tokens, GET /v1/nodes, GET /v1/status and a dry-run
// PUT answer exactly what the matching omnirctl command prints.
TEST_F(ApiVocabularyTest, RestAndCliPrintTheSameJson) {
  const std::string global = ReadFile(Sample("layers/00-global.json"));

  // A write: the same document written to two daemons in the same (empty)
  // state, one through REST, one through omnirctl.
  cp::testing::DaemonProcess twin(Scratch("twin"));
  ASSERT_TRUE(twin.Start()) << "the second control plane did not start";
  const Json rest_write = Rest("PUT", "/v1/layers/global", global, {{"If-Match", "\"0\""}});
  const Json cli_write = Cli(twin, {"config", "set", "--scope", "global", "-f",
                                    Sample("layers/00-global.json"), "--expect-revision", "0"});
  ASSERT_TRUE(rest_write.is_object()) << rest_write.dump();
  EXPECT_EQ(rest_write["revision"], 1);
  EXPECT_NE(rest_write["diff"].get<std::string>().find("clusters +6"), std::string::npos);
  EXPECT_EQ(rest_write, cli_write);

  // History of the scope.
  const Json rest_history = Rest("GET", "/v1/layers/global/history");
  EXPECT_EQ(rest_history["revisions"][0]["action"], "put") << rest_history.dump();
  EXPECT_EQ(rest_history, Cli({"config", "history", "--scope", "global"}));

  // A token: the secret is "token", as in the REST answer. (On two daemons:
  // a name names one live token.)
  ExpectSameToken(
      Rest("POST", "/v1/tokens", R"({"name":"ci","scopes":["config:read"],"ttlSeconds":3600})"),
      Cli(twin, {"token", "create", "--name", "ci", "--scopes", "config:read", "--ttl", "1h"}));

  // A node that said hello and never ACKed: drifted, nothing applied.
  const Json node_token = Rest("POST", "/v1/tokens", R"({"name":"node:n-1","scopes":["node"]})");
  ASSERT_TRUE(node_token.contains("token")) << node_token.dump();
  test_support::FakeNode node(daemon_->grpc_address(), node_token["token"], "n-1", "global", {});
  node.Hello();
  Json rest_nodes;
  ASSERT_TRUE(test_support::Eventually(
      [&] {
        rest_nodes = Rest("GET", "/v1/nodes");
        return rest_nodes.is_object() && rest_nodes["nodes"].size() == 1 &&
               rest_nodes["nodes"][0].contains("assignedVersion");
      },
      seconds(20), milliseconds(100)))
      << rest_nodes.dump();
  const Json& n1 = rest_nodes["nodes"][0];
  EXPECT_EQ(n1["drift"], true);
  EXPECT_FALSE(n1.contains("appliedVersion")) << "none is an absent field: " << n1.dump();
  EXPECT_FALSE(n1.contains("lastError")) << n1.dump();
  EXPECT_EQ(rest_nodes, Cli({"nodes", "list"}));

  // Status.
  const Json rest_status = Rest("GET", "/v1/status");
  EXPECT_EQ(rest_status["nodes"]["drifted"], 1) << rest_status.dump();
  EXPECT_EQ(rest_status, Cli({"status"}));

  // A dry run: the node lacks "shadowing", which the layer needs.
  const Json rest_dry = Rest("PUT", "/v1/layers/global?dryRun=true", global);
  EXPECT_EQ(rest_dry["dryRun"], true) << rest_dry.dump();
  EXPECT_FALSE(rest_dry.contains("revision")) << rest_dry.dump();
  ASSERT_EQ(rest_dry["blockedNodes"].size(), 1u) << rest_dry.dump();
  EXPECT_EQ(rest_dry["blockedNodes"][0]["nodeId"], "n-1");
  EXPECT_EQ(rest_dry, Cli({"config", "set", "--scope", "global", "-f",
                           Sample("layers/00-global.json"), "--dry-run"}));
}

// A revert answers the write's object; the freeze switch and the status
// that shows it answer the same through REST and omnirctl.
TEST_F(ApiVocabularyTest, RevertAndFreezeAnswerTheSameJson) {
  cp::testing::DaemonProcess twin(Scratch("twin"));
  ASSERT_TRUE(twin.Start()) << "the second control plane did not start";
  Json busier = Json::parse(ReadFile(Sample("layers/00-global.json")));
  busier["spec"]["dispatcher"]["maxConcurrentRequests"] = 7;
  WriteFile(Scratch("busier.json"), busier.dump());
  for (const std::string& file : {Sample("layers/00-global.json"), Scratch("busier.json")}) {
    EXPECT_TRUE(Rest("PUT", "/v1/layers/global", ReadFile(file)).contains("revision"));
    EXPECT_TRUE(Cli(twin, {"config", "set", "--scope", "global", "-f", file}).contains("revision"));
  }

  const Json rest_revert =
      Rest("POST", "/v1/layers/global/revert", R"({"toRevision": 1, "reason": "drill"})");
  EXPECT_EQ(rest_revert["revision"], 3) << rest_revert.dump();
  EXPECT_EQ(rest_revert, Cli(twin, {"config", "revert", "--scope", "global", "--to-revision", "1",
                                    "--reason", "drill"}));

  // Frozen a moment apart: "since" checked for shape, then set aside.
  Json rest_freeze = Rest("PUT", "/v1/freeze", R"({"frozen": true, "reason": "drill"})");
  Json cli_freeze = Cli(twin, {"rollout", "freeze", "--reason", "drill"});
  for (Json* f : {&rest_freeze, &cli_freeze}) {
    ASSERT_TRUE(f->is_object()) << f->dump();
    EXPECT_TRUE(ParseRfc3339((*f)["since"].get<std::string>()).ok()) << f->dump();
    f->erase("since");
  }
  EXPECT_EQ(rest_freeze, Json({{"frozen", true}, {"reason", "drill"}, {"by", "admin"}}));
  EXPECT_EQ(rest_freeze, cli_freeze);
  const Json rest_status = Rest("GET", "/v1/status");
  EXPECT_EQ(rest_status["freeze"]["reason"], "drill") << rest_status.dump();
  EXPECT_EQ(rest_status, Cli({"status"}));
  EXPECT_EQ(Rest("GET", "/v1/freeze"), rest_status["freeze"]);

  EXPECT_EQ(Rest("PUT", "/v1/freeze", R"({"frozen": false})"), Json({{"frozen", false}}));
  EXPECT_EQ(Cli(twin, {"rollout", "unfreeze"}), Json({{"frozen", false}}));
}

}  // namespace
}  // namespace omnirelay::cli::testing
