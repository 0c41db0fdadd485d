#include "rollout_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cassert>
#include <optional>
#include <utility>

#include "omnirelay/meshkit/feed.h"
#include "rollout_discovery.h"

namespace omnirelay::cp {
namespace {

constexpr char kLease[] = "rollout-driver";

bool IsActive(const RolloutRun& run) {
  return !IsTerminal(run.state.phase);
}

// Holds nodes: active ones (contract 1) and aborted ones (contract 2).
bool Holds(const RolloutRun& run) {
  return IsActive(run) || run.state.phase == RolloutPhase::kAborted;
}

}  // namespace

std::vector<std::string> ScopesOfChain(const std::string& chain) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= chain.size()) {
    const std::size_t comma = chain.find(',', start);
    const std::size_t end = comma == std::string::npos ? chain.size() : comma;
    if (end > start) out.push_back(chain.substr(start, end - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool SharesScope(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::any_of(a.begin(), a.end(), [&](const std::string& s) {
    return std::find(b.begin(), b.end(), s) != b.end();
  });
}

const std::optional<std::vector<Scope>>& TouchedChains::Of(std::string_view chain_text) {
  auto it = parsed_.find(chain_text);
  if (it == parsed_.end()) {
    std::optional<std::vector<Scope>> chain;
    if (ChainTouches(std::string(chain_text), scopes_)) {
      if (auto p = ParseScopeChain(chain_text); p.ok()) chain = std::move(p).value();
    }
    it = parsed_.emplace(std::string(chain_text), std::move(chain)).first;
  }
  return it->second;
}

RolloutEngine::RolloutEngine(Store& store, SnapshotRenderer& renderer, const Clock& clock,
                             MetricsRegistry& metrics, RolloutEngineOptions options)
    : store_(store),
      renderer_(renderer),
      clock_(clock),
      options_(std::move(options)),
      ticks_(metrics.counter("omnirelay_cp_rollout_ticks_total", "Rollout driver passes")),
      completed_(metrics.counter("omnirelay_cp_rollout_members_completed_total",
                                 "Rollout starts that told their canary first, whose other "
                                 "members then joined (rollout_engine.h contract 7)")),
      members_kept_(metrics.counter("omnirelay_cp_rollout_record_writes_total",
                                    "Rollout records the driver stored, by whether the members "
                                    "part was kept (a promotion) or written again",
                                    "members=\"kept\"")),
      members_written_(metrics.counter("omnirelay_cp_rollout_record_writes_total",
                                       "Rollout records the driver stored, by whether the members "
                                       "part was kept (a promotion) or written again",
                                       "members=\"written\"")) {
  for (const char* reason :
       {"slo_breach", "nack_ratio", "ack_deadline", "divergence", "operator"}) {
    rollbacks_[reason] =
        &metrics.counter("omnirelay_cp_rollout_rollbacks_total", "Rollouts rolled back, by reason",
                         std::string("reason=\"") + reason + "\"");
  }
  for (const char* verdict : {"hold", "promote", "rollback"}) {
    evaluations_[verdict] = &metrics.counter("omnirelay_cp_rollout_gate_evaluations_total",
                                             "Wave gate evaluations by the driver, by verdict",
                                             std::string("verdict=\"") + verdict + "\"");
  }
  for (const char* status : {"nodes", "acked", "nacked", "drifting", "offline"}) {
    wave_nodes_[status] = &metrics.gauge(
        "omnirelay_cp_rollout_wave_nodes",
        "The current waves of active rollouts: their nodes, and those by what they report",
        std::string("status=\"") + status + "\"");
  }
  for (RolloutPhase phase :
       {RolloutPhase::kPending, RolloutPhase::kRunning, RolloutPhase::kAwaitingPromote,
        RolloutPhase::kPaused, RolloutPhase::kRollingBack, RolloutPhase::kSucceeded,
        RolloutPhase::kRolledBack, RolloutPhase::kAborted}) {
    const std::string name(RolloutPhaseName(phase));
    by_state_[name] = &metrics.gauge("omnirelay_cp_rollouts", "Rollouts known, by state",
                                     "state=\"" + name + "\"");
  }
}

void RolloutEngine::UpdateStateGauges() {
  std::map<std::string, std::int64_t> counts;
  {
    MutexLock lock(mu_);
    for (const auto& [id, run] : runs_) ++counts[std::string(RolloutPhaseName(run.state.phase))];
  }
  for (const auto& [state, gauge] : by_state_) gauge->Set(counts[state]);
}

void RolloutEngine::SetWaveGauges(std::map<std::string, std::int64_t> sums) {
  for (const auto& [status, gauge] : wave_nodes_) gauge->Set(sums[status]);
}

void RolloutEngine::AuditDriver(const RolloutRun& run, std::string_view action,
                                const std::string& summary) {
  AuditEntry e;
  e.time_ms = clock_.NowUnixMs();
  e.principal = "rollout-driver";
  e.action = std::string(action);
  e.scope = run.scopes.empty() ? "" : run.scopes.front();
  e.revision = run.state.new_version;
  e.outcome = "ok";
  e.summary = ("rollout " + run.state.id + ": " + summary).substr(0, 200);
  if (Status s = store_.AppendAudit({e}); !s.ok()) {
    spdlog::warn("rollout {}: audit entry not written: {}", run.state.id, s.ToString());
  }
}

RolloutEngine::~RolloutEngine() {
  Stop();
}

Status RolloutEngine::Load() {
  OMNI_ASSIGN_OR_RETURN(std::vector<RolloutRecord> stored, store_.ListRollouts());
  {
    MutexLock lock(mu_);
    for (const RolloutRecord& record : stored) {
      bool apart = false;
      auto run = RolloutRunFromRecord(record, &apart);
      if (!run.ok()) {
        spdlog::error("rollout {}: {} (left alone)", record.id, run.status().ToString());
        continue;
      }
      NoteMembersStored(record.id, record.generation, apart);
      if (IsActive(*run)) {
        spdlog::info("rollout {}: resuming in phase {} at wave {}", record.id,
                     RolloutPhaseName(run->state.phase), run->state.current_wave);
      }
      if (Holds(*run)) holding_.insert(record.id);
      runs_[record.id] = std::move(run).value();
    }
    // Contract 6: the labels of the succeeded rollouts, the newest winning.
    std::vector<const RolloutRun*> succeeded;
    for (const auto& [id, run] : runs_) {
      if (run.state.phase == RolloutPhase::kSucceeded) succeeded.push_back(&run);
    }
    std::sort(succeeded.begin(), succeeded.end(), [](const RolloutRun* a, const RolloutRun* b) {
      return a->state.new_version < b->state.new_version;
    });
    for (const RolloutRun* run : succeeded) RecordDelivered(*run);
  }
  UpdateStateGauges();
  return Status::Ok();
}

void RolloutEngine::Start(NodeFeed* feed) {
  feed_ = feed;
  if (!options_.manual_for_test) thread_ = std::thread([this] { Run(); });
}

void RolloutEngine::Stop() {
  {
    MutexLock lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.NotifyAll();
  if (thread_.joinable()) thread_.join();
}

void RolloutEngine::Run() {
  for (;;) {
    {
      MutexLock lock(stop_mu_);
      const auto deadline = std::chrono::steady_clock::now() + options_.tick_interval;
      while (!stop_) {
        if (!stop_cv_.WaitUntil(stop_mu_, deadline)) break;  // the tick is due
      }
      if (stop_) return;
    }
    Tick();
  }
}

// ---- staging

bool RolloutEngine::Hold(const std::string& hold_id, const std::vector<std::string>& scopes,
                         std::int64_t base) {
  MutexLock lock(mu_);
  for (const auto& [id, hold] : holds_) {
    if (SharesScope(hold.scopes, scopes)) return false;
  }
  for (const std::string& id : holding_) {
    const RolloutRun& run = runs_.at(id);
    if (IsActive(run) && SharesScope(run.scopes, scopes)) return false;
  }
  holds_[hold_id] = {scopes, base};
  return true;
}

void RolloutEngine::Release(const std::string& hold_id) {
  MutexLock lock(mu_);
  holds_.erase(hold_id);
}

void RolloutEngine::Register(RolloutRun run, const AssignmentChanges& first_wave,
                             const std::vector<std::shared_ptr<const SnapshotRecord>>& rendered) {
  // The first wave's snapshots are of a revision just committed, which no
  // chain has rendered yet, unless the start rendered it and stored it with
  // its commit (`rendered`: a canary told first). The others are rendered
  // first, one chain per worker, so the chains render side by side and each
  // node's delivery below finds its snapshot made instead of rendering
  // chain after chain itself. (Only a start needs this: a promotion's
  // revision was rendered for its first wave, and a rollback's is
  // published, so the feed renders it for every node on its chains in any
  // case.)
  if (feed_ != nullptr) {
    // The changes come in node id order (a wave's ids are sorted), as the
    // chains do: one walk beside them, no search per node (a change out of
    // that order only goes without its warm-up).
    std::set<std::pair<std::string_view, std::int64_t>> firsts;  // chain, version
    auto chain = run.chains.begin();
    for (const AssignmentChange& c : first_wave) {
      while (chain != run.chains.end() && chain->first < c.node_id) ++chain;
      if (chain != run.chains.end() && chain->first == c.node_id) {
        firsts.emplace(chain->second, c.to);
      }
    }
    for (const auto& [chain_text, version] : firsts) {
      auto made =
          std::find_if(rendered.begin(), rendered.end(),
                       [text = chain_text](const auto& r) { return r && r->scope_chain == text; });
      if (made != rendered.end()) {
        // Stored by the start's commit: the chain at its bound, as
        // SnapshotAt would have rendered it.
        KeepSnapshotAt(chain_text, version, *made);
        continue;
      }
      feed_->RunOnWorker([this, chain_text = std::string(chain_text), version = version] {
        SnapshotAt(chain_text, version);
      });
    }
  }
  {
    MutexLock lock(mu_);
    const std::string id = run.state.id;
    holds_.erase(id);
    if (Holds(run)) holding_.insert(id);
    if (run.members_pending) started_here_.insert(id);
    members_stored_at_[id] = run.state.generation;  // committed in two parts by the start
    runs_[id] = std::move(run);
  }
  UpdateStateGauges();
  Reoffer(first_wave);
}

std::string RolloutEngine::HolderOf(const std::vector<std::string>& scopes,
                                    const std::vector<std::string>& chains) const {
  auto overlaps = [&](const std::vector<std::string>& held) {
    if (SharesScope(held, scopes)) return true;
    for (const std::string& chain : chains) {
      const auto on_chain = ScopesOfChain(chain);
      if (SharesScope(on_chain, held) && SharesScope(on_chain, scopes)) return true;
    }
    return false;
  };
  MutexLock lock(mu_);
  for (const auto& [id, hold] : holds_) {
    if (overlaps(hold.scopes)) return id;
  }
  for (const std::string& id : holding_) {
    const RolloutRun& run = runs_.at(id);
    if (IsActive(run) && overlaps(run.scopes)) return id;
  }
  return "";
}

// ---- operators

Result<RolloutRun> RolloutEngine::Get(const std::string& id) const {
  MutexLock lock(mu_);
  auto it = runs_.find(id);
  if (it == runs_.end()) return Status(StatusCode::kNotFound, "no rollout \"" + id + "\"");
  return it->second;
}

Result<RolloutRun> RolloutEngine::GetWithProgress(const std::string& id) {
  OMNI_ASSIGN_OR_RETURN(RolloutRun run, Get(id));
  return WithProgress(std::move(run));
}

std::vector<RolloutRun> RolloutEngine::List(bool with_progress) {
  std::vector<RolloutRun> out;
  {
    MutexLock lock(mu_);
    for (const auto& [id, run] : runs_) out.push_back(run);
  }
  if (with_progress) {
    for (RolloutRun& run : out) {
      if (IsActive(run)) run = WithProgress(std::move(run));  // finished ones: no reports read
    }
  }
  std::sort(out.begin(), out.end(), [](const RolloutRun& a, const RolloutRun& b) {
    return std::tie(b.state.created_at_ms, b.state.id) <
           std::tie(a.state.created_at_ms, a.state.id);
  });
  return out;
}

Result<RolloutRun> RolloutEngine::Act(const std::string& id, RolloutAction action) {
  // Contract 7: an action reads the whole rollout, never a start's first wave alone.
  if (Status complete = CompleteMembers(id, false); !complete.ok()) {
    if (complete.code() == StatusCode::kNotFound) return complete;
    return Status(StatusCode::kUnavailable, "rollout " + id + " is still joining its members (" +
                                                complete.message() + "); retry");
  }
  OMNI_ASSIGN_OR_RETURN(RolloutRun run, Get(id));
  const std::int64_t expected = run.state.generation;
  OMNI_ASSIGN_OR_RETURN(AssignmentChanges changes,
                        ActOnRollout(run.state, action, clock_.NowUnixMs()));
  const bool rolling_back = run.state.phase == RolloutPhase::kRollingBack;
  if (!Persist(std::move(run), expected, changes, Members::kAsStored)) {
    return Status(StatusCode::kConflict,
                  "rollout " + id + " changed while acting on it; look at it again and retry");
  }
  if (rolling_back) {
    OMNI_RETURN_IF_ERROR(CommitRollbackOf(id));
  }
  return GetWithProgress(id);
}

// ---- the driver

void RolloutEngine::FollowStore() {
  Result<std::vector<RolloutRecord>> heads = store_.ListRolloutHeads();
  if (!heads.ok()) return;  // the store's outage is reported elsewhere; next tick
  std::vector<std::string> stale;
  {
    MutexLock lock(mu_);
    for (const RolloutRecord& head : *heads) {
      if (holds_.count(head.id) != 0) continue;  // being started here: Register has it
      auto it = runs_.find(head.id);
      if (it == runs_.end() || it->second.state.generation < head.generation) {
        stale.push_back(head.id);
      }
    }
  }
  for (const std::string& id : stale) {
    Result<RolloutRecord> stored = store_.GetRollout(id);
    if (!stored.ok()) continue;
    bool apart = false;
    Result<RolloutRun> run = RolloutRunFromRecord(*stored, &apart);
    if (!run.ok()) {
      spdlog::error("rollout {}: {} (left alone)", id, run.status().ToString());
      continue;
    }
    std::vector<std::string> scopes = run->scopes;
    {
      MutexLock lock(mu_);
      auto it = runs_.find(id);
      if (holds_.count(id) != 0 ||
          (it != runs_.end() && it->second.state.generation >= run->state.generation)) {
        continue;  // moved here meanwhile
      }
      spdlog::info("rollout {}: now {} at wave {} (generation {}, from the store)", id,
                   RolloutPhaseName(run->state.phase), run->state.current_wave,
                   run->state.generation);
      if (Holds(*run)) {
        holding_.insert(id);
      } else {
        holding_.erase(id);
      }
      if (run->state.phase == RolloutPhase::kSucceeded) RecordDelivered(*run);
      NoteMembersStored(id, stored->generation, apart);
      runs_[id] = std::move(run).value();
    }
    // Nodes already holding their answer are sent nothing.
    if (feed_ != nullptr) feed_->Reassign(SeenTouching(scopes));
  }
  if (!stale.empty()) UpdateStateGauges();
}

FeedView RolloutEngine::ObserveFeed() {
  FeedView view;
  if (options_.discovery == nullptr) return view;
  view.set = options_.discovery->Current();  // copied: the reference is this thread's
  view.connected = options_.discovery->stats().connected;
  MutexLock lock(feed_mu_);
  if (view.set) {
    const auto generation = static_cast<std::int64_t>(view.set->generation());
    // A new feed instance numbers from 1 again: its history starts over.
    if (view.set->feed_id() != feed_id_) {
      feed_id_ = view.set->feed_id();
      feed_history_.clear();
    }
    if (feed_history_.empty() || feed_history_.back().second != generation) {
      feed_history_.emplace_back(clock_.NowUnixMs(), generation);
    }
    // Enough to judge any lag a policy allows in practice: 10 minutes, at most 1,024 entries.
    const std::int64_t horizon = clock_.NowUnixMs() - 10 * 60'000;
    while (feed_history_.size() > 1024 ||
           (feed_history_.size() > 1 && feed_history_[1].first < horizon)) {
      feed_history_.pop_front();
    }
  }
  view.history.assign(feed_history_.begin(), feed_history_.end());
  return view;
}

void RolloutEngine::Tick() {
  FollowStore();
  std::vector<std::string> active;
  {
    MutexLock lock(mu_);
    for (const std::string& id : holding_) {
      if (IsActive(runs_.at(id))) active.push_back(id);
    }
  }
  // The current waves' progress, summed as the driver reads the reports
  // below (zero on an idle daemon, or one that does not drive).
  std::map<std::string, std::int64_t> wave_sums;
  // Nothing to drive: no lease write (a store commit, an fsync) every tick
  // of an idle daemon.
  if (active.empty()) return SetWaveGauges(std::move(wave_sums));
  auto held =
      store_.AcquireLease(kLease, options_.holder, clock_.NowUnixMs(), options_.lease_ttl_ms);
  if (!held.ok()) {
    spdlog::warn("rollout driver: lease: {}", held.status().ToString());
    return SetWaveGauges(std::move(wave_sums));
  }
  if (!*held) return SetWaveGauges(std::move(wave_sums));  // another replica drives
  ticks_.Inc();
  const FeedView feed = ObserveFeed();
  for (const std::string& id : active) {
    if (Status complete = CompleteMembers(id, false); !complete.ok()) {
      if (complete.code() != StatusCode::kUnavailable) {
        spdlog::warn("rollout {}: members not joined yet: {}", id, complete.ToString());
      }
      continue;  // contract 7: no gate reads a partial rollout
    }
    AddNewcomers(id);
    auto run = Get(id);
    if (!run.ok() || run->members_pending) continue;
    if (run->state.phase == RolloutPhase::kRollingBack) {
      if (Status s = CommitRollbackOf(id); !s.ok()) {
        spdlog::error("rollout {}: rollback commit failed: {}", id, s.ToString());
      }
      continue;
    }
    AssignedHashes hashes;
    const NodeReports reports = ReportsFor(*run, &hashes);
    const std::int64_t expected = run->state.generation;
    const std::size_t wave_before = run->state.current_wave;
    std::optional<WaveDiscovery> discovery;
    if (options_.discovery != nullptr) discovery = DiscoveryForWave(feed, run->state, run->chains);
    TickResult tick = TickRollout(run->state, clock_.NowUnixMs(), reports, &hashes,
                                  discovery ? &*discovery : nullptr);
    if (const std::size_t wave = run->state.current_wave;
        IsActive(*run) && wave < run->state.waves.size()) {
      const RolloutRun::WaveProgress p = ProgressOf(run->state, reports)[wave];
      wave_sums["nodes"] += static_cast<std::int64_t>(run->state.waves[wave].node_ids.size());
      wave_sums["acked"] += p.acked;
      wave_sums["nacked"] += p.nacked;
      wave_sums["drifting"] += p.drifting;
      wave_sums["offline"] += p.offline;
    }
    const char* verdict = tick.verdict.verdict == Verdict::kPromote    ? "promote"
                          : tick.verdict.verdict == Verdict::kRollback ? "rollback"
                                                                       : "hold";
    evaluations_.at(verdict)->Inc();
    if (!tick.changed) {
      MutexLock lock(mu_);  // status, not progress: no generation, not stored
      auto it = runs_.find(id);
      if (it != runs_.end() && it->second.state.generation == expected) {
        it->second.state.last_verdict = run->state.last_verdict;
        it->second.state.wave_baselines = run->state.wave_baselines;  // stored with the next change
      }
      continue;
    }
    if (!Persist(*run, expected, tick.changes, Members::kAsStored)) continue;
    if (run->state.phase == RolloutPhase::kSucceeded) {
      AuditDriver(*run, "rollout.succeeded", "every wave passed");
    } else if (run->state.current_wave != wave_before) {
      AuditDriver(*run, "rollout.promote",
                  "wave " + std::to_string(wave_before) + " passed its gates; wave " +
                      std::to_string(run->state.current_wave) + " assigned");
    } else if (run->state.phase == RolloutPhase::kAwaitingPromote) {
      AuditDriver(*run, "rollout.awaiting_promote",
                  "wave " + std::to_string(wave_before) + " passed its gates (manual promotion)");
    }
    if (run->state.phase == RolloutPhase::kRollingBack) {
      AuditDriver(*run, "rollout.rollback",
                  run->state.rollback_reason + ": " + tick.verdict.message);
      spdlog::warn("rollout {}: rolling back ({}: {})", id, run->state.rollback_reason,
                   tick.verdict.message);
      if (Status s = CommitRollbackOf(id); !s.ok()) {
        spdlog::error("rollout {}: rollback commit failed: {}", id, s.ToString());
      }
    }
  }
  SetWaveGauges(std::move(wave_sums));
}

void RolloutEngine::NoteMembersStored(const std::string& id, std::int64_t generation, bool apart) {
  if (apart) {
    members_stored_at_[id] = generation;
  } else {
    members_stored_at_.erase(id);  // format 1: the next put writes them
  }
}

bool RolloutEngine::Persist(RolloutRun run, std::int64_t expected, const AssignmentChanges& changes,
                            Members members) {
  // A promotion changes no member: the stored members stay as they are and
  // only the head (a few KB, however large the rollout) is built and written.
  // (Keeping stays right if the note moves after this look: the stored
  // members at `expected` were the run's, and a store past it refuses the put.)
  bool keep = false;
  if (members == Members::kAsStored) {
    MutexLock lock(mu_);
    const auto known = members_stored_at_.find(run.state.id);
    keep = known != members_stored_at_.end() && known->second == expected;
#ifndef NDEBUG
    const auto held = runs_.find(run.state.id);
    assert(
        (!keep || held == runs_.end() || held->second.state.generation != expected ||
         RolloutRecordOf(run, 0).members_json == RolloutRecordOf(held->second, 0).members_json) &&
        "Persist: members changed");
#endif
  }
  RolloutRecord record = RolloutRecordOf(run, clock_.NowUnixMs(), /*with_members=*/!keep);
  record.members_unchanged = keep;
  if (Status put = store_.PutRollout(record, expected); !put.ok()) {
    spdlog::warn("rollout {}: not persisted ({}); reloading it", run.state.id, put.ToString());
    Result<RolloutRecord> stored = store_.GetRollout(run.state.id);
    bool apart = false;
    Result<RolloutRun> reloaded =
        stored.ok() ? RolloutRunFromRecord(*stored, &apart) : Result<RolloutRun>(stored.status());
    MutexLock lock(mu_);
    members_stored_at_.erase(run.state.id);
    if (reloaded.ok()) {
      NoteMembersStored(run.state.id, stored->generation, apart);
      runs_[run.state.id] = std::move(reloaded).value();
    }
    return false;
  }
  (record.members_unchanged ? members_kept_ : members_written_).Inc();
  const bool released = !Holds(run);
  std::vector<std::string> scopes = run.scopes;
  {
    MutexLock lock(mu_);
    if (const auto known = members_stored_at_.find(run.state.id);
        !keep || (known != members_stored_at_.end() && known->second == expected)) {
      members_stored_at_[run.state.id] = record.generation;
    } else {
      members_stored_at_.erase(run.state.id);  // moved meanwhile: the next put writes them
    }
    if (released) holding_.erase(run.state.id);
    // Before its nodes are re-offered below: they keep their labels.
    if (run.state.phase == RolloutPhase::kSucceeded) RecordDelivered(run);
    runs_[run.state.id] = std::move(run);
  }
  Reoffer(changes);  // durable and in force: the nodes first, the gauges after
  UpdateStateGauges();
  if (released && feed_ != nullptr) {
    // Nodes it held off its change set (newcomers, untargeted) follow their
    // chain's newest from now.
    feed_->Reassign(SeenTouching(scopes));
  }
  return true;
}

Status RolloutEngine::CommitRollbackOf(const std::string& id) {
  OMNI_ASSIGN_OR_RETURN(RolloutRun run, Get(id));
  if (run.state.phase != RolloutPhase::kRollingBack) return Status::Ok();
  const std::int64_t now = clock_.NowUnixMs();
  std::vector<LayerWrite> writes;
  for (const std::string& scope : run.scopes) {
    LayerWrite w;
    w.scope = scope;
    auto before = store_.GetLayer(scope, run.base);
    if (before.ok()) {
      w.document = before->document;
    } else if (before.status().code() != StatusCode::kNotFound) {
      return before.status();
    } else if (!store_.GetLayer(scope).ok()) {
      continue;  // absent before and now: nothing to restore
    }
    w.author = "rollout:" + id;
    w.now_ms = now;
    w.audit.time_ms = now;
    w.audit.principal = "rollout:" + id;
    w.audit.action = "rollout.rollback";
    w.audit.scope = scope;
    w.audit.outcome = "ok";
    w.audit.summary = "restores revision " + std::to_string(run.base) + " content (" +
                      run.state.rollback_reason + ")";
    writes.push_back(std::move(w));
  }
  const std::int64_t expected = run.state.generation;
  RolloutRun committed = run;
  AssignmentChanges changes;
  auto make = [&](const std::vector<std::int64_t>& revisions) -> Result<RolloutRecord> {
    committed = run;
    OMNI_ASSIGN_OR_RETURN(changes, CommitRollback(committed.state, revisions.back(), now));
    return RolloutRecordOf(committed, now);
  };
  if (writes.empty()) {
    return Status(StatusCode::kInternal, "rollout " + id + " has nothing to roll back");
  }
  auto revisions = store_.WriteLayers(writes, make, expected);
  if (!revisions.ok()) return revisions.status();
  members_written_.Inc();
  if (auto it = rollbacks_.find(run.state.rollback_reason); it != rollbacks_.end()) {
    it->second->Inc();
  }
  {
    MutexLock lock(mu_);
    holding_.erase(id);
    members_stored_at_[id] = committed.state.generation;  // written in two parts above
    runs_[id] = committed;
  }
  UpdateStateGauges();
  if (options_.publish) options_.publish(revisions->back(), run.scopes);
  Reoffer(changes);
  return Status::Ok();
}

void RolloutEngine::Reoffer(const AssignmentChanges& changes) {
  if (feed_ == nullptr || changes.empty()) return;
  std::vector<std::string> ids;
  ids.reserve(changes.size());
  for (const auto& c : changes) ids.push_back(c.node_id);
  feed_->Reassign(ids);
}

}  // namespace omnirelay::cp
