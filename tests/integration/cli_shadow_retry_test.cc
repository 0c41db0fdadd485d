// shadow enable's read-modify-write against a fake ControlClient: a CAS
// conflict makes it read again and retry, a bounded number of times.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "shadow.h"

namespace omnirelay::cli::testing {
namespace {

using Json = nlohmann::json;

Status Unused() {
  return Status(StatusCode::kUnimplemented, "not used by shadow");
}

// A layer store of one scope (global), read only through its context: every
// successful SetLayer bumps the revision; the first `conflicts` writes fail
// as if another writer got there first.
class FakeClient : public ControlClient {
 public:
  explicit FakeClient(int conflicts) : conflicts_left_(conflicts) {}

  Result<LayerContext> GetLayerContext(const std::string& scope) override {
    ++reads;
    return LayerContext{scope, scope, Layer{scope, revision, document.dump(), 0, "ops"},
                        document["spec"].dump(), "{}"};
  }
  Result<WriteResult> SetLayer(const SetLayerArgs& args) override {
    expected.push_back(args.expected_revision.value_or(-1));
    if (conflicts_left_ > 0) {
      --conflicts_left_;
      ++revision;  // the other writer's commit
      return Status(StatusCode::kConflict, "scope moved on");
    }
    document = Json::parse(args.document);
    WriteResult r;
    r.revision = ++revision;
    r.diff_summary = "routes +0 -0 ~1 (~billing)";
    return r;
  }

  Result<std::vector<LayerSummary>> ListLayers() override { return Unused(); }
  Result<Layer> GetLayer(const std::string&, std::optional<std::int64_t>) override {
    return Unused();
  }
  Result<EffectiveView> Effective(const std::vector<std::string>&) override { return Unused(); }
  Result<WriteResult> DeleteLayer(const DeleteLayerArgs&) override { return Unused(); }
  Result<WriteResult> RevertLayer(const RevertLayerArgs&) override { return Unused(); }
  Result<FreezeState> GetFreeze() override { return Unused(); }
  Result<FreezeState> SetFreeze(bool, const std::string&) override { return Unused(); }
  Result<HistoryPage> History(const std::string&, const HistoryQuery&) override { return Unused(); }
  Result<std::vector<Diagnostic>> Validate(const std::string&) override { return Unused(); }
  Result<std::vector<Node>> ListNodes() override { return Unused(); }
  Result<StatusSummary> GetStatus() override { return Unused(); }
  Result<api::AuditChainReport> VerifyAudit() override { return Unused(); }
  Status ForgetNode(const std::string&) override { return Unused(); }
  Status Audit(std::int64_t, bool, const AuditFilter&,
               const std::function<bool(const AuditEntry&)>&) override {
    return Unused();
  }
  Result<IssuedToken> CreateToken(const std::string&, const std::vector<std::string>&,
                                  std::int64_t) override {
    return Unused();
  }
  Result<std::vector<Token>> ListTokens() override { return Unused(); }
  Result<Token> RevokeToken(const std::string&, bool) override { return Unused(); }
  Result<IssuedToken> Login(std::int64_t) override { return Unused(); }
  Result<std::string> GetTrustedKeys() override { return Unused(); }
  Result<KeySetChainView> GetKeySets(std::int64_t) override { return Unused(); }
  Result<std::int64_t> PublishKeySet(const std::string&) override { return Unused(); }
  Result<RolloutInfo> StartRollout(const StartRolloutArgs&) override { return Unused(); }
  Result<std::vector<RolloutInfo>> RolloutStatus(const std::string&) override { return Unused(); }
  Result<RolloutInfo> ActOnRollout(RolloutAction, const std::string&, const std::string&) override {
    return Unused();
  }

  Json document = {
      {"apiVersion", "omnirelay.config/v1"},
      {"kind", "ConfigLayer"},
      {"metadata", {{"scope", "global"}}},
      {"spec",
       {{"routes", {{"billing", {{"service", "billing"}, {"weights", {{"billing-v1", 100}}}}}}}}}};
  std::int64_t revision = 7;
  int reads = 0;
  std::vector<std::int64_t> expected;  // expected_revision of each write

 private:
  int conflicts_left_;
};

ShadowArgs Enable() {
  ShadowArgs a;
  a.service = "billing";
  a.cluster = "billing-dr";
  a.percent = 5;
  return a;
}

// Two conflicts: the edit is redone on each new revision and the third write lands.
TEST(CliShadowRetry, ConflictIsRetriedOnTheNewRevision) {
  FakeClient client(2);
  const Output out(/*json=*/true, false, false);
  ::testing::internal::CaptureStdout();
  const int code = RunShadow(client, out, Enable(), /*enable=*/true);
  const Json printed = Json::parse(::testing::internal::GetCapturedStdout());
  EXPECT_EQ(code, kExitOk);
  EXPECT_EQ(client.expected, (std::vector<std::int64_t>{7, 8, 9}));  // each names what it read
  EXPECT_EQ(client.reads, 3);
  EXPECT_EQ(printed["attempts"], 3);
  EXPECT_EQ(printed["revision"], 10);
  EXPECT_EQ(client.document["spec"]["routes"]["billing"]["shadow"],
            Json({{"cluster", "billing-dr"}, {"percent", 5}}));
  EXPECT_EQ(client.document["metadata"]["features"], Json({"shadowing"}));
}

// Conflicts that never stop: it gives up after kShadowMaxAttempts writes, exit 4.
TEST(CliShadowRetry, GivesUpAfterTheBound) {
  FakeClient client(1000);
  const Output out(/*json=*/true, false, false);
  ::testing::internal::CaptureStderr();
  const int code = RunShadow(client, out, Enable(), /*enable=*/true);
  const Json error = Json::parse(::testing::internal::GetCapturedStderr());
  EXPECT_EQ(code, kExitConflict);
  EXPECT_EQ(client.expected.size(), static_cast<std::size_t>(kShadowMaxAttempts));
  EXPECT_EQ(error["error"]["code"], "conflict");
}

}  // namespace
}  // namespace omnirelay::cli::testing
