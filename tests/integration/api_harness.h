// Test harness shared by the REST and gRPC API tests: an in-process control
// plane on a temp dir (real SQLite store, in-process bus, real keys), and the
// face-independent vocabulary the table-driven cases are written in.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/service.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {
class RolloutEngine;
}  // namespace omnirelay::cp

namespace omnirelay::cp::testing {

// A control plane without faces; each face test starts its own on top.
class Stack {
 public:
  Stack();
  ~Stack();

  ControlPlaneService& service() { return *service_; }
  const Authenticator& auth() const { return *auth_; }
  SnapshotRenderer& renderer() { return *renderer_; }
  Store& store() { return *store_; }
  Bus& bus() { return *bus_; }
  MetricsRegistry& metrics() { return metrics_; }
  const TrustedKeySet& trusted_keys() const { return trusted_; }
  const Clock& clock() const { return clock_; }
  const std::string& dir() const { return dir_; }

  // A fresh bearer token carrying `scopes` (admin-issued). A name names one
  // live token: a taken name gets a number ("tester-2"), except a node's
  // ("node:<id>"), whose one token is returned again.
  std::string Token(const std::vector<std::string>& scopes, const std::string& name = "tester");

  // Attaches a rollout engine without a driver thread (once; later calls do
  // nothing); TickRollouts runs one driver pass, as the daemon does each second.
  void EnableRollouts();
  void TickRollouts();
  // The engine EnableRollouts attached (null before).
  RolloutEngine* rollouts() { return rollouts_.get(); }

 private:
  std::string dir_;
  SystemClock clock_;
  MetricsRegistry metrics_;
  std::unique_ptr<SigningKey> key_;
  TrustedKeySet trusted_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<SnapshotRenderer> renderer_;
  std::unique_ptr<ControlPlaneService> service_;
  std::unique_ptr<RolloutEngine> rollouts_;
  std::map<std::string, std::string> node_tokens_;  // name -> secret
};

// A valid ConfigLayer for `scope` (the global sample, re-scoped), with an
// optional transform of its spec.
std::string LayerDoc(const std::string& scope,
                     const std::function<void(nlohmann::json& spec)>& edit = {});

// The operations both faces expose, in face-independent terms.
enum class Op {
  kListLayers,
  kGetLayer,
  kLayerContext,
  kPutLayer,
  kDeleteLayer,
  kHistory,
  kValidate,
  kEffective,
  kListNodes,
  kGetNode,
  kForgetNode,  // scope: the node id
  kNodeSnapshot,
  kKeys,
  kAudit,
  kVerifyAudit,
  kStatus,
  kCreateToken,
  kListTokens,
  kRevokeToken,
  kRevertLayer,  // body: {"toRevision", "reason"?} (the REST body)
  kGetFreeze,
  kSetFreeze,  // body: {"frozen", "reason"?} (the REST body)
  // body: the POST /v1/rollouts body {"layers", "deletes"?, "policy"?, "reason"?}
  kStartRollout,
  kListRollouts,
  kGetRollout,     // scope: the rollout id
  kRolloutAction,  // scope: the rollout id; body: "promote", "pause", ...; params: "reason"
};
const char* OpName(Op op);

struct Call {
  Op op;
  std::string scope;  // layer scope, node id, chain, token id... as the op needs
  std::string body;   // a document or a JSON request body
  std::optional<std::int64_t> expected_revision;
  bool dry_run = false;
  bool confirm = false;
  // Named request options, as REST query parameters ("limit" -> ?limit=);
  // the gRPC client sets the request field of the same meaning.
  std::map<std::string, std::string> params = {};
};

struct Reply {
  StatusCode code = StatusCode::kOk;
  std::string error_code;  // the stable code: "conflict", "dangling_cluster", ...
  nlohmann::json body;     // the REST JSON shape of the answer (or the error body)
};

class ApiClient {
 public:
  virtual ~ApiClient() = default;
  virtual Reply Do(const Call& call, const std::string& token) = 0;
};

}  // namespace omnirelay::cp::testing
