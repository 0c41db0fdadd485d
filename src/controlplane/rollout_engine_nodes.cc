// RolloutEngine: what a node is assigned while a rollout holds its chain,
// and what nodes report (rollout_engine.h).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>
#include <utility>

#include "rollout_discovery.h"
#include "rollout_engine.h"

namespace omnirelay::cp {
namespace {

// In bounds: a node on the snapshot of its assigned bound is on the bound.
void TranslateToBound(NodeReport& r, std::int64_t snapshot_version, std::int64_t bound) {
  for (std::int64_t* version : {&r.applied_version, &r.acked_version, &r.nacked_version}) {
    if (*version == snapshot_version) *version = bound;
  }
}

// What a wave counts of a node's report: whether there is one, and what it
// says (versions as bounds).
struct Said {
  bool reported = false;
  bool connected = false;
  std::int64_t acked = 0;
  std::int64_t nacked = 0;
};

// How a wave counts a node by what it says about `version`, the one it is
// assigned: the one rule of ProgressOf and WithProgress.
void CountNode(RolloutRun::WaveProgress& p, const Said& said, std::int64_t version) {
  if (said.reported && said.acked == version) {  // the gates' test
    ++p.acked;
  } else if (said.reported && said.nacked == version) {
    ++p.nacked;
  } else if (said.reported && said.connected) {
    ++p.drifting;
  } else {
    ++p.offline;
  }
}

}  // namespace

Result<std::shared_ptr<const SnapshotRecord>> RolloutEngine::Newest(
    const std::vector<Scope>& chain) {
  return renderer_.Current(chain);
}

RolloutEngine::Pin RolloutEngine::HeldAt(std::int64_t bound) {
  Pin pin;
  pin.held = true;
  pin.bound = bound;
  return pin;
}

bool RolloutEngine::InPendingCanary(const RolloutRun& run, const std::string& node_id,
                                    const std::vector<Scope>& chain) {
  const RolloutState& s = run.state;
  // Only while the canary (wave 0: no shadow wave in such a start) runs.
  const bool canary_runs = s.phase == RolloutPhase::kRunning && s.current_wave == 0 &&
                           !s.waves.empty() && s.waves.front().kind == WaveKind::kCanary;
  return canary_runs && IsTargeted(chain, s.policy) && InCanary(s.policy, s.id, node_id);
}

RolloutEngine::Pin RolloutEngine::PinOf(const std::string& node_id, const std::vector<Scope>& chain,
                                        const std::vector<std::string>& chain_scopes,
                                        std::int64_t newest_version) const {
  for (const auto& [id, hold] : holds_) {
    if (SharesScope(chain_scopes, hold.scopes)) return HeldAt(hold.base);
  }
  for (const std::string& id : holding_) {
    const RolloutRun& run = runs_.at(id);
    if (!SharesScope(chain_scopes, run.scopes)) continue;
    const auto member = run.state.nodes.find(node_id);
    if (run.state.phase == RolloutPhase::kAborted) {
      // Contract 2: where the abort left it, until a later write moves the chain.
      if (member == run.state.nodes.end() || newest_version > run.state.new_version) continue;
      return MemberPin(run, member->second);
    }
    if (member != run.state.nodes.end()) return MemberPin(run, member->second);
    // Contract 7: a start that told its canary first and has not joined the
    // rest yet (here, or on the replica that started it): a node the canary
    // hash picks is what it will join as, a canary member.
    if (run.members_pending && InPendingCanary(run, node_id, chain)) {
      return MemberPin(run, NodeAssignment{0, run.base, run.state.new_version});
    }
    return HeldAt(run.base);  // not (yet) a member: what it had
  }
  return {};
}

RolloutEngine::Pin RolloutEngine::MemberPin(const RolloutRun& run, const NodeAssignment& member) {
  Pin pin = HeldAt(member.assigned_version);
  pin.staged = member.assigned_version > run.base;
  if (member.assigned_version == run.state.new_version) {
    pin.rollout_id = run.state.id;
    pin.wave = static_cast<std::int64_t>(member.wave) + 1;
  }
  return pin;
}

RolloutEngine::Pin RolloutEngine::DeliveredPin(const std::string& node_id, std::int64_t version) {
  const auto it = delivered_.find(node_id);
  if (it == delivered_.end()) return {};
  const auto run = runs_.find(it->second);
  if (run != runs_.end() && version <= run->second.state.new_version) {
    const auto member = run->second.state.nodes.find(node_id);
    if (member != run->second.state.nodes.end()) return MemberPin(run->second, member->second);
  }
  delivered_.erase(it);  // a later write moved the chain on: no label from now
  return {};
}

void RolloutEngine::RecordDelivered(const RolloutRun& run) {
  for (const auto& [node_id, member] : run.state.nodes) {
    if (member.assigned_version == run.state.new_version) delivered_[node_id] = run.state.id;
  }
}

std::shared_ptr<const SnapshotRecord> RolloutEngine::Labelled(
    const std::shared_ptr<const SnapshotRecord>& base, const Pin& pin) {
  auto labelled = renderer_.WithRollout(base, pin.rollout_id, pin.wave);
  if (labelled.ok()) return *labelled;
  // The chain's own snapshot: every node reads it.
  spdlog::warn("rollout {}: cannot label {} for wave {}: {}", pin.rollout_id, base->hash, pin.wave,
               labelled.status().ToString());
  return base;
}

std::shared_ptr<const SnapshotRecord> RolloutEngine::Assigned(
    const std::string& node_id, const std::vector<Scope>& chain,
    const std::shared_ptr<const SnapshotRecord>& newest, bool reads_rollout) {
  std::vector<std::string> scopes;
  scopes.reserve(chain.size());
  for (const Scope& s : chain) scopes.push_back(s.ToString());
  const Ask ask{&node_id, reads_rollout};
  std::vector<std::shared_ptr<const SnapshotRecord>> out;
  AssignedMany(chain, scopes, newest, std::span<const Ask>(&ask, 1), &out);
  return out.front();
}

void RolloutEngine::AssignedMany(const std::vector<Scope>& chain,
                                 const std::vector<std::string>& chain_scopes,
                                 const std::shared_ptr<const SnapshotRecord>& newest,
                                 std::span<const Ask> asks,
                                 std::vector<std::shared_ptr<const SnapshotRecord>>* out) {
  out->assign(asks.size(), newest);
  // Per node: its pin, when it has one to decide (the common case, nothing
  // held and no label to keep, answers the chain's newest).
  std::vector<std::optional<Pin>> pins(asks.size());
  {
    // One lock for every node's check and pin (a wave's nodes on one chain,
    // two workers at once).
    MutexLock lock(mu_);
    const bool free = holding_.empty() && holds_.empty();
    if (free && (delivered_.empty() || !newest)) return;
    const std::int64_t newest_version = newest ? newest->version : 0;
    for (std::size_t k = 0; k < asks.size(); ++k) {
      const bool may_label =
          asks[k].reads_rollout && newest && delivered_.count(*asks[k].node_id) != 0;
      if (free && !may_label) continue;
      pins[k] = PinOf(*asks[k].node_id, chain, chain_scopes, newest_version);
    }
  }
  // The chain's newest serves a held node at its bound, or below it when the
  // bound is not one the rollout staged (nothing changed the chain between);
  // otherwise the chain at the bound: past the newest for a wave told before
  // the feed renders the rollout's commit (a start re-offers its first wave
  // at once), below it for a node held back. Each bound rendered once.
  std::vector<std::pair<std::int64_t, std::shared_ptr<const SnapshotRecord>>> at_bound;
  std::string chain_text;
  std::vector<std::size_t> unlabelled;  // nodes reading labels, pinned to none
  for (std::size_t k = 0; k < asks.size(); ++k) {
    if (!pins[k]) continue;
    const Pin& pin = *pins[k];
    const bool newest_serves =
        newest && (newest->version == pin.bound || (newest->version < pin.bound && !pin.staged));
    if (pin.held && !newest_serves) {
      auto it = std::find_if(at_bound.begin(), at_bound.end(),
                             [&](const auto& b) { return b.first == pin.bound; });
      if (it == at_bound.end()) {
        if (chain_text.empty()) chain_text = ScopeChainToString(chain);
        at_bound.emplace_back(pin.bound, SnapshotAt(chain_text, pin.bound));
        it = std::prev(at_bound.end());
      }
      (*out)[k] = it->second;
    }
    if ((*out)[k] && asks[k].reads_rollout && pin.rollout_id.empty()) unlabelled.push_back(k);
  }
  if (!unlabelled.empty()) {
    // Not a wave's new content now: still the one a succeeded rollout
    // delivered (held at it by a later rollout's base included)?
    MutexLock lock(mu_);
    for (std::size_t k : unlabelled) {
      pins[k] = DeliveredPin(*asks[k].node_id, (*out)[k]->version);
    }
  }
  // Each (snapshot, wave) labelled once.
  struct Label {
    const SnapshotRecord* base;
    const Pin* pin;
    std::shared_ptr<const SnapshotRecord> labelled;
  };
  std::vector<Label> labels;
  for (std::size_t k = 0; k < asks.size(); ++k) {
    if (!pins[k] || !(*out)[k] || !asks[k].reads_rollout || pins[k]->rollout_id.empty()) continue;
    const Pin& pin = *pins[k];
    auto it = std::find_if(labels.begin(), labels.end(), [&](const Label& l) {
      return l.base == (*out)[k].get() && l.pin->wave == pin.wave &&
             l.pin->rollout_id == pin.rollout_id;
    });
    if (it == labels.end()) {
      labels.push_back(Label{(*out)[k].get(), &pin, Labelled((*out)[k], pin)});
      it = std::prev(labels.end());
    }
    (*out)[k] = it->labelled;
  }
}

bool RolloutEngine::PinsChainPast(const std::vector<std::string>& chain_scopes,
                                  std::int64_t since) {
  // PinOf's answer for every node on the chain is a pin of this run (a
  // member's or its base) that no commit past its base moves: those are its
  // own staged layers (writes to a held chain are refused).
  MutexLock lock(mu_);
  for (const std::string& id : holding_) {
    const RolloutRun& run = runs_.at(id);
    if (!IsTerminal(run.state.phase) && run.base < since && SharesScope(chain_scopes, run.scopes))
      return true;
  }
  return false;
}

std::shared_ptr<const SnapshotRecord> RolloutEngine::SnapshotAt(const std::string& chain,
                                                                std::int64_t bound) {
  const std::string key = chain + "@" + std::to_string(bound);
  const std::int64_t now = clock_.NowUnixMs();
  {
    MutexLock lock(cache_mu_);
    auto it = at_cache_.find(key);
    // Re-asked once a quarter of its lifetime is left: the renderer re-signs.
    if (it != at_cache_.end() && (it->second->expires_at_ms - now) * 4 >
                                     it->second->expires_at_ms - it->second->created_at_ms) {
      return it->second;
    }
  }
  auto parsed = ParseScopeChain(chain);
  if (!parsed.ok()) return nullptr;
  auto snapshot = renderer_.AtRevision(*parsed, bound);
  if (!snapshot.ok()) {
    if (snapshot.status().code() != StatusCode::kNotFound) {
      spdlog::warn("rollout: cannot render {} at revision {}: {}", chain, bound,
                   snapshot.status().ToString());
    }
    return nullptr;
  }
  KeepSnapshotAt(chain, bound, *snapshot);
  return *snapshot;
}

void RolloutEngine::KeepSnapshotAt(std::string_view chain, std::int64_t bound,
                                   std::shared_ptr<const SnapshotRecord> snapshot) {
  MutexLock lock(cache_mu_);
  if (at_cache_.size() >= 4096) at_cache_.clear();
  at_cache_[std::string(chain) + "@" + std::to_string(bound)] = std::move(snapshot);
}

std::vector<std::shared_ptr<const SnapshotRecord>> RolloutEngine::AssignedSnapshots(
    const RolloutRun& run) {
  std::vector<std::shared_ptr<const SnapshotRecord>> out;
  out.reserve(run.state.nodes.size());
  // A rollout's members share a few chains and bounds: each snapshot is
  // looked up once per call, and the chains (sorted by id, as the members
  // are) are walked beside the members rather than searched.
  std::map<std::pair<std::string_view, std::int64_t>, std::shared_ptr<const SnapshotRecord>> found;
  auto chain = run.chains.begin();
  for (const auto& [id, a] : run.state.nodes) {
    while (chain != run.chains.end() && chain->first < id) ++chain;
    if (chain == run.chains.end() || chain->first != id) {
      out.emplace_back();
      continue;
    }
    auto [at, fresh] = found.try_emplace({chain->second, a.assigned_version});
    if (fresh) at->second = SnapshotAt(chain->second, a.assigned_version);
    out.push_back(at->second);
  }
  return out;
}

template <typename Visit>
void RolloutEngine::VisitMemberReports(const NodeAssignments& members, Visit&& visit) const {
  for (auto member = members.begin(); member != members.end();) {
    MutexLock lock(reports_mu_);
    for (std::size_t n = 0; n < kReportsChunk && member != members.end(); ++n, ++member) {
      const auto it = seen_.find(member->first);
      visit(member->first, member->second, it == seen_.end() ? nullptr : &it->second);
    }
  }
}

NodeReports RolloutEngine::ReportsFor(const RolloutRun& run, AssignedHashes* assigned_hashes) {
  const auto snapshots = AssignedSnapshots(run);
  // Built in member (id) order, so every entry is appended (id_sorted.h).
  NodeReports out;
  out.reserve(run.state.nodes.size());
  // Whether each member (in member order) reads metadata.rollout (its hello said so).
  std::vector<char> reads_rollout(run.state.nodes.size(), 0);
  {
    // One copy of each member's report, nothing else under the lock.
    std::size_t j = 0;
    VisitMemberReports(run.state.nodes,
                       [&](const std::string& id, const NodeAssignment& /*a*/, const Seen* seen) {
                         if (seen != nullptr) {
                           out.emplace(id, seen->report);
                           reads_rollout[j] = seen->reads_rollout ? 1 : 0;
                         }
                         ++j;
                       });
  }
  // A cell of replicas: members connected to another replica report there,
  // and what its node status writer stored stands in (applied and ACKed
  // version, connection; no SLO windows). Merged in once, in id order.
  if (out.size() < run.state.nodes.size()) {
    if (Result<std::vector<NodeRecord>> stored = store_.ListNodes(); stored.ok()) {
      std::unordered_map<std::string_view, const NodeRecord*> by_id;
      for (const NodeRecord& r : *stored) by_id.emplace(r.node_id, &r);
      std::vector<NodeReports::value_type> more;
      {
        NodeReports::Walk reported(out);  // ends before the Merge below changes `out`
        std::size_t j = 0;
        for (const auto& [id, a] : run.state.nodes) {
          const auto it = by_id.find(id);
          if (it != by_id.end() && (it->second->connected || it->second->last_seen_ms > 0) &&
              reported.Find(id) == nullptr) {
            const NodeRecord& r = *it->second;
            NodeReport report;
            report.connected = r.connected;
            report.offline_since_ms = r.connected ? 0 : r.last_seen_ms;
            report.applied_version = r.applied_version;
            report.applied_hash = r.applied_hash;
            report.acked_version = r.applied_version;
            report.has_discovery_generation = r.discovery_generation > 0;
            report.discovery_generation = r.discovery_generation;
            more.emplace_back(id, std::move(report));
            reads_rollout[j] = std::find(r.features.begin(), r.features.end(),
                                         kFeatureRolloutInfo) != r.features.end()
                                   ? 1
                                   : 0;
          }
          ++j;
        }
      }
      out.Merge(std::move(more));
    }
  }
  // Each member's cell, for the cross-cell gates (rollout_gates.h).
  for (auto& [id, report] : out) {
    if (const auto chain = run.chains.find(id); chain != run.chains.end()) {
      report.cell = PlaceOfChain(chain->second).cell;
    }
  }
  if (assigned_hashes != nullptr) assigned_hashes->reserve(out.size());
  auto report = out.begin();
  std::size_t k = 0;
  for (const auto& [id, a] : run.state.nodes) {
    const bool reads = reads_rollout[k] != 0;
    const std::shared_ptr<const SnapshotRecord>& snapshot = snapshots[k++];
    report = out.LowerBound(report, id);
    if (!snapshot || report == out.end() || report->first != id) {
      continue;  // never reported: offline since the wave began
    }
    if (assigned_hashes != nullptr) {
      // The rendering the node is sent (contract 6, as Assigned decides).
      std::string hash = snapshot->hash;
      if (reads) {
        Pin pin = MemberPin(run, a);
        if (pin.rollout_id.empty()) {
          MutexLock lock(mu_);
          pin = DeliveredPin(id, snapshot->version);
        }
        if (!pin.rollout_id.empty()) hash = Labelled(snapshot, pin)->hash;
      }
      assigned_hashes->Set(id, std::move(hash));  // in id order: appended
    }
    TranslateToBound(report->second, snapshot->version, a.assigned_version);
  }
  return out;
}

void RolloutEngine::AddBaselines(RolloutState& s) const {
  MutexLock lock(reports_mu_);
  for (const auto& [id, a] : s.nodes) {
    const auto it = seen_.find(id);
    if (it != seen_.end()) AddToBaseline(s, a.wave, it->second.report.slo);
  }
}

std::vector<RolloutRun::WaveProgress> ProgressOf(const RolloutState& s,
                                                 const NodeReports& reports) {
  std::vector<RolloutRun::WaveProgress> out(s.waves.size());
  for (std::size_t i = 0; i < s.waves.size(); ++i) {
    NodeAssignments::Walk assignments(s.nodes);
    NodeReports::Walk walk(reports);
    for (const std::string& id : s.waves[i].node_ids) {  // sorted: two walks
      const NodeAssignment* a = assignments.Find(id);
      if (a == nullptr) continue;
      Said said;
      if (const NodeReport* r = walk.Find(id)) {
        said = {true, r->connected, r->acked_version, r->nacked_version};
      }
      CountNode(out[i], said, a->assigned_version);
    }
  }
  return out;
}

RolloutRun RolloutEngine::WithProgress(RolloutRun run) {
  // ProgressOf over ReportsFor's reports, without building them: each
  // member's report is read in place, only its versions copied to be
  // translated (a status read, a start's or a promote's answer, over every
  // member, while the nodes it just told are ACKing).
  const RolloutState& s = run.state;
  const auto snapshots = AssignedSnapshots(run);
  run.progress.assign(s.waves.size(), RolloutRun::WaveProgress{});
  std::size_t k = 0;
  VisitMemberReports(s.nodes,
                     [&](const std::string& /*id*/, const NodeAssignment& a, const Seen* seen) {
                       const std::shared_ptr<const SnapshotRecord>& snapshot = snapshots[k++];
                       if (a.wave >= run.progress.size()) return;
                       Said said;
                       if (seen != nullptr) {
                         const NodeReport& r = seen->report;
                         said = {true, r.connected, r.acked_version, r.nacked_version};
                         if (snapshot && said.acked == snapshot->version)
                           said.acked = a.assigned_version;
                         if (snapshot && said.nacked == snapshot->version)
                           said.nacked = a.assigned_version;
                       }
                       CountNode(run.progress[a.wave], said, a.assigned_version);
                       // The shadow wave lists every member too (rollout_state.h, contract 1).
                       if (s.shadow_version != 0 && a.wave != 0)
                         CountNode(run.progress[0], said, a.assigned_version);
                     });
  return run;
}

void RolloutEngine::VisitKnownChains(
    const std::vector<NodeChain>& stored,
    const std::function<void(std::string_view, std::string_view)>& visit) const {
  MutexLock lock(reports_mu_);
  std::vector<std::pair<std::string_view, std::string_view>> seen;
  seen.reserve(seen_.size());
  for (const auto& [id, s] : seen_) seen.emplace_back(id, s.chain);
  std::sort(seen.begin(), seen.end());
  // Both sorted by id: one merge, a node in both visited once, as it said.
  auto s = seen.begin();
  auto r = stored.begin();
  while (s != seen.end() || r != stored.end()) {
    if (r == stored.end() || (s != seen.end() && s->first <= r->node_id)) {
      if (r != stored.end() && r->node_id == s->first) ++r;
      visit(s->first, s->second);
      ++s;
    } else {
      visit(r->node_id, r->scope_chain);
      ++r;
    }
  }
}

void RolloutEngine::AwaitCurrentWave(const RolloutRun& run, std::chrono::milliseconds cap) const {
  const RolloutState& s = run.state;
  if (s.current_wave >= s.waves.size()) return;
  const std::vector<std::string>& ids = s.waves[s.current_wave].node_ids;
  const auto until = std::chrono::steady_clock::now() + cap;
  // A node that answered is not read again (an ACK or NACK past the base is
  // all the wait asks of it), so each poll resumes at the first one that had
  // not: the wave's nodes are read about once in all, not once per poll
  // while the same cores deliver it.
  std::size_t next = 0;
  auto answered = [&] {
    MutexLock lock(reports_mu_);
    for (; next < ids.size(); ++next) {
      const auto it = seen_.find(ids[next]);
      if (it == seen_.end() || !it->second.report.connected) continue;
      const NodeReport& r = it->second.report;
      if (r.acked_version <= run.base && r.nacked_version <= run.base) return false;
    }
    return true;
  };
  while (!answered() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void RolloutEngine::VisitSeenByChain(
    const std::function<void(std::string_view, const std::vector<std::string>&)>& visit) const {
  MutexLock lock(reports_mu_);
  for (const auto& [chain, ids] : by_chain_) visit(chain, ids);
}

std::vector<std::string> RolloutEngine::SeenTouching(const std::vector<std::string>& scopes) const {
  std::vector<std::string> out;
  MutexLock lock(reports_mu_);
  for (const auto& [chain, ids] : by_chain_) {
    if (ChainTouches(chain, scopes)) out.insert(out.end(), ids.begin(), ids.end());
  }
  return out;
}

// ---- joining members (contract 7, newcomers)

Status RolloutEngine::CompleteMembers(const std::string& id, bool now) {
  {
    // The common case (every driver pass, every action) without a copy of the run.
    MutexLock lock(mu_);
    const auto it = runs_.find(id);
    if (it == runs_.end()) return Status(StatusCode::kNotFound, "no rollout \"" + id + "\"");
    if (!it->second.members_pending) return Status::Ok();
    const std::int64_t age = clock_.NowUnixMs() - it->second.state.created_at_ms;
    if (!now && started_here_.count(id) == 0 && age < kForeignPendingMs) {
      return Status(StatusCode::kUnavailable,
                    "another replica started it and is joining its members");
    }
  }
  MutexLock serial(join_mu_);
  for (int attempt = 0; attempt < 3; ++attempt) {
    OMNI_ASSIGN_OR_RETURN(RolloutRun run, Get(id));
    if (!run.members_pending) return Status::Ok();
    OMNI_ASSIGN_OR_RETURN(const std::vector<NodeChain> stored, store_.ListNodeChains());
    std::vector<std::pair<std::string, std::string>> candidates;  // id, chain
    VisitKnownChains(stored, [&](std::string_view node, std::string_view chain) {
      const std::string node_id(node);
      if (run.chains.count(node_id) == 0) candidates.emplace_back(node_id, std::string(chain));
    });
    if (Join(std::move(run), candidates, true)) return Status::Ok();
  }
  return Status(StatusCode::kConflict, "rollout " + id + " kept changing while it was joined");
}

void RolloutEngine::AddNewcomers(const std::string& id) {
  MutexLock serial(join_mu_);
  auto run = Get(id);
  if (!run.ok() || run->members_pending || run->state.phase == RolloutPhase::kRollingBack) return;
  std::vector<std::pair<std::string, std::string>> newcomers;  // id, chain
  {
    MutexLock lock(reports_mu_);
    for (const auto& [chain, ids] : by_chain_) {
      if (!ChainTouches(chain, run->scopes)) continue;
      for (const std::string& node : ids) {
        if (run->state.nodes.count(node) != 0 || run->chains.count(node) != 0) continue;
        newcomers.emplace_back(node, chain);
      }
    }
  }
  if (newcomers.empty()) return;
  Join(std::move(run).value(), newcomers, false);
}

bool RolloutEngine::Join(RolloutRun run,
                         const std::vector<std::pair<std::string, std::string>>& candidates,
                         bool baselines) {
  const std::int64_t expected = run.state.generation;
  TouchedChains touched(run.scopes);
  std::vector<RolloutMember> members;
  for (const auto& [node, chain_text] : candidates) {
    const auto& chain = touched.Of(chain_text);
    if (!chain) continue;
    members.push_back(RolloutMember{RolloutNode{node, *chain}, run.base});
    run.chains[node] = chain_text;  // remembered even when untargeted: asked once
  }
  AssignmentChanges changes;
  const bool open = !IsTerminal(run.state.phase) && run.state.phase != RolloutPhase::kRollingBack;
  if (open && !members.empty()) {
    std::vector<std::size_t> joined;
    auto added = AddRolloutNodes(run.state, members, clock_.NowUnixMs(), &joined);
    if (!added.ok()) {
      spdlog::error("rollout {}: nodes not joined: {}", run.state.id, added.status().ToString());
      return false;
    }
    changes = std::move(added).value();
    if (baselines) {
      MutexLock lock(reports_mu_);
      for (const std::size_t i : joined) {
        const auto it = seen_.find(members[i].node.id);
        if (it == seen_.end()) continue;
        AddToBaseline(run.state, run.state.nodes.at(members[i].node.id).wave,
                      it->second.report.slo);
      }
    }
  }
  if (members.empty() && !run.members_pending) return true;
  const bool completes = run.members_pending;
  run.members_pending = false;
  if (run.state.generation == expected) ++run.state.generation;  // the chains moved
  const std::string id = run.state.id;
  if (!Persist(std::move(run), expected, changes, Members::kChanged)) return false;
  if (completes) {
    completed_.Inc();
    MutexLock lock(mu_);
    started_here_.erase(id);
  }
  return true;
}

void RolloutEngine::OnNodeHello(const std::string& node_id, const std::string& chain,
                                std::int64_t version, const std::string& hash, bool reads_rollout) {
  MutexLock lock(reports_mu_);
  Seen& s = seen_[node_id];
  if (!s.listed || s.chain != chain) {
    if (s.listed) {  // off the chain it said before
      auto old = by_chain_.find(s.chain);
      std::vector<std::string>& ids = old->second;
      *std::find(ids.begin(), ids.end(), node_id) = std::move(ids.back());
      ids.pop_back();
      if (ids.empty()) by_chain_.erase(old);
    }
    by_chain_[chain].push_back(node_id);
    s.listed = true;
  }
  s.chain = chain;
  s.reads_rollout = reads_rollout;
  s.report.connected = true;
  s.report.offline_since_ms = 0;
  s.report.applied_version = version;
  s.report.applied_hash = hash;
  // A node that comes back running a version has applied it: as an ACK (a
  // restarted control plane learns it this way).
  if (version > s.report.acked_version) s.report.acked_version = version;
}

void RolloutEngine::OnNodeAck(const std::string& node_id, std::int64_t version,
                              const std::string& hash) {
  MutexLock lock(reports_mu_);
  Seen& s = seen_[node_id];
  s.report.acked_version = version;
  s.report.applied_version = version;
  s.report.applied_hash = hash;
}

void RolloutEngine::OnNodeNack(const std::string& node_id, std::int64_t version,
                               const std::string& /*hash*/) {
  MutexLock lock(reports_mu_);
  seen_[node_id].report.nacked_version = version;
}

void RolloutEngine::OnNodeStatus(const std::string& node_id, const StatusMsg& status) {
  MutexLock lock(reports_mu_);
  Seen& s = seen_[node_id];
  if (status.discovery_generation > 0) {
    s.report.has_discovery_generation = true;
    s.report.discovery_generation = status.discovery_generation;
    s.report.discovery_feed_id = status.discovery_feed_id;
  }
  // The requests served by the version the node runs, every window since it
  // applied it merged (a window spanning a swap also carries the older
  // version's: left out, so a wave's figures are the new version's and a
  // baseline's the old's). Each window arrives once; a new version starts
  // from nothing.
  if (s.slo_version != s.report.applied_version) {
    s.slo_version = s.report.applied_version;
    s.report.slo = SloWindow{};
  }
  for (const SloReport& r : status.slo) {
    if (r.config_version == s.report.applied_version) s.report.slo.Merge(r.window);
  }
}

void RolloutEngine::OnNodeGone(const std::string& node_id) {
  const std::int64_t now = clock_.NowUnixMs();
  MutexLock lock(reports_mu_);
  auto it = seen_.find(node_id);
  if (it == seen_.end()) return;
  it->second.report.connected = false;
  it->second.report.offline_since_ms = now;
}

}  // namespace omnirelay::cp
