#include "api_harness.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "rollout_engine.h"

namespace omnirelay::cp::testing {

Stack::Stack() {
  char tmpl[] = "/tmp/omnirelay-api-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  key_ = std::make_unique<SigningKey>(std::move(SigningKey::Generate().value()));
  EXPECT_TRUE(trusted_.Add(key_->public_key_raw()).ok());
  SqliteOptions so;
  so.path = dir_ + "/state.db";
  so.synchronous_full = false;
  store_ = std::move(OpenSqliteStore(so).value());
  bus_ = MakeInprocBus();
  auth_ = std::make_unique<Authenticator>(*store_, clock_);
  renderer_ = std::make_unique<SnapshotRenderer>(*store_, *key_, clock_, metrics_);
  ServiceOptions options;
  options.max_change_entries = 200;  // the daemon's default (--max-change-entries)
  service_ = std::make_unique<ControlPlaneService>(*store_, *bus_, *auth_, *renderer_, trusted_,
                                                   clock_, metrics_, options);
}

Stack::~Stack() {
  if (rollouts_) rollouts_->Stop();
  service_.reset();
  rollouts_.reset();
  renderer_.reset();
  auth_.reset();
  bus_.reset();
  store_.reset();
  std::filesystem::remove_all(dir_);
}

std::string Stack::Token(const std::vector<std::string>& scopes, const std::string& name) {
  const Principal admin{"bootstrap", "admin", {"admin"}};
  // A node's token speaks for it: a node's later streams share it.
  const bool node = name.rfind("node:", 0) == 0;
  if (node && node_tokens_.contains(name)) return node_tokens_[name];
  auto issued = service_->CreateToken(admin, name, scopes, 0);
  // A name names one live token: later tokens of the same name are numbered.
  for (int n = 2; !issued.ok() && issued.status().code() == StatusCode::kConflict && n < 100; ++n) {
    issued = service_->CreateToken(admin, name + "-" + std::to_string(n), scopes, 0);
  }
  EXPECT_TRUE(issued.ok()) << issued.status().ToString();
  if (!issued.ok()) return "";
  if (node) node_tokens_[name] = issued->secret;
  return issued->secret;
}

void Stack::EnableRollouts() {
  if (rollouts_) return;
  RolloutEngineOptions options;
  options.manual_for_test = true;
  options.publish = [this](std::int64_t revision, const std::vector<std::string>& scopes) {
    service_->PublishCommit(revision, scopes);
  };
  rollouts_ = std::make_unique<RolloutEngine>(*store_, *renderer_, clock_, metrics_, options);
  EXPECT_TRUE(rollouts_->Load().ok());
  service_->AttachRollouts(rollouts_.get());
}

void Stack::TickRollouts() {
  if (rollouts_) rollouts_->RunDueForTest();
}

std::string LayerDoc(const std::string& scope,
                     const std::function<void(nlohmann::json& spec)>& edit) {
  std::ifstream in(std::string(OMNI_SAMPLES_DIR) + "/layers/00-global.json");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(ss.str());
  doc["metadata"]["scope"] = scope;
  if (edit) edit(doc["spec"]);
  return doc.dump();
}

const char* OpName(Op op) {
  switch (op) {
    case Op::kListLayers:
      return "ListLayers";
    case Op::kGetLayer:
      return "GetLayer";
    case Op::kLayerContext:
      return "LayerContext";
    case Op::kPutLayer:
      return "PutLayer";
    case Op::kDeleteLayer:
      return "DeleteLayer";
    case Op::kHistory:
      return "History";
    case Op::kValidate:
      return "Validate";
    case Op::kEffective:
      return "Effective";
    case Op::kListNodes:
      return "ListNodes";
    case Op::kGetNode:
      return "GetNode";
    case Op::kForgetNode:
      return "ForgetNode";
    case Op::kNodeSnapshot:
      return "NodeSnapshot";
    case Op::kKeys:
      return "Keys";
    case Op::kAudit:
      return "Audit";
    case Op::kVerifyAudit:
      return "VerifyAudit";
    case Op::kStatus:
      return "Status";
    case Op::kCreateToken:
      return "CreateToken";
    case Op::kListTokens:
      return "ListTokens";
    case Op::kRevokeToken:
      return "RevokeToken";
    case Op::kRevertLayer:
      return "RevertLayer";
    case Op::kGetFreeze:
      return "GetFreeze";
    case Op::kSetFreeze:
      return "SetFreeze";
    case Op::kStartRollout:
      return "StartRollout";
    case Op::kListRollouts:
      return "ListRollouts";
    case Op::kGetRollout:
      return "GetRollout";
    case Op::kRolloutAction:
      return "RolloutAction";
  }
  return "?";
}

}  // namespace omnirelay::cp::testing
