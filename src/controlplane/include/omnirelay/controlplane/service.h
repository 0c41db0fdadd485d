// The control plane's one service layer. The gRPC face and the REST face
// (DESIGN.md §4) are thin translations onto these methods: authorization,
// validation, guardrails, audit and publishing all happen here, once.
//
// Every method takes the authenticated Principal, checks its scope first
// (kPermissionDenied) and appends an audit entry for what it did — in the
// write's transaction for mutations, batched for reads.
//
// Thread safety: all methods may be called concurrently from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "omnirelay/api/types.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/diagnostic.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/bus.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

class AuditLog;
class FreezeSwitch;
class PlacementCache;
class PlanMemo;
class RolloutEngine;
struct RolloutRun;
struct PlannedWrite;
struct ShadowLayer;
enum class RolloutAction;  // rollout_state.h

// One layer of a rollout's change set: put `document`, or delete (nullopt).
struct RolloutChange {
  std::string scope;
  std::optional<std::string> document;
};
struct RolloutStartRequest {
  std::vector<RolloutChange> changes;
  std::string policy_json;  // the `rollout` block (rollout_policy.h); "" = the defaults
  bool dry_run = false;
  bool confirm = false;  // destructive changes
  // Layers over ServiceOptions::max_change_entries are written anyway (audited).
  bool allow_large_change = false;
  std::string reason;  // audited, shown in status
};

// A layer over the one document size limit of omni_config
// (decode.h kDefaultMaxDocumentBytes, which offline validation applies too) is
// refused with too_large, carrying the parse_error diagnostic validation gives.
struct ServiceOptions {
  std::size_t audit_limit = 1000;
  // A node assigned a snapshot is `updating` this long, then `drifted`.
  std::chrono::milliseconds node_updating_grace{30'000};
  // A node disconnected longer than this is forgotten (0: never).
  std::chrono::milliseconds node_expiry{24LL * 3600 * 1000};
  // The change_too_large guardrail (DESIGN.md §4 Guardrails): a layer write,
  // or a layer of a rollout, whose diff adds, removes or changes more named
  // entries than this is refused unless allow_large_change. 0 = no limit
  // (the daemon's --max-change-entries, DaemonOptions, defaults to 200).
  std::size_t max_change_entries = 0;
  // The key this replica signs snapshots with: a key set that drops or
  // revokes it is refused (PublishKeySet).
  std::string signing_key_id;
};

// The API's value types (omnirelay/api/types.h) under the names the
// service has always used.
using BlockedNode = api::BlockedNode;
using WriteOutcome = api::WriteResult;  // a layer write or its dry run
using ScopeSummary = api::LayerSummary;
using StatusSummary = api::StatusSummary;
using EffectiveView = api::EffectiveView;
using LayerContext = api::LayerContext;
using HistoryQuery = api::HistoryQuery;
using HistoryPage = api::HistoryPage;
using AuditFilter = api::AuditFilter;

struct KeySetChain {
  std::int64_t latest_version = 0;
  std::vector<std::pair<std::int64_t, std::string>> key_sets;  // (version, envelope)
};

class ControlPlaneService {
 public:
  // `auth` and `renderer` are the daemon's, shared with the faces and the
  // node feed; every reference must outlive the service.
  ControlPlaneService(Store& store, Bus& bus, const Authenticator& auth, SnapshotRenderer& renderer,
                      const TrustedKeySet& trusted_keys, const Clock& clock,
                      MetricsRegistry& metrics, ServiceOptions options = {});
  ~ControlPlaneService();

  // ---- layers
  Result<std::vector<ScopeSummary>> ListLayers(const Principal& who);
  Result<LayerRecord> GetLayer(const Principal& who, const std::string& scope,
                               std::optional<std::int64_t> revision);
  // What a read-modify-write of `scope`'s layer needs, as one read audited
  // once (action layer.context): the scope's chain as the server places it
  // (global; the topology's chain of a region, cell or cluster scope; the
  // chain a node said when it connected), its layer if any, and the merged
  // spec of the chain with and without that layer ("{}" when nothing is on
  // it). A scope the topology does not place, or a node never seen, is
  // kInvalid with unknown_scope, as a write to it would be; a chain that
  // does not validate is kInvalid with its diagnostics, as Effective says.
  Result<LayerContext> GetLayerContext(const Principal& who, const std::string& scope);
  // Validates `document` (a ConfigLayer for `scope`) in every scope chain it
  // affects, applies guardrails (destructive changes need `confirm`;
  // capability gating), then writes with CAS unless `dry_run`.
  // The chains checked are the real ones (DESIGN.md §3.1): those the global
  // layer's topology forms through the scope, and known nodes' chains.
  // Refusals: kInvalid (diagnostics in the status; destructive_change among
  // them when unconfirmed; unknown_scope for a scope the topology does not
  // place, or a node never seen unless `allow_unknown_node`), kConflict
  // (also for a dry run whose expected revision is stale), kMissingFeature
  // (blocked nodes listed in the message), kTooLarge, kInvalidArgument.
  // A change over options.max_change_entries named entries is kInvalid with
  // change_too_large unless `allow_large_change` (then audited as such).
  Result<WriteOutcome> PutLayer(const Principal& who, const std::string& scope,
                                const std::string& document,
                                std::optional<std::int64_t> expected_revision, bool dry_run,
                                bool confirm, bool allow_unknown_node = false, bool force = false,
                                bool allow_large_change = false);
  // `force` (PutLayer too): write even where a rollout holds the chain (else
  // kRolloutInProgress), audited as forced.
  Result<WriteOutcome> DeleteLayer(const Principal& who, const std::string& scope,
                                   std::optional<std::int64_t> expected_revision, bool dry_run,
                                   bool confirm, bool force = false,
                                   bool allow_large_change = false);
  // Commits the content that revision `to_revision` of `scope` had as a new,
  // higher revision of `scope` (versions only go up, DESIGN.md §3.3); if that
  // revision deleted the layer, the revert deletes it. Goes through what
  // PutLayer / DeleteLayer go through (validation in every chain, guardrails,
  // CAS, dry run) and is audited as layer.revert, naming both revisions and
  // `reason`. The freeze does not refuse it: it is how an incident is fixed.
  // Refusals: those of PutLayer and DeleteLayer; kInvalidArgument for a
  // revision below 1; kNotFound when `to_revision` is not a revision of
  // `scope` (naming what it is), or was a delete and the scope has no layer
  // now (as DeleteLayer says).
  Result<WriteOutcome> RevertLayer(const Principal& who, const std::string& scope,
                                   std::int64_t to_revision, const std::string& reason,
                                   std::optional<std::int64_t> expected_revision, bool dry_run,
                                   bool confirm);

  // ---- rollouts (DESIGN.md §4 Rollouts; rollout_engine.h). kUnimplemented
  // until AttachRollouts.
  void AttachRollouts(RolloutEngine* engine) { rollouts_ = engine; }
  // Validates the change set like writes (every chain each layer touches,
  // guardrails, capability gating), refuses it while a rollout holds one of
  // its chains (kRolloutInProgress), then commits it as new revisions in one
  // transaction with the started rollout, whose first wave is notified. A
  // dry run plans the waves and writes nothing.
  Result<RolloutRun> StartRollout(const Principal& who, const RolloutStartRequest& request);
  Result<RolloutRun> ActOnRollout(const Principal& who, const std::string& id, RolloutAction action,
                                  const std::string& reason);
  Result<RolloutRun> GetRollout(const Principal& who, const std::string& id);
  Result<std::vector<RolloutRun>> ListRollouts(const Principal& who);
  // Announces a commit made outside a write (a rollback): the node feed and
  // the bus's other subscribers hear of it.
  void PublishCommit(std::int64_t revision, const std::vector<std::string>& scopes);
  // One page of the scope's revisions, newest first (api::HistoryQuery);
  // kInvalidArgument for a limit outside 1..kHistoryMaxLimit or a `before`
  // below 1, kNotFound for a scope that has no revisions at all.
  Result<HistoryPage> History(const Principal& who, const std::string& scope,
                              const HistoryQuery& query = {});

  // ---- the freeze switch (api::FreezeState), for incidents
  // While frozen, PutLayer and DeleteLayer (dry runs too) are refused with
  // kFrozen naming who froze, when and why; RevertLayer passes.
  Result<api::FreezeState> GetFreeze(const Principal& who);  // config:read
  // Freezes (rollout:write; a reason is required) or unfreezes; audited as
  // freeze.set / freeze.clear in the change's transaction. Freezing again
  // keeps `since` and records the new reason and principal; unfreezing when
  // not frozen is OK. Returns the state now in force.
  Result<api::FreezeState> SetFreeze(const Principal& who, bool frozen, const std::string& reason);
  // kFrozen while frozen, OK otherwise: what the rollout driver asks before
  // starting a rollout. Cheap (a cached flag, refreshed on every change made
  // through this service and every write's check).
  Status CheckNotFrozen() const;

  // ---- validation and effective config
  // Validates a ConfigLayer or Snapshot document offline-style (no store access).
  Result<std::vector<Diagnostic>> Validate(const Principal& who, const std::string& document);
  Result<EffectiveView> Effective(const Principal& who, const std::string& scope_chain);

  // ---- nodes
  // Nodes with their state (node_state.h), connected or not.
  Result<std::vector<api::Node>> ListNodes(const Principal& who);
  Result<api::Node> GetNode(const Principal& who, const std::string& node_id);
  // Removes a disconnected node's record at once (admin): it leaves the
  // totals and no longer constrains writes. kFailedPrecondition while it is
  // connected, kNotFound when unknown.
  Status ForgetNode(const Principal& who, const std::string& node_id);
  // Forgets the nodes disconnected longer than options.node_expiry (audited
  // as the system) and sets the per-state node gauges. The daemon calls it
  // periodically.
  Status SweepNodes();
  // The node's signed envelope (pull fallback). Node tokens: their own only.
  Result<std::shared_ptr<const SnapshotRecord>> NodeSnapshot(const Principal& who,
                                                             const std::string& node_id,
                                                             const std::string& scope_chain);
  // A snapshot by content id. Node tokens: only snapshots of their own scope
  // chain (`node_chain` when the caller knows it, else the stored node record).
  Result<std::shared_ptr<const SnapshotRecord>> SnapshotByHash(const Principal& who,
                                                               const std::string& hash,
                                                               const std::string& node_chain = "");
  // trusted-keys.json: with key sets (key_sets.h), the newest set's online keys.
  Result<std::string> TrustedKeys(const Principal& who);
  // Key rotation (docs/knowledge-base/signing.md): the stored key-set
  // envelopes after `after_version`, oldest first, and the newest version (0:
  // none). Node tokens and config:read.
  Result<KeySetChain> KeySets(const Principal& who, std::int64_t after_version);
  // Stores `envelope` as the cell's next key set (admin): checked against
  // the newest stored (key_sets.h) and against this replica's signing key.
  Result<std::int64_t> PublishKeySet(const Principal& who, std::string_view envelope);

  // ---- audit, status
  // `follow_up`: a later poll of the same follow request, which is not
  // audited again (a follower would otherwise read its own polls forever).
  // `filter` narrows the entries in the store's query (api::AuditFilter);
  // a filter scope that is not a scope is kInvalidArgument.
  Result<std::vector<AuditEntry>> Audit(const Principal& who, std::int64_t since_ms,
                                        std::int64_t after_id, const AuditFilter& filter = {},
                                        bool follow_up = false);
  // The audit chain walked (audit_chain.h; GET /v1/audit/verify): needs
  // audit:read; audited as "audit.verify".
  Result<api::AuditChainReport> VerifyAudit(const Principal& who);
  Result<StatusSummary> GetStatus(const Principal& who);

  // ---- tokens (admin)
  Result<IssuedToken> CreateToken(const Principal& who, const std::string& name,
                                  const std::vector<std::string>& scopes, std::int64_t ttl_seconds);
  Result<std::vector<TokenRecord>> ListTokens(const Principal& who);
  // `omnirctl login` (POST /v1/login): an OIDC ID token's holder gets a
  // short-lived token of its own name and scopes (Authenticator::Login);
  // audited as "token.login". Needs no scope beyond the mapped ones.
  Result<IssuedToken> Login(const Principal& who, std::int64_t ttl_seconds);
  // Revokes the token `name_or_id` names: its id, else the one live token
  // of that name (a name only revoked tokens had is kConflict "already
  // revoked"). Returns the token as revoked — as it would be, for a dry run,
  // which checks everything and writes nothing. kNotFound for no such token;
  // kConflict for one already revoked; kInvalidArgument for a name several
  // live tokens share (made before names were unique: revoke by id).
  Result<TokenRecord> RevokeToken(const Principal& who, const std::string& name_or_id,
                                  bool dry_run = false);

  // Records a refused request (e.g. 401 before a principal exists).
  void AuditRefusal(std::string_view principal, std::string_view action, std::string_view scope,
                    const Status& why);
  // Writes batched read entries now (tests, shutdown).
  void FlushAudit();

 private:
  // How Write audits and guards a write: plain puts and deletes are refused
  // while frozen; a revert is not, and its audit summary names what it restores.
  struct WriteMode {
    std::string action;  // "layer.put", "layer.delete", "layer.revert"
    bool frozen_refuses = true;
    std::string note;                 // prefixed to the audit summary
    bool force = false;               // past a rollout holding the chain (audited)
    bool allow_large_change = false;  // past max_change_entries (audited)
  };
  Result<WriteOutcome> Write(const Principal& who, const std::string& scope,
                             const std::optional<std::string>& document,
                             std::optional<std::int64_t> expected_revision, bool dry_run,
                             bool confirm, bool allow_unknown_node, const WriteMode& mode);
  // OK when `expected_revision` (absent: any) is the scope's current
  // revision, read now (no read when absent and `current` is null); its
  // kConflict otherwise, or the read's error. `current`, if given, gets the
  // layer read.
  Status CheckCasNow(const std::string& scope, std::optional<std::int64_t> expected_revision,
                     std::optional<LayerRecord>* current = nullptr);
  // Plans one layer write (no CAS, no commit): WriteOutcome's diagnostics,
  // blocked nodes, diff and chains, and the stored layers it validated with.
  // `from_memo`: on the chain's layers as this process last read or wrote
  // them when it remembers them all (no store read); a plan on them that
  // would be refused is made again on layers read now.
  Result<PlannedWrite> PlanLayerWrite(const Scope& scope,
                                      const std::optional<std::string>& document, bool confirm,
                                      bool allow_unknown_node, bool keep_renders,
                                      bool allow_large_change, bool from_memo = false);
  // Shadow-first (rollout_shadow.h): the generated wave's documents, each
  // planned as a write; a dry run adds the nodes that would refuse them to
  // `blocked`.
  Result<std::vector<ShadowLayer>> PlanShadowFirst(const RolloutStartRequest& request,
                                                   double percent,
                                                   std::vector<api::BlockedNode>& blocked);
  AuditEntry Entry(const Principal& who, std::string_view action, std::string_view scope) const;
  // Records `audit` as refused by `why` (its outcome; `note` and the message,
  // cut to 200 bytes, as its summary) and returns `why`.
  Status Refuse(AuditEntry& audit, Status why, std::string_view note = "") const;
  Result<std::vector<api::Node>> NodeViews(std::vector<NodeRecord> records);
  void AuditRead(const Principal& who, std::string_view action, std::string_view scope,
                 std::int64_t revision, const Status& outcome);
  // Runs `read` after the scope check and audits the read whatever its
  // outcome; a success is audited with the revision revision_of(value) names.
  template <typename Read, typename RevisionOf>
  std::invoke_result_t<Read> ReadAudited(const Principal& who, std::string_view needed_scope,
                                         std::string_view action, std::string_view audited_scope,
                                         Read&& read, RevisionOf&& revision_of);
  // Publishes on the bus; a failure is counted and logged, not returned (the
  // commit stands; replicas catch up at the next change).
  void Publish(const ChangeEvent& event);

  Store& store_;
  Bus& bus_;
  const TrustedKeySet& trusted_keys_;
  const Clock& clock_;
  ServiceOptions options_;
  const Authenticator& auth_;
  SnapshotRenderer& renderer_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<PlacementCache> placements_;  // the stored global layer's ScopeMap
  std::unique_ptr<PlanMemo> plan_memo_;         // parsed layers and renders across writes
  std::unique_ptr<FreezeSwitch> freeze_;        // the stored freeze, cached
  Counter& writes_;
  Counter& conflicts_;
  Counter& write_replans_;
  Counter& validation_failures_;
  Counter& publish_failures_;
  Counter& nodes_expired_;
  std::vector<Gauge*> node_state_gauges_;  // one per api::kNodeStates entry
  RolloutEngine* rollouts_ = nullptr;      // set once, before the faces start
};

}  // namespace omnirelay::cp
