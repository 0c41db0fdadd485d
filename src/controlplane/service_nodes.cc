// The service's node views: one state per node (node_state.h), for the
// node reads, the status and the periodic sweep (expiry, state gauges).
#include <spdlog/spdlog.h>

#include <map>

#include "audit_log.h"
#include "freeze_switch.h"
#include "node_state.h"
#include "omnirelay/config/scope.h"
#include "rollout_engine.h"
#include "service_read.h"

namespace omnirelay::cp {
namespace {

// Nodes per state, for every state of api::kNodeStates in that order.
std::vector<std::pair<std::string, std::int64_t>> CountByState(
    const std::vector<api::Node>& nodes) {
  std::map<std::string, std::int64_t> by_state;
  for (const auto& n : nodes) ++by_state[n.state];
  std::vector<std::pair<std::string, std::int64_t>> out;
  for (const char* state : api::kNodeStates) out.emplace_back(state, by_state[state]);
  return out;
}

}  // namespace

Result<std::vector<api::Node>> ControlPlaneService::NodeViews(std::vector<NodeRecord> records) {
  // The version each disconnected node's chain would render now, once per chain.
  std::map<std::string, std::int64_t> chain_versions;
  const std::int64_t now = clock_.NowUnixMs();
  const NodeStateOptions state_options{options_.node_updating_grace};
  std::vector<api::Node> out;
  out.reserve(records.size());
  for (const NodeRecord& record : records) {
    std::int64_t chain_version = 0;
    if (!record.connected) {
      auto known = chain_versions.find(record.scope_chain);
      if (known == chain_versions.end()) {
        std::int64_t version = 0;
        if (auto chain = ParseScopeChain(record.scope_chain); chain.ok()) {
          OMNI_ASSIGN_OR_RETURN(version, renderer_.ChainVersion(*chain));
        }
        known = chain_versions.emplace(record.scope_chain, version).first;
      }
      chain_version = known->second;
    }
    out.push_back(NodeView(record, chain_version, now, state_options));
  }
  return out;
}

Result<std::vector<api::Node>> ControlPlaneService::ListNodes(const Principal& who) {
  return ReadAudited(
      who, kScopeConfigRead, "node.list", "",
      [&]() -> Result<std::vector<api::Node>> {
        OMNI_ASSIGN_OR_RETURN(std::vector<NodeRecord> records, store_.ListNodes());
        return NodeViews(std::move(records));
      },
      kNoRevision);
}

Result<api::Node> ControlPlaneService::GetNode(const Principal& who, const std::string& node_id) {
  return ReadAudited(
      who, kScopeConfigRead, "node.get", "node:" + node_id,
      [&]() -> Result<api::Node> {
        OMNI_ASSIGN_OR_RETURN(NodeRecord record, store_.GetNode(node_id));
        std::vector<NodeRecord> one;
        one.push_back(std::move(record));
        OMNI_ASSIGN_OR_RETURN(std::vector<api::Node> views, NodeViews(std::move(one)));
        return std::move(views.front());
      },
      kNoRevision);
}

Status ControlPlaneService::ForgetNode(const Principal& who, const std::string& node_id) {
  const std::string scope = "node:" + node_id;
  auto forget = [&]() -> Status {
    OMNI_RETURN_IF_ERROR(Require(who, kScopeAdmin));
    OMNI_ASSIGN_OR_RETURN(NodeRecord record, store_.GetNode(node_id));
    if (record.connected) {
      return Status(StatusCode::kConflict,
                    "node \"" + node_id +
                        "\" is connected; stop it first (a connected node is not forgotten)");
    }
    return store_.DeleteNode(node_id);
  };
  Status s = forget();
  AuditEntry audit = Entry(who, "node.forget", scope);
  audit.outcome = Outcome(s);
  audit_->RecordNow(audit);
  if (s.ok()) spdlog::info("forgot node {} (asked by {})", node_id, who.name);
  return s;
}

Status ControlPlaneService::SweepNodes() {
  if (options_.node_expiry.count() > 0) {
    const std::int64_t cutoff = clock_.NowUnixMs() - options_.node_expiry.count();
    OMNI_ASSIGN_OR_RETURN(std::vector<std::string> expired, store_.DeleteNodesOfflineSince(cutoff));
    for (const auto& id : expired) {
      AuditEntry audit = Entry(Principal{"controlplane", "", {}}, "node.expire", "node:" + id);
      audit.outcome = "ok";
      audit.summary = "disconnected longer than the node expiry";
      audit_->Record(audit);
      spdlog::info("node {} expired: disconnected longer than {} s", id,
                   options_.node_expiry.count() / 1000);
    }
    nodes_expired_.Inc(expired.size());
  }
  OMNI_ASSIGN_OR_RETURN(std::vector<NodeRecord> records, store_.ListNodes());
  OMNI_ASSIGN_OR_RETURN(std::vector<api::Node> views, NodeViews(std::move(records)));
  const auto by_state = CountByState(views);
  for (std::size_t i = 0; i < by_state.size(); ++i) {
    node_state_gauges_[i]->Set(static_cast<double>(by_state[i].second));
  }
  return Status::Ok();
}

Result<StatusSummary> ControlPlaneService::GetStatus(const Principal& who) {
  auto status = [&]() -> Result<StatusSummary> {
    StatusSummary out;
    OMNI_ASSIGN_OR_RETURN(out.head_revision, store_.HeadRevision());
    OMNI_ASSIGN_OR_RETURN(auto records, store_.ListNodes());
    OMNI_ASSIGN_OR_RETURN(std::vector<api::Node> nodes, NodeViews(std::move(records)));
    std::map<std::int64_t, std::size_t> by_version;
    for (const auto& n : nodes) {
      ++out.nodes_total;
      if (n.connected) ++out.nodes_connected;
      if (n.drift()) ++out.nodes_drifted;
      // A node that has applied nothing has no applied version (not "v0").
      if (n.applied_version > 0) ++by_version[n.applied_version];
    }
    out.nodes_by_applied_version.assign(by_version.begin(), by_version.end());
    out.nodes_by_state = CountByState(nodes);
    OMNI_ASSIGN_OR_RETURN(out.freeze, freeze_->Current());
    if (rollouts_ != nullptr) {
      for (const RolloutRun& run : rollouts_->List(/*with_progress=*/false)) {
        const RolloutPhase phase = run.state.phase;
        if (IsTerminal(phase)) continue;
        out.rollouts.push_back({run.state.id, run.state.new_version,
                                std::string(RolloutPhaseName(phase)),
                                static_cast<std::int64_t>(run.state.current_wave),
                                static_cast<std::int64_t>(run.state.waves.size())});
      }
    }
    OMNI_ASSIGN_OR_RETURN(auto layers, store_.ListLayers());
    for (auto& l : layers) {
      out.layers.push_back({l.scope, l.revision, l.updated_at_ms, std::move(l.author)});
    }
    return out;
  };
  return ReadAudited(who, kScopeConfigRead, "status", "", status,
                     [](const StatusSummary& summary) { return summary.head_revision; });
}

}  // namespace omnirelay::cp
