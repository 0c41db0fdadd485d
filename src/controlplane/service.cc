#include "omnirelay/controlplane/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "api_json.h"
#include "audit_log.h"
#include "freeze_switch.h"
#include "omnirelay/config/capability.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/scope_map.h"
#include "placement_cache.h"
#include "rollout_engine.h"
#include "service_read.h"
#include "service_write.h"
#include "write_plan.h"

namespace omnirelay::cp {

ControlPlaneService::ControlPlaneService(Store& store, Bus& bus, const Authenticator& auth,
                                         SnapshotRenderer& renderer,
                                         const TrustedKeySet& trusted_keys, const Clock& clock,
                                         MetricsRegistry& metrics, ServiceOptions options)
    : store_(store),
      bus_(bus),
      trusted_keys_(trusted_keys),
      clock_(clock),
      options_(options),
      auth_(auth),
      renderer_(renderer),
      audit_(std::make_unique<AuditLog>(store, metrics)),
      placements_(std::make_unique<PlacementCache>(store)),
      plan_memo_(std::make_unique<PlanMemo>()),
      freeze_(std::make_unique<FreezeSwitch>(store, clock)),
      writes_(metrics.counter("omnirelay_cp_layer_writes_total", "Layer writes committed")),
      conflicts_(metrics.counter("omnirelay_cp_cas_conflicts_total",
                                 "Layer writes refused by a CAS conflict")),
      write_replans_(metrics.counter(
          "omnirelay_cp_write_replans_total",
          "Layer writes planned again because a chain layer they were validated with changed "
          "before their commit")),
      validation_failures_(metrics.counter("omnirelay_cp_validation_failures_total",
                                           "Layer writes refused by validation or guardrails")),
      publish_failures_(
          metrics.counter("omnirelay_cp_bus_publish_failures_total", kBusPublishFailuresHelp)),
      nodes_expired_(metrics.counter("omnirelay_cp_nodes_expired_total",
                                     "Disconnected nodes forgotten after the node expiry")) {
  for (const char* state : api::kNodeStates) {
    node_state_gauges_.push_back(&metrics.gauge("omnirelay_cp_nodes",
                                                "Nodes by state (set by the periodic node sweep)",
                                                std::string("state=\"") + state + "\""));
  }
  if (auto freeze = freeze_->Current(); !freeze.ok()) {
    spdlog::warn("freeze: cannot read the stored freeze switch (writes check it again): {}",
                 freeze.status().ToString());
  }
  metrics.gauge_fn("omnirelay_cp_head_revision", "Newest store revision", [this] {
    auto head = store_.HeadRevision();
    return head.ok() ? static_cast<double>(*head) : -1.0;
  });
}

ControlPlaneService::~ControlPlaneService() = default;

AuditEntry ControlPlaneService::Entry(const Principal& who, std::string_view action,
                                      std::string_view scope) const {
  AuditEntry e;
  e.time_ms = clock_.NowUnixMs();
  e.principal = who.name;
  e.token_id = who.token_id;
  e.action = std::string(action);
  e.scope = std::string(scope);
  return e;
}

Status ControlPlaneService::Refuse(AuditEntry& audit, Status why, std::string_view note) const {
  audit.outcome = Outcome(why);
  audit.summary = (std::string(note) + why.message()).substr(0, 200);
  audit_->RecordNow(audit);
  return why;
}

void ControlPlaneService::AuditRead(const Principal& who, std::string_view action,
                                    std::string_view scope, std::int64_t revision,
                                    const Status& outcome) {
  AuditEntry e = Entry(who, action, scope);
  e.revision = revision;
  e.outcome = Outcome(outcome);
  if (!outcome.ok()) e.summary = outcome.message().substr(0, 200);
  audit_->Record(std::move(e));
}

void ControlPlaneService::AuditRefusal(std::string_view principal, std::string_view action,
                                       std::string_view scope, const Status& why) {
  AuditEntry e;
  e.time_ms = clock_.NowUnixMs();
  e.principal = std::string(principal);
  e.action = std::string(action);
  e.scope = std::string(scope);
  e.outcome = Outcome(why);
  e.summary = why.message().substr(0, 200);
  audit_->Record(std::move(e));
}

void ControlPlaneService::FlushAudit() {
  audit_->Flush();
}

void ControlPlaneService::Publish(const ChangeEvent& event) {
  Status published = bus_.Publish(event);
  if (published.ok()) return;
  publish_failures_.Inc();
  const std::string what =
      event.revision > 0 ? "revision " + std::to_string(event.revision)
                         : std::to_string(event.revoked_tokens.size()) + " token revocation(s)";
  spdlog::warn(
      "bus: change event ({}) not published; other replicas miss it until a later "
      "event: {}",
      what, published.ToString());
}

Result<std::vector<ScopeSummary>> ControlPlaneService::ListLayers(const Principal& who) {
  auto list = [&]() -> Result<std::vector<ScopeSummary>> {
    OMNI_ASSIGN_OR_RETURN(auto layers, store_.ListLayers());
    std::vector<ScopeSummary> out;
    for (auto& l : layers) out.push_back({l.scope, l.revision, l.updated_at_ms, l.author});
    return out;
  };
  return ReadAudited(who, kScopeConfigRead, "layer.list", "", list, kNoRevision);
}

Result<LayerRecord> ControlPlaneService::GetLayer(const Principal& who, const std::string& scope,
                                                  std::optional<std::int64_t> revision) {
  auto get = [&]() -> Result<LayerRecord> {
    if (auto s = ParseScope(scope); !s.ok()) return s.status();
    return store_.GetLayer(scope, revision);
  };
  return ReadAudited(who, kScopeConfigRead, "layer.get", scope, get,
                     [](const LayerRecord& layer) { return layer.revision; });
}

Result<HistoryPage> ControlPlaneService::History(const Principal& who, const std::string& scope,
                                                 const HistoryQuery& query) {
  auto get = [&]() -> Result<HistoryPage> {
    if (auto s = ParseScope(scope); !s.ok()) return s.status();
    const std::int64_t limit = query.limit.value_or(api::kHistoryDefaultLimit);
    if (limit < 1 || limit > api::kHistoryMaxLimit) {
      return Status(StatusCode::kInvalidArgument, "limit must be 1.." +
                                                      std::to_string(api::kHistoryMaxLimit) +
                                                      ", got " + std::to_string(limit));
    }
    if (query.before && *query.before < 1) {
      return Status(StatusCode::kInvalidArgument,
                    "before must be a revision (1 or more), got " + std::to_string(*query.before));
    }
    // One row past the page says whether an older page exists.
    OMNI_ASSIGN_OR_RETURN(auto history, store_.History(scope, query.before.value_or(0),
                                                       static_cast<std::size_t>(limit) + 1));
    if (history.empty()) {
      auto any = query.before ? store_.History(scope, 0, 1) : history;
      if (!any.ok()) return any.status();
      if (any->empty()) {
        // A typo must not look like a scope that was never changed.
        std::string known;
        if (auto layers = store_.ListLayers(); layers.ok()) {
          for (const auto& l : *layers) known += (known.empty() ? "" : ", ") + l.scope;
        }
        return Status(StatusCode::kNotFound,
                      "scope \"" + scope + "\" has no revisions" +
                          (known.empty() ? "" : " (scopes with a layer: " + known + ")"));
      }
    }
    HistoryPage page;
    page.scope = scope;
    const bool more = history.size() > static_cast<std::size_t>(limit);
    if (more) history.resize(static_cast<std::size_t>(limit));
    // The page lists revisions, not documents.
    for (const auto& r : history) page.revisions.push_back(ToApi(r));
    if (more) page.next_before = history.back().revision;
    return page;
  };
  return ReadAudited(who, kScopeConfigRead, "layer.history", scope, get, kNoRevision);
}

Result<WriteOutcome> ControlPlaneService::PutLayer(const Principal& who, const std::string& scope,
                                                   const std::string& document,
                                                   std::optional<std::int64_t> expected_revision,
                                                   bool dry_run, bool confirm,
                                                   bool allow_unknown_node, bool force,
                                                   bool allow_large_change) {
  return Write(who, scope, document, expected_revision, dry_run, confirm, allow_unknown_node,
               {"layer.put", true, "", force, allow_large_change});
}

Result<WriteOutcome> ControlPlaneService::DeleteLayer(const Principal& who,
                                                      const std::string& scope,
                                                      std::optional<std::int64_t> expected_revision,
                                                      bool dry_run, bool confirm, bool force,
                                                      bool allow_large_change) {
  return Write(who, scope, std::nullopt, expected_revision, dry_run, confirm, false,
               {"layer.delete", true, "", force, allow_large_change});
}

Result<WriteOutcome> ControlPlaneService::Write(const Principal& who, const std::string& scope_text,
                                                const std::optional<std::string>& document,
                                                std::optional<std::int64_t> expected_revision,
                                                bool dry_run, bool confirm, bool allow_unknown_node,
                                                const WriteMode& mode) {
  AuditEntry audit = Entry(who, dry_run ? mode.action + ".dry_run" : mode.action, scope_text);
  auto refuse = [&](Status why) { return Refuse(audit, std::move(why), mode.note); };
  if (Status denied = Require(who, kScopeConfigWrite); !denied.ok()) return refuse(denied);
  auto scope = ParseScope(scope_text);
  if (!scope.ok()) return refuse(scope.status());
  const char* what = document ? "a layer write" : "a layer delete";
  // The store refuses a real write in its own transaction (below), so a
  // freeze set through another replica counts at once without a read here
  // (until this replica's cache knows of it, within a second, such a write
  // is refused at its commit, after its other checks). A dry run, or a
  // freeze this replica knows of, is said before anything else, read from
  // the store first, so an unfreeze made elsewhere is never missed.
  if (mode.frozen_refuses && (dry_run || freeze_->Recent().frozen)) {
    auto freeze = freeze_->Current();
    if (!freeze.ok()) return refuse(freeze.status());
    if (Status frozen = FreezeSwitch::Refusal(*freeze, what); !frozen.ok()) return refuse(frozen);
  }
  if (document && document->find_first_not_of(" \t\r\n") == std::string::npos) {
    // Said plainly: a PUT without a body is a mistake of the request (an
    // empty file, a lost pipe), not a document to decode.
    const std::string why =
        "empty body: send a ConfigLayer JSON document ({\"apiVersion\": "
        "\"omnirelay.config/v1\", \"kind\": \"ConfigLayer\", \"metadata\": {\"scope\": \"" +
        scope_text + "\"}, \"spec\": {...}}); to remove the layer, DELETE it";
    return refuse(Status(StatusCode::kInvalid, why, {{"", DiagCode::kParseError, why}}));
  }

  // A dry run answers the layer it would replace (so `config diff` needs no
  // read of its own), and what the real write would: a stale expectation is
  // a conflict.
  std::optional<LayerRecord> current;
  if (dry_run) {
    if (Status cas = CheckCasNow(scope_text, expected_revision, &current); !cas.ok()) {
      if (cas.code() == StatusCode::kConflict) conflicts_.Inc();
      return refuse(cas);
    }
  }
  // The store applies the write only while the chain's layers it was
  // validated with are still current (LayerWrite::checked_layers): one that
  // finds a layer moved (another write landed in between, here or through
  // another replica) is planned again on layers read now, up to
  // kWriteAttempts plans. The first plan of a real write uses the layers
  // this process last read or wrote, when it remembers them all (no store
  // read: the common case of a writer that wrote last).
  constexpr int kWriteAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    auto planned = PlanLayerWrite(*scope, document, confirm, allow_unknown_node, !dry_run,
                                  mode.allow_large_change, /*from_memo=*/!dry_run && attempt == 1);
    if (!planned.ok()) return refuse(planned.status());
    WriteOutcome& outcome = planned->outcome;
    outcome.dry_run = dry_run;
    if (current) {
      outcome.current_revision = current->revision;
      outcome.current_document = std::move(current->document);
    }
    audit.summary =
        mode.note + LargeChangeNote(*planned, options_.max_change_entries) + outcome.diff_summary;
    // A rollout holds the chains it stages (DESIGN.md §4 Rollouts): a plain
    // write there would reach nodes the rollout keeps back.
    if (rollouts_ != nullptr) {
      const std::string holder = rollouts_->HolderOf({scope_text}, outcome.chains_checked);
      if (!holder.empty() && !mode.force) {
        return refuse(
            Status(StatusCode::kRolloutInProgress,
                   "rollout " + holder +
                       " holds a chain this write touches; wait for it, roll it back or abort "
                       "it, or write anyway with omnirctl config set|delete --force (REST "
                       "?force=true, gRPC force)"));
      }
      if (!holder.empty()) audit.summary += " (forced past rollout " + holder + ")";
    }

    if (dry_run) {
      audit.outcome =
          outcome.diagnostics.empty() && outcome.blocked_nodes.empty() ? "ok" : "invalid";
      audit_->Record(audit);
      return outcome;
    }
    if (Status refused = PlanRefusal(outcome, planned->failing_chain); !refused.ok()) {
      validation_failures_.Inc();
      return refuse(refused);
    }

    LayerWrite write;
    write.scope = scope_text;
    write.document = document;
    write.expected_revision = expected_revision;
    write.author = who.name;
    write.now_ms = clock_.NowUnixMs();
    write.audit = audit;
    write.audit.outcome = "ok";
    if (mode.frozen_refuses) write.refused_by_setting = kFreezeSettingKey;
    write.checked_layers = std::move(planned->checked);
    auto revision = store_.WriteLayer(write);
    if (!revision.ok()) {
      if (revision.status().code() == StatusCode::kConflict && !write.checked_layers.empty()) {
        // The CAS is final; a checked layer that moved is planned again, and
        // after the last plan its conflict is the answer (not a CAS one).
        Status cas = CheckCasNow(scope_text, expected_revision);
        if (!cas.ok()) {
          if (cas.code() == StatusCode::kConflict) conflicts_.Inc();
          return refuse(cas);
        }
        if (attempt < kWriteAttempts) {
          write_replans_.Inc();
          continue;
        }
        return refuse(revision.status());
      }
      if (revision.status().code() == StatusCode::kConflict) conflicts_.Inc();
      if (revision.status().code() == StatusCode::kFrozen) {
        return refuse(FreezeSwitch::RefusalOfStored(revision.status().message(), what));
      }
      return refuse(revision.status());
    }
    writes_.Inc();
    plan_memo_->Remember(scope_text, *revision, planned->written);
    outcome.revision = *revision;
    // The written layer's content id, hashed once by the plan.
    std::string content_id;
    if (document)
      content_id = planned->written ? planned->written->content_id : ContentId(*document);
    Publish(ChangeEvent{*revision, {scope_text}, {std::move(content_id)}, {}});
    return outcome;
  }
}

Status ControlPlaneService::CheckCasNow(const std::string& scope,
                                        std::optional<std::int64_t> expected_revision,
                                        std::optional<LayerRecord>* current) {
  if (!expected_revision && current == nullptr) return Status::Ok();
  auto read = store_.GetLayer(scope);
  if (!read.ok() && read.status().code() != StatusCode::kNotFound) return read.status();
  std::optional<std::int64_t> at;
  if (read.ok()) at = read->revision;
  if (read.ok() && current != nullptr) *current = std::move(read).value();
  return CheckExpectedRevision(scope, at, expected_revision);
}

Result<std::vector<Diagnostic>> ControlPlaneService::Validate(const Principal& who,
                                                              const std::string& document) {
  auto validate = [&]() -> Result<std::vector<Diagnostic>> {
    DocumentSetReport report = ValidateDocuments({{"request", document}});
    std::vector<Diagnostic> out;
    for (auto& e : report.errors) out.push_back(std::move(e.diagnostic));
    return out;
  };
  return ReadAudited(who, kScopeConfigRead, "validate", "", validate, kNoRevision);
}

Result<EffectiveView> ControlPlaneService::Effective(const Principal& who,
                                                     const std::string& scope_chain) {
  auto effective = [&]() -> Result<EffectiveView> {
    OMNI_ASSIGN_OR_RETURN(auto chain, ParseScopeChain(scope_chain));
    // Only a chain the topology forms has an effective config (a typo in a
    // scope name is an error, not an empty layer).
    const std::string node = NodeIdOf(chain);
    OMNI_RETURN_IF_ERROR(placements_->CheckNodeChain(chain, node));
    OMNI_ASSIGN_OR_RETURN(EffectiveConfig e, renderer_.Effective(chain));
    return EffectiveView{e.version, std::move(e.spec_json), std::move(e.features)};
  };
  return ReadAudited(who, kScopeConfigRead, "effective", scope_chain, effective,
                     [](const EffectiveView& view) { return view.version; });
}

Result<std::shared_ptr<const SnapshotRecord>> ControlPlaneService::NodeSnapshot(
    const Principal& who, const std::string& node_id, const std::string& scope_chain) {
  const std::string scope = "node:" + node_id;
  Status allowed = who.node_id() == node_id ? Status::Ok() : Require(who, kScopeConfigRead);
  if (!allowed.ok()) {
    AuditRead(who, "node.snapshot", scope, 0, allowed);
    return allowed;
  }
  auto fetch = [&]() -> Result<std::shared_ptr<const SnapshotRecord>> {
    std::string chain_text = scope_chain;
    // What its last hello advertised: a node that reads metadata.rollout is
    // answered what its stream sends it (a rollout-labelled rendering).
    bool reads_rollout = false;
    if (chain_text.empty() || rollouts_ != nullptr) {
      auto node = store_.GetNode(node_id);
      if (node.ok()) {
        reads_rollout = HasFeature(node->features, kFeatureRolloutInfo);
        if (chain_text.empty()) chain_text = node->scope_chain;
      } else if (node.status().code() != StatusCode::kNotFound) {
        return node.status();
      } else if (chain_text.empty()) {
        return Status(StatusCode::kNotFound, "node \"" + node_id +
                                                 "\" has not said hello yet; pass its scope "
                                                 "chain with ?chain=global,region:...");
      }
    }
    auto chain = ParseScopeChain(chain_text);
    if (!chain.ok()) return chain.status();
    // The pull fallback answers only what the stream would: a chain the
    // topology places (DESIGN.md §3.1), with this node's node scope if any.
    OMNI_RETURN_IF_ERROR(placements_->CheckNodeChain(*chain, node_id));
    auto current = renderer_.Current(*chain);
    if (!current.ok() || rollouts_ == nullptr) return current;
    // What the stream would send it: a rollout may hold it on an older one.
    auto assigned = rollouts_->Assigned(node_id, *chain, *current, reads_rollout);
    if (!assigned) {
      return Status(StatusCode::kNotFound,
                    "no snapshot is assigned to node \"" + node_id + "\" yet");
    }
    return assigned;
  };
  auto result = fetch();
  AuditRead(who, "node.snapshot", scope, result.ok() ? (*result)->version : 0, result.status());
  return result;
}

Result<std::shared_ptr<const SnapshotRecord>> ControlPlaneService::SnapshotByHash(
    const Principal& who, const std::string& hash, const std::string& node_chain) {
  Status allowed = who.Has(kScopeNode) ? Status::Ok() : Require(who, kScopeConfigRead);
  if (!allowed.ok()) {
    AuditRead(who, "snapshot.fetch", "", 0, allowed);
    return allowed;
  }
  auto record = store_.GetSnapshot(hash);
  if (record.ok() && !who.Has(kScopeConfigRead)) {
    // A node token reads only snapshots of its own node's scope chain.
    std::string chain = node_chain;
    if (chain.empty()) {
      auto node = store_.GetNode(who.node_id());
      if (node.ok()) chain = node->scope_chain;
    }
    if (chain != record->scope_chain) {
      record = Status(StatusCode::kPermissionDenied, "snapshot " + hash + " is not for node \"" +
                                                         std::string(who.node_id()) + "\"");
    }
  }
  AuditRead(who, "snapshot.fetch", "", record.ok() ? record->version : 0, record.status());
  if (!record.ok()) return record.status();
  return std::make_shared<const SnapshotRecord>(std::move(record).value());
}

Result<std::vector<AuditEntry>> ControlPlaneService::Audit(const Principal& who,
                                                           std::int64_t since_ms,
                                                           std::int64_t after_id,
                                                           const AuditFilter& filter,
                                                           bool follow_up) {
  if (Status denied = Require(who, kScopeAuditRead); !denied.ok()) {
    AuditRead(who, "audit.query", "", 0, denied);
    return denied;
  }
  if (!filter.scope.empty()) {
    if (auto scope = ParseScope(filter.scope); !scope.ok()) {
      Status bad(StatusCode::kInvalidArgument, "scope filter: " + scope.status().message());
      if (!follow_up) AuditRead(who, "audit.query", "", 0, bad);
      return bad;
    }
  }
  audit_->Flush();  // a reader sees every read audited before its query
  auto entries = store_.QueryAudit(since_ms, after_id, options_.audit_limit, filter);
  if (!follow_up) AuditRead(who, "audit.query", "", 0, entries.status());
  return entries;
}

Result<api::AuditChainReport> ControlPlaneService::VerifyAudit(const Principal& who) {
  if (Status denied = Require(who, kScopeAuditRead); !denied.ok()) {
    AuditRead(who, "audit.verify", "", 0, denied);
    return denied;
  }
  audit_->Flush();  // the walk covers every entry recorded so far
  auto report = store_.VerifyAuditChain();
  AuditRead(who, "audit.verify", "", 0, report.status());
  return report;
}

Result<IssuedToken> ControlPlaneService::CreateToken(const Principal& who, const std::string& name,
                                                     const std::vector<std::string>& scopes,
                                                     std::int64_t ttl_seconds) {
  AuditEntry audit = Entry(who, "token.create", "");
  audit.outcome = "ok";
  if (Status denied = Require(who, kScopeAdmin); !denied.ok()) {
    AuditRead(who, "token.create", "", 0, denied);
    return denied;
  }
  auto issued = auth_.Issue(name, scopes, ttl_seconds, audit);
  if (!issued.ok()) AuditRead(who, "token.create", "", 0, issued.status());
  return issued;
}

Result<IssuedToken> ControlPlaneService::Login(const Principal& who, std::int64_t ttl_seconds) {
  AuditEntry audit = Entry(who, "token.login", "");
  audit.outcome = "ok";
  auto issued = auth_.Login(who, ttl_seconds, audit);
  if (!issued.ok()) AuditRead(who, "token.login", "", 0, issued.status());
  return issued;
}

Result<std::vector<TokenRecord>> ControlPlaneService::ListTokens(const Principal& who) {
  auto list = [&]() -> Result<std::vector<TokenRecord>> {
    auto tokens = store_.ListTokens();
    if (!tokens.ok()) return tokens.status();
    for (auto& t : *tokens) t.secret_hash.clear();  // never leaves the store
    return tokens;
  };
  return ReadAudited(who, kScopeAdmin, "token.list", "", list, kNoRevision);
}

namespace {

// The token `name_or_id` names (ControlPlaneService::RevokeToken).
Result<TokenRecord> FindToken(const std::vector<TokenRecord>& tokens,
                              const std::string& name_or_id) {
  for (const auto& t : tokens) {
    if (t.id == name_or_id) return t;
  }
  std::vector<const TokenRecord*> live, revoked;
  for (const auto& t : tokens) {
    if (t.name == name_or_id) (t.revoked_at_ms == 0 ? live : revoked).push_back(&t);
  }
  if (live.size() == 1) return *live.front();
  if (live.size() > 1) {
    std::string ids;
    for (const TokenRecord* t : live) ids += (ids.empty() ? "" : ", ") + t->id;
    return Status(StatusCode::kInvalidArgument, "several live tokens are named \"" + name_or_id +
                                                    "\" (" + ids + "): revoke one by its id");
  }
  if (!revoked.empty()) return *revoked.back();
  return Status(StatusCode::kNotFound, "no token has the id or name \"" + name_or_id + "\"");
}

}  // namespace

Result<TokenRecord> ControlPlaneService::RevokeToken(const Principal& who,
                                                     const std::string& name_or_id, bool dry_run) {
  const std::string action = dry_run ? "token.revoke.dry_run" : "token.revoke";
  if (Status denied = Require(who, kScopeAdmin); !denied.ok()) {
    AuditRead(who, action, "", 0, denied);
    return denied;
  }
  auto refuse = [&](Status why) -> Status {
    AuditEntry e = Entry(who, action, "");
    e.outcome = Outcome(why);
    e.summary = ("token " + name_or_id + ": " + why.message()).substr(0, 200);
    audit_->RecordNow(std::move(e));
    return why;
  };
  auto tokens = store_.ListTokens();
  if (!tokens.ok()) return refuse(tokens.status());
  auto found = FindToken(*tokens, name_or_id);
  if (!found.ok()) return refuse(found.status());
  TokenRecord token = std::move(found).value();
  token.secret_hash.clear();  // never leaves the store
  if (token.revoked_at_ms != 0) {
    return refuse(Status(StatusCode::kConflict,
                         "token " + token.id + " (" + token.name + ") is already revoked"));
  }
  const std::int64_t now = clock_.NowUnixMs();
  AuditEntry audit = Entry(who, action, "");
  audit.outcome = "ok";
  audit.summary = "token " + token.id + " (" + token.name + ")";
  if (dry_run) {
    audit_->Record(std::move(audit));
    return token;
  }
  if (Status s = store_.RevokeToken(token.id, now, audit); !s.ok()) return refuse(s);
  auth_.Forget({token.id});  // refused here from the next request on
  token.revoked_at_ms = now;
  ChangeEvent revoked;
  revoked.revoked_tokens.push_back(token.id);
  Publish(revoked);  // ends the node streams opened with it
  return token;
}

}  // namespace omnirelay::cp
