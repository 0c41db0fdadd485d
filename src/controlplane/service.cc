#include "omnirelay/controlplane/service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <set>

#include "audit_log.h"
#include "omnirelay/config/digest.h"
#include "omnirelay/config/document_set.h"
#include "omnirelay/config/scope.h"
#include "write_plan.h"

namespace omnirelay::cp {
namespace {

std::string Outcome(const Status& s) {
  return s.ok() ? "ok" : std::string(s.code_name());
}

// For reads whose audit entry names no revision.
constexpr auto kNoRevision = [](const auto&) -> std::int64_t { return 0; };

// The scope chains a write to `scope` must keep valid: the scope on top of
// global; every chain a known node uses that contains the scope, and each of
// its prefixes that does (a node with that shorter chain would get it); and,
// for a write to global, every stored region layer on top of global — the
// first chain a region's first node will use, even before any node exists.
// (Deeper stored layers are only checked through node chains: which region
// a cell or cluster belongs to is known only from the nodes.)
std::vector<std::vector<Scope>> AffectedChains(const Scope& scope,
                                               const std::vector<NodeProfile>& nodes,
                                               const std::vector<LayerRecord>& layers) {
  std::vector<std::vector<Scope>> chains;
  std::set<std::string> seen;
  auto add = [&](std::vector<Scope> chain) {
    if (seen.insert(ScopeChainToString(chain)).second) chains.push_back(std::move(chain));
  };
  std::vector<Scope> base{Scope{ScopeLevel::kGlobal, ""}};
  if (scope.level != ScopeLevel::kGlobal) base.push_back(scope);
  add(base);
  for (const auto& node : nodes) {
    auto chain = ParseScopeChain(node.scope_chain);
    if (!chain.ok()) continue;
    auto at = std::find(chain->begin(), chain->end(), scope);
    if (at == chain->end()) continue;
    for (auto end = at + 1; end <= chain->end(); ++end) {
      add(std::vector<Scope>(chain->begin(), end));
    }
  }
  if (scope.level == ScopeLevel::kGlobal) {
    for (const auto& layer : layers) {
      auto stored = ParseScope(layer.scope);
      if (stored.ok() && stored->level == ScopeLevel::kRegion) add({scope, *stored});
    }
  }
  return chains;
}

// What PlanWrite needs from the store: the fleet by profile (chain, api
// version, features — a cost that does not grow with the number of nodes),
// the chains the write affects, and the stored layer of every scope on them.
Result<WritePlanInput> GatherWriteInput(Store& store, const Scope& scope,
                                        const std::optional<std::string>& document, bool confirm) {
  WritePlanInput input;
  input.scope = scope;
  input.document = document;
  input.confirm = confirm;
  OMNI_ASSIGN_OR_RETURN(input.profiles, store.NodeProfiles());
  std::vector<LayerRecord> layers;
  if (scope.level == ScopeLevel::kGlobal) {
    OMNI_ASSIGN_OR_RETURN(layers, store.ListLayers());
  }
  input.chains = AffectedChains(scope, input.profiles, layers);
  for (const auto& chain : input.chains) {
    for (const Scope& member : chain) {
      const std::string name = member.ToString();
      if (input.current_layers.count(name) > 0) continue;
      auto layer = store.GetLayer(name);
      if (layer.ok()) {
        input.current_layers.emplace(name, std::move(layer->document));
      } else if (layer.status().code() != StatusCode::kNotFound) {
        return layer.status();
      }
    }
  }
  return input;
}

}  // namespace

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
      writes_(metrics.counter("omnirelay_cp_layer_writes_total", "Layer writes committed")),
      conflicts_(metrics.counter("omnirelay_cp_cas_conflicts_total",
                                 "Layer writes refused by a CAS conflict")),
      validation_failures_(metrics.counter("omnirelay_cp_validation_failures_total",
                                           "Layer writes refused by validation or guardrails")),
      publish_failures_(metrics.counter("omnirelay_cp_bus_publish_failures_total",
                                        "Change events the bus refused to publish")) {
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

template <typename Read, typename RevisionOf>
std::invoke_result_t<Read> ControlPlaneService::ReadAudited(const Principal& who,
                                                            std::string_view needed_scope,
                                                            std::string_view action,
                                                            std::string_view audited_scope,
                                                            Read&& read, RevisionOf&& revision_of) {
  if (Status denied = Require(who, needed_scope); !denied.ok()) {
    AuditRead(who, action, audited_scope, 0, denied);
    return denied;
  }
  std::invoke_result_t<Read> result = read();
  AuditRead(who, action, audited_scope, result.ok() ? revision_of(*result) : 0, result.status());
  return result;
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

Result<std::vector<RevisionRecord>> ControlPlaneService::History(const Principal& who,
                                                                 const std::string& scope) {
  auto get = [&]() -> Result<std::vector<RevisionRecord>> {
    if (auto s = ParseScope(scope); !s.ok()) return s.status();
    auto history = store_.History(scope, options_.history_limit);
    if (!history.ok()) return history.status();
    for (auto& r : *history) r.document.clear();  // history lists revisions, not documents
    return history;
  };
  return ReadAudited(who, kScopeConfigRead, "layer.history", scope, get, kNoRevision);
}

Result<WriteOutcome> ControlPlaneService::PutLayer(const Principal& who, const std::string& scope,
                                                   const std::string& document,
                                                   std::optional<std::int64_t> expected_revision,
                                                   bool dry_run, bool confirm) {
  return Write(who, scope, document, expected_revision, dry_run, confirm);
}

Result<WriteOutcome> ControlPlaneService::DeleteLayer(const Principal& who,
                                                      const std::string& scope,
                                                      std::optional<std::int64_t> expected_revision,
                                                      bool dry_run, bool confirm) {
  return Write(who, scope, std::nullopt, expected_revision, dry_run, confirm);
}

Result<WriteOutcome> ControlPlaneService::Write(const Principal& who, const std::string& scope_text,
                                                const std::optional<std::string>& document,
                                                std::optional<std::int64_t> expected_revision,
                                                bool dry_run, bool confirm) {
  const std::string action = document ? "layer.put" : "layer.delete";
  AuditEntry audit = Entry(who, dry_run ? action + ".dry_run" : action, scope_text);
  auto refuse = [&](Status why) -> Status {
    audit.outcome = Outcome(why);
    audit.summary = why.message().substr(0, 200);
    audit_->Record(audit);
    return why;
  };
  if (Status denied = Require(who, kScopeConfigWrite); !denied.ok()) return refuse(denied);
  auto scope = ParseScope(scope_text);
  if (!scope.ok()) return refuse(scope.status());

  auto input = GatherWriteInput(store_, *scope, document, confirm);
  if (!input.ok()) return refuse(input.status());
  auto plan = PlanWrite(*input);
  if (!plan.ok()) {
    if (plan.status().code() == StatusCode::kInvalid) validation_failures_.Inc();
    return refuse(plan.status());
  }
  WriteOutcome outcome;
  outcome.dry_run = dry_run;
  outcome.diagnostics = std::move(plan->diagnostics);
  outcome.diff_summary = std::move(plan->diff_summary);
  for (const auto& chain : plan->chains) outcome.chains_checked.push_back(chain.chain);
  for (const auto& blocked : plan->blocked) {
    auto ids = store_.NodesWithProfile(blocked.profile);
    if (!ids.ok()) return refuse(ids.status());
    for (auto& id : *ids)
      outcome.blocked_nodes.push_back({std::move(id), blocked.chain, blocked.reason});
  }
  audit.summary = outcome.diff_summary;

  if (dry_run) {
    audit.outcome = outcome.diagnostics.empty() && outcome.blocked_nodes.empty() ? "ok" : "invalid";
    audit_->Record(audit);
    return outcome;
  }
  if (!outcome.diagnostics.empty()) {
    validation_failures_.Inc();
    const std::size_t n = outcome.diagnostics.size();
    const bool destructive =
        std::any_of(outcome.diagnostics.begin(), outcome.diagnostics.end(),
                    [](const Diagnostic& d) { return d.code == DiagCode::kDestructiveChange; });
    return refuse(Status(StatusCode::kInvalid,
                         "the write would leave " + std::to_string(n) +
                             (n == 1 ? " problem" : " problems") +
                             (destructive ? " (a destructive change needs confirm)" : ""),
                         std::move(outcome.diagnostics)));
  }
  if (!outcome.blocked_nodes.empty()) {
    validation_failures_.Inc();
    std::string msg = std::to_string(outcome.blocked_nodes.size()) +
                      " node(s) lack a capability the new config needs: ";
    for (std::size_t i = 0; i < outcome.blocked_nodes.size() && i < 5; ++i) {
      if (i > 0) msg += "; ";
      msg += outcome.blocked_nodes[i].node_id + " (" + outcome.blocked_nodes[i].reason + ")";
    }
    return refuse(Status(StatusCode::kMissingFeature, msg));
  }

  LayerWrite write;
  write.scope = scope_text;
  write.document = document;
  write.expected_revision = expected_revision;
  write.author = who.name;
  write.now_ms = clock_.NowUnixMs();
  write.audit = audit;
  write.audit.outcome = "ok";
  auto revision = store_.WriteLayer(write);
  if (!revision.ok()) {
    if (revision.status().code() == StatusCode::kConflict) conflicts_.Inc();
    return refuse(revision.status());
  }
  writes_.Inc();
  outcome.revision = *revision;
  Publish(ChangeEvent{*revision, {scope_text}, {document ? ContentId(*document) : ""}, {}});
  return outcome;
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
    OMNI_ASSIGN_OR_RETURN(EffectiveConfig e, renderer_.Effective(chain));
    return EffectiveView{e.version, std::move(e.spec_json), std::move(e.features)};
  };
  return ReadAudited(who, kScopeConfigRead, "effective", scope_chain, effective,
                     [](const EffectiveView& view) { return view.version; });
}

Result<std::vector<NodeRecord>> ControlPlaneService::ListNodes(const Principal& who) {
  return ReadAudited(
      who, kScopeConfigRead, "node.list", "", [&] { return store_.ListNodes(); }, kNoRevision);
}

Result<NodeRecord> ControlPlaneService::GetNode(const Principal& who, const std::string& node_id) {
  return ReadAudited(
      who, kScopeConfigRead, "node.get", "node:" + node_id, [&] { return store_.GetNode(node_id); },
      kNoRevision);
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
    if (chain_text.empty()) {
      auto node = store_.GetNode(node_id);
      if (!node.ok()) {
        if (node.status().code() != StatusCode::kNotFound) return node.status();
        return Status(StatusCode::kNotFound, "node \"" + node_id +
                                                 "\" has not said hello yet; pass its scope "
                                                 "chain with ?chain=global,region:...");
      }
      chain_text = node->scope_chain;
    }
    auto chain = ParseScopeChain(chain_text);
    if (!chain.ok()) return chain.status();
    return renderer_.Current(*chain);
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

Result<std::string> ControlPlaneService::TrustedKeys(const Principal& who) {
  Status allowed = who.Has(kScopeNode) ? Status::Ok() : Require(who, kScopeConfigRead);
  AuditRead(who, "keys.get", "", 0, allowed);
  if (!allowed.ok()) return allowed;
  return trusted_keys_.ToJson();
}

Result<std::vector<AuditEntry>> ControlPlaneService::Audit(const Principal& who,
                                                           std::int64_t since_ms,
                                                           std::int64_t after_id, bool follow_up) {
  if (Status denied = Require(who, kScopeAuditRead); !denied.ok()) {
    AuditRead(who, "audit.query", "", 0, denied);
    return denied;
  }
  audit_->Flush();  // a reader sees every read audited before its query
  auto entries = store_.QueryAudit(since_ms, after_id, options_.audit_limit);
  if (!follow_up) AuditRead(who, "audit.query", "", 0, entries.status());
  return entries;
}

Result<StatusSummary> ControlPlaneService::GetStatus(const Principal& who) {
  auto status = [&]() -> Result<StatusSummary> {
    StatusSummary out;
    OMNI_ASSIGN_OR_RETURN(out.head_revision, store_.HeadRevision());
    OMNI_ASSIGN_OR_RETURN(auto nodes, store_.ListNodes());
    std::map<std::int64_t, std::size_t> by_version;
    for (const auto& n : nodes) {
      ++out.nodes_total;
      if (n.connected) ++out.nodes_connected;
      if (n.applied_version != n.assigned_version) ++out.nodes_drifted;
      ++by_version[n.applied_version];
    }
    out.nodes_by_applied_version.assign(by_version.begin(), by_version.end());
    return out;
  };
  return ReadAudited(who, kScopeConfigRead, "status", "", status,
                     [](const StatusSummary& summary) { return summary.head_revision; });
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

Result<std::vector<TokenRecord>> ControlPlaneService::ListTokens(const Principal& who) {
  auto list = [&]() -> Result<std::vector<TokenRecord>> {
    auto tokens = store_.ListTokens();
    if (!tokens.ok()) return tokens.status();
    for (auto& t : *tokens) t.secret_hash.clear();  // never leaves the store
    return tokens;
  };
  return ReadAudited(who, kScopeAdmin, "token.list", "", list, kNoRevision);
}

Status ControlPlaneService::RevokeToken(const Principal& who, const std::string& token_id) {
  if (Status denied = Require(who, kScopeAdmin); !denied.ok()) {
    AuditRead(who, "token.revoke", "", 0, denied);
    return denied;
  }
  AuditEntry audit = Entry(who, "token.revoke", "");
  audit.outcome = "ok";
  audit.summary = "token " + token_id;
  Status s = store_.RevokeToken(token_id, clock_.NowUnixMs(), audit);
  if (!s.ok()) {
    AuditRead(who, "token.revoke", "", 0, s);
    return s;
  }
  ChangeEvent revoked;
  revoked.revoked_tokens.push_back(token_id);
  Publish(revoked);  // ends the node streams opened with it
  return s;
}

}  // namespace omnirelay::cp
