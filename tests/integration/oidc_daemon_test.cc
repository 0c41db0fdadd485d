// Operator identity through the real daemon (security.md, "Operator identity
// (OIDC)"): ID tokens as REST bearers with their groups' scopes, refusals,
// POST /v1/login, the principal in the audit log, and `omnirctl login`.
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include "cli_harness.h"
#include "daemon_process.h"
#include "jwt_signer.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;
using omnirelay::testing::JwksOf;
using omnirelay::testing::JwtSigner;

constexpr const char* kIssuer = "https://idp.example.com/realms/ops";
constexpr const char* kPrincipal = "oidc:idp.example.com/alice";

std::int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json Claims(std::vector<std::string> groups, std::int64_t exp_in_s = 3600) {
  return {{"iss", kIssuer},   {"aud", "omnirelay"}, {"sub", "alice"},
          {"groups", groups}, {"iat", NowS() - 5},  {"exp", NowS() + exp_in_s}};
}

class OidcDaemonTest : public ::testing::Test {
 protected:
  static const JwtSigner& Rsa() {
    static const JwtSigner key("RS256", "rsa-1");
    return key;
  }
  static const JwtSigner& Ec() {
    static const JwtSigner key("ES256", "ec-1");
    return key;
  }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = ::testing::TempDir() + "oidc-" + info->name() + "-" + std::to_string(::getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    WriteFile(dir_ + "/jwks.json", JwksOf({&Rsa(), &Ec()}), 0644);
    daemon_ = std::make_unique<cp::testing::DaemonProcess>(dir_ + "/data");
    ASSERT_TRUE(daemon_->StartWithArgs({"--oidc-issuer", kIssuer, "--oidc-audience", "omnirelay",
                                        "--oidc-jwks", dir_ + "/jwks.json", "--oidc-group-scopes",
                                        "readers=config:read,ops=config:read+config:write"},
                                       /*tls=*/false));
    http_ = std::make_unique<httplib::Client>("127.0.0.1", daemon_->http_port());
  }
  void TearDown() override {
    daemon_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  httplib::Result Get(const std::string& path, const std::string& bearer) {
    return http_->Get(path, {{"Authorization", "Bearer " + bearer}});
  }
  httplib::Result PutGlobal(const std::string& bearer) {
    return http_->Put("/v1/layers/global", {{"Authorization", "Bearer " + bearer}},
                      ReadFile(Sample("layers/00-global.json")), "application/json");
  }
  httplib::Result Login(const std::string& bearer, const std::string& body = "") {
    return http_->Post("/v1/login", {{"Authorization", "Bearer " + bearer}}, body,
                       "application/json");
  }

  std::string dir_;
  std::unique_ptr<cp::testing::DaemonProcess> daemon_;
  std::unique_ptr<httplib::Client> http_;
};

// An ID token is a bearer with the scopes its groups map to; a read-scoped
// one cannot write, and one whose groups map to nothing is refused.
TEST_F(OidcDaemonTest, IdTokenScopesComeFromGroups) {
  const std::string ops = Rsa().Sign(Claims({"ops"}));
  const std::string reader = Ec().Sign(Claims({"readers", "unmapped"}));
  ASSERT_EQ(Get("/v1/layers", ops)->status, 200);
  EXPECT_EQ(PutGlobal(ops)->status, 200);
  EXPECT_EQ(Get("/v1/layers", reader)->status, 200);
  auto denied = PutGlobal(reader);
  EXPECT_EQ(denied->status, 403) << denied->body;
  auto nobody = Get("/v1/layers", Rsa().Sign(Claims({"unmapped"})));
  EXPECT_EQ(nobody->status, 403) << nobody->body;
  EXPECT_EQ(Get("/v1/audit?since=5m", ops)->status, 403) << "audit:read is not mapped";
}

// Refused ID tokens answer 401 naming the reason, never the token.
TEST_F(OidcDaemonTest, RefusedIdTokensAreUnauthenticated) {
  Json wrong_aud = Claims({"ops"});
  wrong_aud["aud"] = "someone-else";
  JwtSigner stranger("RS256", "rsa-1");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {Rsa().Sign(Claims({"ops"}, -600)), "expired"},
      {Rsa().Sign(wrong_aud), "wrong_audience"},
      {Rsa().Sign(Claims({"ops"}), {{"kid", "rsa-9"}}), "unknown_kid"},
      {Rsa().Sign(Claims({"ops"}), {{"alg", "none"}}), "alg_not_allowed"},
      {stranger.Sign(Claims({"ops"})), "bad_signature"},
  };
  for (const auto& [token, reason] : cases) {
    auto res = Get("/v1/layers", token);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << reason;
    EXPECT_NE(res->body.find(reason), std::string::npos) << res->body;
    EXPECT_EQ(res->body.find(token.substr(token.rfind('.'))), std::string::npos);
  }
}

// POST /v1/login trades an ID token for a token of its identity and scopes,
// expiring no later than the ID token; a new login replaces the previous one.
TEST_F(OidcDaemonTest, LoginIssuesAShortLivedToken) {
  const std::string id_token = Rsa().Sign(Claims({"ops"}, 600));
  auto first = Login(id_token);
  ASSERT_EQ(first->status, 201) << first->body;
  const Json issued = Json::parse(first->body);
  EXPECT_EQ(issued["name"], kPrincipal);
  EXPECT_EQ(issued["scopes"], Json({"config:read", "config:write"}));
  const std::string token = issued["token"];
  EXPECT_EQ(Get("/v1/layers", token)->status, 200);
  EXPECT_EQ(PutGlobal(token)->status, 200);

  auto second = Login(id_token, R"({"ttlSeconds": 60})");
  ASSERT_EQ(second->status, 201) << second->body;
  EXPECT_EQ(Get("/v1/layers", token)->status, 401) << "the first login was replaced";
  EXPECT_EQ(Get("/v1/layers", Json::parse(second->body)["token"])->status, 200);

  // A stored token cannot log in; only an ID token can.
  auto static_login = Login(daemon_->admin_token());
  EXPECT_EQ(static_login->status, 400) << static_login->body;
  EXPECT_EQ(Login(Rsa().Sign(Claims({"ops"}, -600)))->status, 401);
}

// Calls made with an ID token, and the login, are audited under the OIDC principal.
TEST_F(OidcDaemonTest, PrincipalLandsInTheAuditLog) {
  const std::string id_token = Ec().Sign(Claims({"ops"}));
  ASSERT_EQ(PutGlobal(id_token)->status, 200);
  ASSERT_EQ(Login(id_token)->status, 201);
  auto audit = Get("/v1/audit?since=5m", daemon_->admin_token());
  ASSERT_EQ(audit->status, 200) << audit->body;
  std::vector<std::string> actions;
  const Json entries = Json::parse(audit->body)["entries"];
  for (const auto& e : entries) {
    if (e.value("principal", "") != kPrincipal) continue;
    actions.push_back(e["action"]);
    EXPECT_EQ(e.value("summary", "").find(id_token.substr(0, 30)), std::string::npos);
  }
  EXPECT_NE(std::find(actions.begin(), actions.end(), "layer.put"), actions.end());
  EXPECT_NE(std::find(actions.begin(), actions.end(), "token.login"), actions.end());
}

// omnirctl login saves the token (0600) in the context's tokenFile, which
// later commands use; a refused ID token exits 5.
TEST_F(OidcDaemonTest, OmnirctlLoginStoresTheTokenInTheContext) {
  const std::string contexts = dir_ + "/omnirctl.json";
  WriteFile(
      contexts,
      Json{{"currentContext", "dev"},
           {"contexts",
            {{"dev", {{"server", daemon_->grpc_address()}, {"tokenFile", dir_ + "/dev.token"}}}}}}
          .dump());
  const Env env = {{"OMNIRCTL_CONFIG", contexts}};
  WriteFile(dir_ + "/id.jwt", Rsa().Sign(Claims({"readers"})));
  CliResult login = RunCli({"login", "--id-token", dir_ + "/id.jwt"}, env);
  ASSERT_EQ(login.exit_code, 0) << login.err;
  EXPECT_NE(login.out.find(kPrincipal), std::string::npos) << login.out;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/dev.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFile(dir_ + "/dev.token").rfind("omr_", 0), 0u);

  EXPECT_EQ(RunCli({"config", "list"}, env).exit_code, 0);
  CliResult write =
      RunCli({"config", "set", "--scope", "global", "-f", Sample("layers/00-global.json")}, env);
  EXPECT_EQ(write.exit_code, 5) << write.out << write.err;

  WriteFile(dir_ + "/expired.jwt", Rsa().Sign(Claims({"ops"}, -600)));
  CliResult refused = RunCli({"login", "--id-token", dir_ + "/expired.jwt", "-o", "json"}, env);
  EXPECT_EQ(refused.exit_code, 5) << refused.err;
  EXPECT_NE(refused.err.find("expired"), std::string::npos) << refused.err;
}

// A daemon whose JWKS cannot be read does not start (a usage error).
TEST(OidcDaemonStartTest, UnreadableJwksStopsTheStart) {
  const std::string dir = ::testing::TempDir() + "oidc-start-" + std::to_string(::getpid());
  CliResult r =
      RunBinary(OMNI_CONTROLPLANE_BIN,
                {"--data-dir", dir, "--http-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0",
                 "--oidc-issuer", kIssuer, "--oidc-audience", "omnirelay", "--oidc-jwks",
                 dir + "/missing.json", "--oidc-group-scopes", "ops=admin"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--oidc-jwks"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omnirelay::cli::testing
