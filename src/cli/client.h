// The control plane as omnirctl's commands see it: plain values in, plain
// values out, errors as Status. grpc_client.cc is the only file that knows
// gRPC and the generated stubs; commands never include them.
//
// A failed call returns a Status whose code is the server's (conflict,
// permission_denied, invalid with diagnostics, ...) or kUnavailable when the
// server could not be reached or did not answer in time.
//
// Thread safety: one ControlClient is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "omnirelay/api/types.h"
#include "omnirelay/config/status.h"

namespace omnirelay::cli {

// The API's values (omnirelay/api/types.h) are what the calls return; the
// rollout types below carry the API's JSON of a rollout beside their fields.
using api::AuditEntry;
using api::AuditFilter;
using api::BlockedNode;
using api::EffectiveView;
using api::FreezeState;
using api::HistoryPage;
using api::HistoryQuery;
using api::IssuedToken;
using api::Layer;
using api::LayerContext;
using api::LayerSummary;
using api::Node;
using api::Revision;
using api::StatusSummary;
using api::Token;
using api::WriteResult;

struct SetLayerArgs {
  std::string scope;
  std::string document;
  std::optional<std::int64_t> expected_revision;
  bool dry_run = false;
  bool confirm = false;
  bool allow_unknown_node = false;  // stage a node: layer before the node is seen
  bool force = false;               // write where a rollout holds the chain (audited)
  bool allow_large_change = false;  // past the server's change limit (audited)
};

struct DeleteLayerArgs {
  std::string scope;
  std::optional<std::int64_t> expected_revision;
  bool dry_run = false;
  bool confirm = false;
  bool force = false;               // as SetLayerArgs
  bool allow_large_change = false;  // as SetLayerArgs
};

// `config revert`: the content revision `to_revision` of `scope` had,
// committed as a new revision (validated and guarded as SetLayer).
struct RevertLayerArgs {
  std::string scope;
  std::int64_t to_revision = 0;
  std::string reason;
  std::optional<std::int64_t> expected_revision;
  bool dry_run = false;
  bool confirm = false;
};

// GetKeySets' answer: the envelopes after the version asked for.
struct KeySetChainView {
  std::int64_t latest_version = 0;                             // 0: the cell has no key set
  std::vector<std::pair<std::int64_t, std::string>> key_sets;  // (version, envelope)
};

// Rollouts (rollout_service.proto): a change set of layers reaching the
// nodes in waves (docs/knowledge-base/rollouts.md).
struct RolloutWaveInfo {
  int index = 0;
  std::string kind;  // "canary", "scopes", "global"
  std::vector<std::string> scopes;
  std::int64_t nodes = 0;
  std::int64_t assigned_new = 0;
  std::string state;  // "waiting", "baking", "passed", "breached", "aborted"
};

struct RolloutInfo {
  std::string id;
  std::string state;  // "running", "awaiting_promote", "paused", "succeeded", ...
  std::int64_t version = 0;
  std::int64_t previous_version = 0;
  std::int64_t rollback_version = 0;  // 0 = none
  std::string rollback_reason;
  int current_wave = 0;
  std::vector<RolloutWaveInfo> waves;
  std::string gate, gate_message;  // the last verdict, if any
  std::string author, reason;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  bool dry_run = false;
  // A start's dry run: the nodes that would refuse the change (capability gating).
  std::vector<BlockedNode> blocked_nodes;
  std::string json;  // the rollout as REST answers it (GET /v1/rollouts/{id})
};

// One layer of a change set: put `document` on `scope`, or delete (nullopt).
struct LayerChangeArg {
  std::string scope;
  std::optional<std::string> document;
};

struct StartRolloutArgs {
  std::vector<LayerChangeArg> changes;
  std::string policy_json;  // the rollout block; "" = the server's defaults
  bool dry_run = false;
  bool confirm = false;
  bool allow_large_change = false;  // layers past the server's change limit (audited)
  std::string reason;
};

// The rollout actions that name one rollout.
enum class RolloutAction { kRollback, kPause, kResume, kPromote, kAbort };

class ControlClient {
 public:
  virtual ~ControlClient() = default;

  virtual Result<std::vector<LayerSummary>> ListLayers() = 0;
  virtual Result<Layer> GetLayer(const std::string& scope,
                                 std::optional<std::int64_t> revision) = 0;
  // The scope's chain as the server places it, its layer (if any) and the
  // specs it sees and inherits, in one read (a scope the server does not
  // place: kInvalid unknown_scope).
  virtual Result<LayerContext> GetLayerContext(const std::string& scope) = 0;
  virtual Result<WriteResult> SetLayer(const SetLayerArgs& args) = 0;
  virtual Result<WriteResult> DeleteLayer(const DeleteLayerArgs& args) = 0;
  // Not a revision of the scope: kNotFound. Passes while frozen.
  virtual Result<WriteResult> RevertLayer(const RevertLayerArgs& args) = 0;
  // The freeze switch: while on, SetLayer and DeleteLayer are kFrozen.
  virtual Result<FreezeState> GetFreeze() = 0;
  virtual Result<FreezeState> SetFreeze(bool frozen, const std::string& reason) = 0;
  virtual Result<HistoryPage> History(const std::string& scope, const HistoryQuery& query) = 0;
  virtual Result<std::vector<Diagnostic>> Validate(const std::string& document) = 0;
  virtual Result<EffectiveView> Effective(const std::vector<std::string>& chain) = 0;
  virtual Result<std::vector<Node>> ListNodes() = 0;
  virtual Result<StatusSummary> GetStatus() = 0;
  // The audit chain walked by the server (GET /v1/audit/verify).
  virtual Result<api::AuditChainReport> VerifyAudit() = 0;
  virtual Status ForgetNode(const std::string& node_id) = 0;
  // Calls `on_entry` for each entry that matches `filter`, oldest first;
  // with `follow`, keeps the stream open until `on_entry` returns false or
  // the stream ends. The call deadline applies only without `follow`.
  virtual Status Audit(std::int64_t since_ms, bool follow, const AuditFilter& filter,
                       const std::function<bool(const AuditEntry&)>& on_entry) = 0;
  virtual Result<IssuedToken> CreateToken(const std::string& name,
                                          const std::vector<std::string>& scopes,
                                          std::int64_t ttl_seconds) = 0;
  virtual Result<std::vector<Token>> ListTokens() = 0;
  // By id, or by the name of one live token; the token as revoked (as it
  // would be, with dry_run). Already revoked: kConflict.
  virtual Result<Token> RevokeToken(const std::string& name_or_id, bool dry_run) = 0;
  // `omnirctl login`: with an OIDC ID token as this client's bearer token,
  // a short-lived token of its identity (0 = the server's default lifetime).
  virtual Result<IssuedToken> Login(std::int64_t ttl_seconds) = 0;
  // Key rotation (keys_commands.cc): trusted-keys.json as served; the key-set
  // envelopes after a version, oldest first, with the newest version; and
  // publishing the next one (its version).
  virtual Result<std::string> GetTrustedKeys() = 0;
  virtual Result<KeySetChainView> GetKeySets(std::int64_t after_version) = 0;
  virtual Result<std::int64_t> PublishKeySet(const std::string& envelope) = 0;

  virtual Result<RolloutInfo> StartRollout(const StartRolloutArgs& args) = 0;
  // One rollout by id (unknown: kNotFound), or all of them, newest first,
  // for an empty id. A server without rollouts: kUnimplemented.
  virtual Result<std::vector<RolloutInfo>> RolloutStatus(const std::string& id) = 0;
  virtual Result<RolloutInfo> ActOnRollout(RolloutAction action, const std::string& id,
                                           const std::string& reason) = 0;
};

// Where and how to reach the control plane.
struct ConnectionSettings {
  std::string server;  // host:port
  std::string token;   // bearer secret; empty = none
  std::chrono::milliseconds timeout{10'000};
  // TLS: all empty = plaintext. ca alone = TLS verifying the server;
  // cert + key add a client certificate (mTLS).
  std::string ca_file, cert_file, key_file;
  std::string tls_server_name;  // overrides the name checked in the server cert
  // SPIFFE ID patterns (peer_identity.h) the server certificate must match
  // before a call (and its token) is sent; empty = not checked. The files
  // are read by each invocation (nothing is cached), so a rotated
  // certificate is simply used by the next command.
  std::vector<std::string> server_spiffe_ids;
};

// Builds a client (no connection is made until the first call). Fails only
// when a TLS file cannot be read.
Result<std::unique_ptr<ControlClient>> NewGrpcClient(const ConnectionSettings& settings);

}  // namespace omnirelay::cli
