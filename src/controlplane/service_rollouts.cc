// ControlPlaneService's rollouts (service.h): start a change set as a
// rollout, act on one, read them. The engine (rollout_engine.h) holds and
// drives them; this is the audited, authorised door to it.
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "audit_log.h"
#include "freeze_switch.h"
#include "omnirelay/config/decode.h"
#include "omnirelay/config/digest.h"
#include "rollout_engine.h"
#include "rollout_shadow.h"
#include "service_read.h"
#include "service_write.h"

namespace omnirelay::cp {
namespace {

// "ro-" and 10 random hex digits: unique enough to name, short enough to type.
std::string NewRolloutId() {
  unsigned char raw[5];
  RAND_bytes(raw, sizeof raw);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "ro-";
  for (unsigned char b : raw) {
    id += kHex[b >> 4];
    id += kHex[b & 0xf];
  }
  return id;
}

// The snapshots of the canary's chains at the change set's revisions,
// rendered before its commit, which stores them (rollout_engine.h contract
// 7: no render or snapshot write of a chain's own snapshot between the
// commit and the canary's first notify). With no shadow layers, change i
// commits as revision base + 1 + i (the commit is refused otherwise), so a
// chain's version is that of the last change in the set on it. A chain that
// does not render here is rendered after the commit, as before (an empty
// answer: every chain).
std::vector<std::shared_ptr<const SnapshotRecord>> RenderCanaryChains(
    Store& store, SnapshotRenderer& renderer, const std::vector<RolloutChange>& changes,
    std::int64_t base, const std::map<std::string, std::string>& member_chains) {
  std::set<std::string_view> texts;
  for (const auto& [node_id, chain] : member_chains) texts.insert(chain);
  std::vector<std::vector<Scope>> chains;
  std::set<std::string> scopes;  // every chain's, read in one go
  for (std::string_view text : texts) {
    auto chain = ParseScopeChain(text);
    if (!chain.ok()) continue;
    for (const Scope& scope : *chain) scopes.insert(scope.ToString());
    chains.push_back(*std::move(chain));
  }
  auto stored = store.GetLayers({scopes.begin(), scopes.end()});
  if (!stored.ok()) return {};
  std::vector<std::shared_ptr<const SnapshotRecord>> out;
  for (const std::vector<Scope>& chain : chains) {
    std::int64_t version = 0;
    std::vector<std::string> documents;
    for (const Scope& scope : chain) {
      const std::string name = scope.ToString();
      std::optional<std::size_t> staged;
      for (std::size_t i = 0; i < changes.size(); ++i) {
        if (changes[i].scope == name) staged = i;
      }
      if (staged) {
        // Later than any stored; the highest of the chain's changes wins
        // (a deeper scope's change may come earlier in the set).
        version = std::max(version, base + 1 + static_cast<std::int64_t>(*staged));
        if (changes[*staged].document) documents.push_back(*changes[*staged].document);
        continue;
      }
      auto layer = std::find_if(stored->begin(), stored->end(),
                                [&](const LayerRecord& r) { return r.scope == name; });
      if (layer != stored->end()) documents.push_back(layer->document);
    }
    if (version == 0 || documents.empty()) continue;  // not the set's, or no layer left
    auto rendered = renderer.RenderUnstored(chain, version, documents);
    if (rendered.ok()) out.push_back(*std::move(rendered));
  }
  return out;
}

// A dry run lists the nodes that would refuse a layer (DESIGN.md §4
// Capability gating) instead of failing on them, each node once: moves the
// outcome's blocked nodes into `blocked` (a start keeps them, and is refused).
void CollectBlocked(WriteOutcome& outcome, std::vector<api::BlockedNode>& blocked) {
  for (auto& node : outcome.blocked_nodes) {
    const bool listed = std::any_of(blocked.begin(), blocked.end(),
                                    [&](const auto& b) { return b.node_id == node.node_id; });
    if (!listed) blocked.push_back(std::move(node));
  }
  outcome.blocked_nodes.clear();
}

// "billing -> billing-v3, auth -> auth-v2": what shadow-first layers mirror.
void AppendMirrors(std::string& out, const ShadowLayer& layer) {
  for (const std::string& m : layer.mirrored) out += (out.empty() ? "" : ", ") + m;
}

// The policy a rollout runs: the first layer's own `rollout` block (if it
// has one), with the request's keys over it ("slo" merged key by key), so
// `rollout start --canary 10` changes the canary and keeps the rest.
std::string MergedPolicy(const RolloutStartRequest& request) {
  nlohmann::json merged = nlohmann::json::object();
  for (const RolloutChange& change : request.changes) {
    if (!change.document) continue;
    auto layer = ParseLayer(*change.document);
    if (layer.ok() && !layer->rollout_json.empty()) {
      merged = nlohmann::json::parse(layer->rollout_json);
    }
    break;  // the first layer's block only
  }
  if (request.policy_json.empty()) return merged.dump();
  nlohmann::json over = nlohmann::json::parse(request.policy_json, nullptr, false);
  if (!over.is_object()) return request.policy_json;  // the parser says what is wrong
  for (auto& [key, value] : over.items()) {
    if (key == "slo" && value.is_object() && merged.contains("slo") && merged["slo"].is_object()) {
      for (auto& [k, v] : value.items()) merged["slo"][k] = v;
    } else {
      merged[key] = value;
    }
  }
  return merged.dump();
}

// How long a start that told its canary first waits for the canary's
// answers before it plans the other waves (rollout_engine.h contract 7).
constexpr std::chrono::milliseconds kCanaryFirstWait{500};

}  // namespace

void ControlPlaneService::PublishCommit(std::int64_t revision,
                                        const std::vector<std::string>& scopes) {
  std::vector<std::string> hashes(scopes.size());
  Publish(ChangeEvent{revision, scopes, std::move(hashes), {}});
}

Result<std::vector<ShadowLayer>> ControlPlaneService::PlanShadowFirst(
    const RolloutStartRequest& request, double percent, std::vector<api::BlockedNode>& blocked) {
  std::vector<ShadowInput> inputs;
  for (const RolloutChange& change : request.changes) {
    ShadowInput in{change.scope, std::nullopt, change.document};
    auto current = store_.GetLayer(change.scope);
    if (current.ok()) {
      in.before = std::move(current->document);
    } else if (current.status().code() != StatusCode::kNotFound) {
      return current.status();
    }
    inputs.push_back(std::move(in));
  }
  OMNI_ASSIGN_OR_RETURN(std::vector<ShadowLayer> layers, ShadowFirstLayers(inputs, percent));
  if (layers.empty()) {
    return Status(StatusCode::kInvalidArgument,
                  "shadow-first: no route the change set keeps moves its weight to a cluster it "
                  "did not use, so there is nothing to mirror (start it without "
                  "shadowFirstPercent)");
  }
  for (const ShadowLayer& layer : layers) {
    OMNI_ASSIGN_OR_RETURN(const Scope scope, ParseScope(layer.scope));
    // Old routing plus mirrors: never destructive; its size is the change set's business.
    OMNI_ASSIGN_OR_RETURN(PlannedWrite planned,
                          PlanLayerWrite(scope, layer.document, true, false, false, true));
    if (request.dry_run && planned.outcome.diagnostics.empty()) {
      CollectBlocked(planned.outcome, blocked);
    }
    if (Status refused = PlanRefusal(planned.outcome, planned.failing_chain); !refused.ok()) {
      return Status(refused.code(),
                    "the shadow-first wave's layer of " + layer.scope + ": " + refused.message(),
                    refused.diagnostics());
    }
  }
  return layers;
}

Result<RolloutRun> ControlPlaneService::StartRollout(const Principal& who,
                                                     const RolloutStartRequest& request) {
  AuditEntry audit = Entry(who, request.dry_run ? "rollout.start.dry_run" : "rollout.start", "");
  auto refuse = [&](Status why) { return Refuse(audit, std::move(why)); };
  for (std::string_view needed : {kScopeRolloutWrite, kScopeConfigWrite}) {
    if (Status denied = Require(who, needed); !denied.ok()) return refuse(denied);
  }
  if (rollouts_ == nullptr) {
    return refuse(Status(StatusCode::kUnimplemented, "this server runs no rollout engine"));
  }
  // Frozen: no new rollouts (rollbacks and reverts still pass).
  if (Status frozen = CheckNotFrozen(); !frozen.ok()) return refuse(frozen);
  if (request.changes.empty()) {
    return refuse(Status(StatusCode::kInvalidArgument,
                         "a rollout needs at least one layer (a document to put or a scope to "
                         "delete)"));
  }
  auto policy = ParseRolloutPolicy(MergedPolicy(request));
  if (!policy.ok()) return refuse(policy.status());

  // The head before anything is planned: the commit takes the revision
  // after it or is refused (`make` below), so no write that lands while the
  // layers are validated goes unseen by their validation.
  OMNI_ASSIGN_OR_RETURN(const std::int64_t base, store_.HeadRevision());
  // Each layer is checked as a write would be, against every chain it touches.
  std::vector<std::string> scopes;
  std::vector<std::string> chains;
  std::vector<std::string> summaries;
  std::vector<api::BlockedNode> blocked;  // capability gating, each node once
  std::string large_note;                 // layers over the change limit, written anyway
  for (const RolloutChange& change : request.changes) {
    auto scope = ParseScope(change.scope);
    if (!scope.ok()) return refuse(scope.status());
    if (std::find(scopes.begin(), scopes.end(), change.scope) != scopes.end()) {
      return refuse(Status(StatusCode::kInvalidArgument,
                           "scope " + change.scope + " appears twice in the change set"));
    }
    scopes.push_back(change.scope);
    auto planned = PlanLayerWrite(*scope, change.document, request.confirm, false, false,
                                  request.allow_large_change);
    if (!planned.ok()) return refuse(planned.status());
    if (request.dry_run && planned->outcome.diagnostics.empty()) {
      CollectBlocked(planned->outcome, blocked);
    }
    if (Status refused = PlanRefusal(planned->outcome, planned->failing_chain); !refused.ok()) {
      return refuse(refused);
    }
    const std::string note = LargeChangeNote(*planned, options_.max_change_entries);
    if (!note.empty()) large_note += "; " + change.scope + ": " + note.substr(0, note.size() - 2);
    summaries.push_back(change.scope + ": " + note + planned->outcome.diff_summary);
    for (auto& chain : planned->outcome.chains_checked) chains.push_back(std::move(chain));
  }
  audit.scope = scopes.front();
  if (const std::string holder = rollouts_->HolderOf(scopes, chains); !holder.empty()) {
    return refuse(Status(StatusCode::kRolloutInProgress,
                         "rollout " + holder + " holds a chain this change set touches"));
  }

  const std::string id = NewRolloutId();
  TouchedChains touched(scopes);
  std::vector<RolloutMember> members;
  std::map<std::string, std::string> member_chains;
  // The canary told first (rollout_engine.h contract 7): the nodes known
  // here whose hash puts them in the canary are the first wave; every other
  // member joins right after they are told. Only where the full plan's
  // canary is that set among them: the hash picked some but not every
  // targeted node (plan rules 4 and 4b do not fire), no shadow wave.
  bool canary_first = false;
  if (!request.dry_run && policy->shadow_first_percent == 0 && policy->canary_percent > 0) {
    std::size_t targeted = 0;
    const CanaryTest in_canary(*policy, id);
    rollouts_->VisitSeenByChain(
        [&](std::string_view chain_text, const std::vector<std::string>& node_ids) {
          const auto& chain = touched.Of(chain_text);
          if (!chain || !IsTargeted(*chain, *policy)) return;
          targeted += node_ids.size();
          for (const std::string& node_id : node_ids) {
            if (!in_canary(node_id)) continue;
            members.push_back({RolloutNode{node_id, *chain}, base});
            member_chains.emplace(node_id, std::string(chain_text));
          }
        });
    canary_first = !members.empty() && members.size() < targeted;
    if (!canary_first) {
      members.clear();
      member_chains.clear();
    }
  }
  if (!canary_first) {
    // The members: every known node whose chain the change set touches — the
    // stored records and the nodes connected here (their record may not be
    // written yet); the chain a node said last wins.
    OMNI_ASSIGN_OR_RETURN(const std::vector<NodeChain> nodes, store_.ListNodeChains());
    rollouts_->VisitKnownChains(nodes, [&](std::string_view node_id, std::string_view chain_text) {
      const auto& chain = touched.Of(chain_text);
      if (!chain) return;
      members.push_back({RolloutNode{std::string(node_id), *chain}, base});
      member_chains.emplace_hint(member_chains.end(), std::string(node_id),
                                 std::string(chain_text));
    });
  }
  // Shadow-first: the generated first wave's documents, staged before the
  // change set's own and checked like them.
  std::vector<ShadowLayer> shadows;
  if (policy->shadow_first_percent > 0) {
    auto planned = PlanShadowFirst(request, policy->shadow_first_percent, blocked);
    if (!planned.ok()) return refuse(planned.status());
    shadows = *std::move(planned);
    std::string mirrors;
    for (const ShadowLayer& layer : shadows) AppendMirrors(mirrors, layer);
    large_note += "; shadow-first " + mirrors;
  }
  const auto shadow_count = static_cast<std::int64_t>(shadows.size());
  const std::int64_t now = clock_.NowUnixMs();
  auto plan_run = [&](std::int64_t new_version) -> Result<RolloutRun> {
    RolloutRun run;
    const std::int64_t shadow_version = shadow_count > 0 ? base + shadow_count : 0;
    if (canary_first) {
      // Planned by WaveOfNode (rules 1, 3 and 5), as CompleteMembers joins the rest.
      OMNI_ASSIGN_OR_RETURN(run.state, CreateRollout(id, *policy, {}, new_version, {}, now));
      OMNI_RETURN_IF_ERROR(AddRolloutNodes(run.state, members, now).status());
      run.members_pending = true;
    } else {
      OMNI_ASSIGN_OR_RETURN(
          run.state, CreateRollout(id, *policy, members, new_version, {}, now, shadow_version));
    }
    rollouts_->AddBaselines(run.state);  // the reports read in place
    run.scopes = scopes;
    run.base = base;
    run.author = who.name;
    run.reason = request.reason;
    run.chains = member_chains;
    return run;
  };
  auto summary = [&](std::size_t nodes) {
    return "rollout " + id + " of " + std::to_string(scopes.size()) + " layer(s) to " +
           std::to_string(nodes) + " node(s)" + large_note;
  };
  audit.summary = summary(members.size());
  if (request.dry_run) {
    if (!blocked.empty()) {
      audit.summary += "; " + std::to_string(blocked.size()) + " node(s) would refuse it";
    }
    auto run = plan_run(base + shadow_count + static_cast<std::int64_t>(request.changes.size()));
    if (!run.ok()) return refuse(run.status());
    run->blocked_nodes = std::move(blocked);
    audit.outcome = "ok";
    audit_->Record(audit);
    return run;
  }

  // Held from before the commit: no node sees a staged revision early.
  if (!rollouts_->Hold(id, scopes, base)) {
    return refuse(Status(StatusCode::kRolloutInProgress,
                         "another rollout is starting on a chain this change set touches"));
  }
  std::vector<LayerWrite> writes;
  for (ShadowLayer& layer : shadows) {
    LayerWrite w;
    w.scope = layer.scope;
    w.author = who.name;
    w.now_ms = now;
    w.audit = Entry(who, "layer.put", layer.scope);
    w.audit.outcome = "ok";
    std::string mirrors;
    AppendMirrors(mirrors, layer);
    w.audit.summary =
        ("staged by rollout " + id + ", shadow-first wave: mirrors " + mirrors).substr(0, 200);
    w.document = std::move(layer.document);
    writes.push_back(std::move(w));
  }
  for (std::size_t i = 0; i < request.changes.size(); ++i) {
    const RolloutChange& change = request.changes[i];
    LayerWrite w;
    w.scope = change.scope;
    w.document = change.document;
    w.author = who.name;
    w.now_ms = now;
    w.audit = Entry(who, change.document ? "layer.put" : "layer.delete", change.scope);
    w.audit.outcome = "ok";
    w.audit.summary = ("staged by rollout " + id + ": " + summaries[i]).substr(0, 200);
    writes.push_back(std::move(w));
  }
  const std::vector<std::shared_ptr<const SnapshotRecord>> rendered =
      canary_first && shadows.empty()
          ? RenderCanaryChains(store_, renderer_, request.changes, base, member_chains)
          : std::vector<std::shared_ptr<const SnapshotRecord>>{};
  RolloutRun started;
  AssignmentChanges first_wave;
  auto make = [&](const std::vector<std::int64_t>& revisions) -> Result<RolloutRecord> {
    if (revisions.front() != base + 1) {
      return Status(StatusCode::kConflict,
                    "another write committed while the rollout was planned; start it again");
    }
    OMNI_ASSIGN_OR_RETURN(started, plan_run(revisions.back()));
    OMNI_ASSIGN_OR_RETURN(first_wave, cp::StartRollout(started.state, now));
    RolloutRecord record = RolloutRecordOf(started, now);
    record.snapshots = rendered;
    return record;
  };
  // A freeze set through another replica since CheckNotFrozen counts at the
  // commit (the store reads it under its write lock).
  for (LayerWrite& w : writes) w.refused_by_setting = kFreezeSettingKey;
  auto revisions = store_.WriteLayers(writes, make);
  if (!revisions.ok()) {
    rollouts_->Release(id);
    if (revisions.status().code() == StatusCode::kConflict) conflicts_.Inc();
    if (revisions.status().code() == StatusCode::kFrozen) {
      return refuse(FreezeSwitch::RefusalOfStored(revisions.status().message(), "a new rollout"));
    }
    return refuse(revisions.status());
  }
  writes_.Inc();
  for (const auto& snapshot : rendered) renderer_.Adopt(snapshot);
  rollouts_->Register(started, first_wave, rendered);
  std::vector<std::string> hashes;
  for (const RolloutChange& change : request.changes) {
    hashes.push_back(change.document ? ContentId(*change.document) : "");
  }
  Publish(ChangeEvent{revisions->back(), scopes, std::move(hashes), {}});
  audit.revision = revisions->back();
  audit.outcome = "ok";
  if (canary_first) {
    // The canary is told; now every other member (contract 7), once the
    // canary has answered or after kCanaryFirstWait. Should the store fail
    // here, the driver joins them before it gates anything.
    rollouts_->AwaitCurrentWave(started, kCanaryFirstWait);
    const Status complete = rollouts_->CompleteMembers(id);
    auto run = rollouts_->Get(id);
    if (run.ok()) started = *std::move(run);
    audit.summary = summary(started.chains.size());
    if (!complete.ok()) {
      audit.summary += "; the members past the canary join at the driver's next pass (" +
                       complete.message() + ")";
    }
  }
  audit_->RecordNow(audit);
  return rollouts_->WithProgress(std::move(started));
}

Result<RolloutRun> ControlPlaneService::ActOnRollout(const Principal& who, const std::string& id,
                                                     RolloutAction action,
                                                     const std::string& reason) {
  AuditEntry audit = Entry(who, "rollout." + std::string(RolloutActionName(action)), "");
  audit.summary = ("rollout " + id + (reason.empty() ? "" : ": " + reason)).substr(0, 200);
  Result<RolloutRun> result = [&]() -> Result<RolloutRun> {
    OMNI_RETURN_IF_ERROR(Require(who, kScopeRolloutWrite));
    if (rollouts_ == nullptr) {
      return Status(StatusCode::kUnimplemented, "this server runs no rollout engine");
    }
    return rollouts_->Act(id, action);
  }();
  if (result.ok() && !result->scopes.empty()) audit.scope = result->scopes.front();
  audit.outcome = Outcome(result.status());
  if (!result.ok()) audit.summary = result.status().message().substr(0, 200);
  audit_->RecordNow(audit);
  return result;
}

Result<RolloutRun> ControlPlaneService::GetRollout(const Principal& who, const std::string& id) {
  auto get = [&]() -> Result<RolloutRun> {
    if (rollouts_ == nullptr) {
      return Status(StatusCode::kUnimplemented, "this server runs no rollout engine");
    }
    return rollouts_->GetWithProgress(id);
  };
  return ReadAudited(who, kScopeConfigRead, "rollout.get", "", get,
                     [](const RolloutRun& run) { return run.state.new_version; });
}

Result<std::vector<RolloutRun>> ControlPlaneService::ListRollouts(const Principal& who) {
  auto list = [&]() -> Result<std::vector<RolloutRun>> {
    if (rollouts_ == nullptr) {
      return Status(StatusCode::kUnimplemented, "this server runs no rollout engine");
    }
    return rollouts_->List();
  };
  return ReadAudited(who, kScopeConfigRead, "rollout.list", "", list, kNoRevision);
}

}  // namespace omnirelay::cp
