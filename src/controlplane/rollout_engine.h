// The rollout engine (DESIGN.md §4 Rollouts): the rollouts in force, what
// each node is assigned while one holds its chain, the driver that ticks
// them, and the node reports the gates read. The state machine itself is
// rollout_state.h; this is its home in the daemon.
//
// Versions in a rollout are revision bounds: a node assigned bound B runs
// its chain as it stood at revision B (SnapshotRenderer::AtRevision), whose
// snapshot version is the newest revision <= B touching the chain. The
// previous bound of every member is `base`, the head revision just before the
// change set; the new bound is the change set's last revision; a rollback's
// bound is its commit's last revision. Reports are translated back: a node
// that ACKs the snapshot of its assigned bound has ACKed the bound.
//
// Contract:
//  1. Holds. While a rollout is active (not terminal), every node on a chain
//     containing one of its change-set scopes is assigned by the rollout:
//     members their bound; a node not (yet) a member its previous bound
//     `base`. Between Hold() and the rollout's registration (the change set
//     commit) the same scopes are held at `base`, so no node ever sees a
//     staged revision before its wave.
//  2. An aborted rollout keeps its nodes where they are until a later write
//     moves their chain past its new bound; succeeded and rolled-back ones
//     hold nothing (their bound is the chain's newest).
//  3. Conflicts: `HolderOf` names the active rollout (or pending hold) whose
//     scopes share a known chain with the given scopes: a plain write or a
//     second rollout there is refused rollout_in_progress.
//  4. The driver ticks every `tick_interval` while it holds the store lease
//     "rollout-driver": reports in, TickRollout, CAS-persist, then the nodes
//     whose assignment changed are re-offered (feed Reassign). A rollback
//     verdict commits the old contents as new revisions and the state in one
//     store transaction. A CAS conflict reloads the rollout from the store.
//  5. Start/Act persist (CAS) before any node is told.
//  6. Rollout labels (DESIGN.md §3.3, Compatibility). A node that reads
//     metadata.rollout (its hello advertised kFeatureRolloutInfo) and is
//     assigned a rollout's new content by its wave is sent the rendering of
//     that snapshot naming the rollout and the wave (1-based;
//     SnapshotRenderer::WithRollout), also after the rollout succeeded, for
//     as long as its chain has no newer version. Every other node, and every
//     assignment that is not a wave's new content (held at base, a
//     rollback's version, a plain write), gets the chain's own snapshot.
//     The divergence gate expects of each node the rendering it is sent.
//  7. A start may commit and tell its canary before it plans the rest
//     (RolloutRun::members_pending): its first wave is then the nodes that
//     said hello to this process that the canary hash picks (plan rule 3),
//     which equal the full plan's canary among them whenever rules 4 and 4b
//     do not fire — the service checks that on the nodes it knows at the
//     start, else it plans in full first (a node that changes its chain in
//     between may still leave a canary rule 4b would have trimmed: the
//     completion places nodes as joiners are placed). CompleteMembers
//     joins every other known node (the stored records and those said
//     hello here) where WaveOfNode puts it, CAS-persisted; the driver runs
//     it before it ticks such a rollout, and Act before it acts, so a
//     restart between the two completes it, and no gate reads a partial
//     rollout. Until then, a node not yet joined that the canary hash picks
//     is pinned as the canary member it will join as (so another replica's
//     canary nodes are told when it reads the pending record); the driver of
//     another replica leaves the joining to the starter for
//     kForeignPendingMs (it knows nodes not stored yet). Such a start
//     renders its canary's chains before its commit and stores their
//     snapshots in it (RolloutRecord::snapshots; Register takes them), so
//     neither a render nor a snapshot write of a chain's own snapshot
//     stands between the commit and the canary's first Notify (a node that
//     reads metadata.rollout still waits for its wave's labelled copy,
//     signed and stored on first use); a chain that does not render there
//     is rendered after the commit, as for any other start.
//
// Thread safety: every method may be called from any thread. The engine's
// lock is never held across store, renderer or feed calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "omnirelay/api/types.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/node_feed.h"
#include "omnirelay/controlplane/renderer.h"
#include "omnirelay/controlplane/store.h"
#include "rollout_discovery.h"
#include "rollout_state.h"

namespace omnirelay::meshkit {
class EndpointSource;
}  // namespace omnirelay::meshkit

namespace omnirelay::cp {

// A rollout as the engine keeps and stores it: the state machine's state and
// what the daemon needs beside it.
struct RolloutRun {
  RolloutState state;
  std::vector<std::string> scopes;  // the change set's scopes, in order
  std::int64_t base = 0;            // the head revision before the change set
  std::string author;
  std::string reason;
  // Per member node: its chain (canonical text), to render its bound.
  std::map<std::string, std::string> chains;
  // A start that told its first wave before it planned the rest (contract
  // 7): the members are the first wave's connected nodes only until
  // CompleteMembers joins every other known node; no wave is gated or
  // promoted before that. Stored ("membersPending", only when true).
  bool members_pending = false;
  // Not stored: per wave, its nodes by what they report about the version
  // each is assigned (Get, List and Act fill it from the nodes' reports).
  struct WaveProgress {
    std::int64_t acked = 0;     // ACKed it (exactly it, as the gates count)
    std::int64_t nacked = 0;    // refused it
    std::int64_t drifting = 0;  // connected, neither (applying, or stuck: drift repair)
    std::int64_t offline = 0;   // not connected, neither
    friend bool operator==(const WaveProgress&, const WaveProgress&) = default;
  };
  std::vector<WaveProgress> progress;
  // A start's dry run only (not stored): the nodes that would refuse the
  // change for a capability they lack; a real start is refused instead.
  std::vector<api::BlockedNode> blocked_nodes;

  friend bool operator==(const RolloutRun&, const RolloutRun&) = default;
};
// The record the daemon stores (format 2, rollout_state.h contract 7): the
// run's own fields and the state's head in state_json, the members (with
// their chains) in members_json. generation is the state's.
// Without `with_members`, members_json is left empty (the caller knows the
// stored one is the run's: RolloutRecord::members_unchanged).
RolloutRecord RolloutRecordOf(const RolloutRun& run, std::int64_t updated_at_ms,
                              bool with_members = true);
// A stored record in either format, chosen by the format its state names
// (format 1 ignores members_json); `members_apart` (when given) says
// whether it was format 2.
Result<RolloutRun> RolloutRunFromRecord(const RolloutRecord& record, bool* members_apart = nullptr);
// Format 1, everything in one object (chains included): what daemons stored
// before the members were kept apart. Read by RolloutRunFromRecord; written
// only to make such records.
std::string RolloutRunToJson(const RolloutRun& run);
// Per wave, its nodes by what `reports` (versions as revision bounds, as
// RolloutEngine::ReportsFor gives them) say about the version each is assigned.
std::vector<RolloutRun::WaveProgress> ProgressOf(const RolloutState& s, const NodeReports& reports);

// The scopes of a canonical chain text ("global,region:eu-west,...").
std::vector<std::string> ScopesOfChain(const std::string& chain);
// Whether the two scope lists have a scope in common.
bool SharesScope(const std::vector<std::string>& a, const std::vector<std::string>& b);
// Whether a chain (canonical text) contains one of `scopes`: a change set
// touching them touches it.
inline bool ChainTouches(const std::string& chain, const std::vector<std::string>& scopes) {
  return SharesScope(ScopesOfChain(chain), scopes);
}
// The chains a change set over `scopes` touches, each distinct chain text
// checked and parsed once (fleets share a few chains): Of gives the parsed
// chain, or nullopt when the text is untouched or unparsable.
class TouchedChains {
 public:
  explicit TouchedChains(const std::vector<std::string>& scopes) : scopes_(scopes) {}
  const std::optional<std::vector<Scope>>& Of(std::string_view chain_text);

 private:
  struct TextHash {  // looks a text up without building a string for it
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  const std::vector<std::string>& scopes_;
  std::unordered_map<std::string, std::optional<std::vector<Scope>>, TextHash, std::equal_to<>>
      parsed_;
};
Result<RolloutRun> RolloutRunFromJson(std::string_view json);

struct RolloutEngineOptions {
  std::chrono::milliseconds tick_interval{1000};
  // The driver lease: renewed every tick by its holder while a rollout is
  // active; when the holder dies, another replica takes it within about
  // lease_ttl_ms + tick_interval.
  std::int64_t lease_ttl_ms = 10'000;
  std::string holder = "controlplane";  // this process, for the lease: unique per replica
  bool manual_for_test = false;         // no thread: RunDueForTest() ticks
  // The daemon's MeshKit connection (--meshkit), or null: the gates that
  // need one are skipped (rollout_gates.h, rollout_discovery.h). Outlives
  // the engine.
  const meshkit::EndpointSource* discovery = nullptr;
  // Announces a commit the engine made (a rollback): the service's Publish.
  std::function<void(std::int64_t revision, const std::vector<std::string>& scopes)> publish;
};

class RolloutEngine final : public AssignmentSource, public NodeObserver {
 public:
  RolloutEngine(Store& store, SnapshotRenderer& renderer, const Clock& clock,
                MetricsRegistry& metrics, RolloutEngineOptions options = {});
  ~RolloutEngine() override;  // Stop()
  RolloutEngine(const RolloutEngine&) = delete;
  RolloutEngine& operator=(const RolloutEngine&) = delete;

  // Loads the stored rollouts (active and aborted ones hold nodes): before
  // any face serves. Then Start (once the feed exists) starts the driver.
  Status Load() EXCLUDES(mu_);
  void Start(NodeFeed* feed);
  void Stop();

  // ---- staging (the service)
  // Contract 1: holds `scopes` at `base` until Release or Register. False
  // when a rollout or another hold already holds one of them (HolderOf).
  bool Hold(const std::string& hold_id, const std::vector<std::string>& scopes, std::int64_t base)
      EXCLUDES(mu_);
  void Release(const std::string& hold_id) EXCLUDES(mu_);
  // Replaces the hold `run.state.id` by the committed, started rollout and
  // re-offers its first wave.
  // The start committed it with RolloutRecordOf (format 2), and with it
  // `rendered`: snapshots of first-wave chains at the start's revisions
  // (RolloutRecord::snapshots), which their nodes are sent without a render.
  void Register(RolloutRun run, const AssignmentChanges& first_wave,
                const std::vector<std::shared_ptr<const SnapshotRecord>>& rendered = {})
      EXCLUDES(mu_);
  // Contract 7: joins every known node the rollout's change set touches and
  // that is not in it yet, and clears members_pending. Ok when done (or
  // nothing was pending); the store's error otherwise (the driver retries).
  // Without `now`, a rollout started by another process is left to that
  // process for kForeignPendingMs after its creation (kUnavailable): it
  // knows the nodes that said hello to it and are not stored yet.
  Status CompleteMembers(const std::string& id, bool now = true)
      EXCLUDES(mu_, reports_mu_, join_mu_);
  static constexpr std::int64_t kForeignPendingMs = 5'000;
  // The nodes that said hello to this process, chain by chain (the chain
  // each said last): visit(chain, node ids), once per chain, in no
  // particular order. Work that depends on the chain alone is done once per
  // chain, not once per node. Runs under the reports lock (nothing copied):
  // `visit` must be quick and must not call the engine.
  void VisitSeenByChain(
      const std::function<void(std::string_view, const std::vector<std::string>&)>& visit) const
      EXCLUDES(reports_mu_);
  // Waits, at most `cap`, until every node of `run`'s current wave that is
  // connected here has answered (ACK or NACK) a version past run.base: a
  // start completes its members once its canary has what it was told, not
  // while the same cores deliver it (contract 7). Nodes are checked in wave
  // order, each until it has answered; one found offline is not waited for.
  void AwaitCurrentWave(const RolloutRun& run, std::chrono::milliseconds cap) const
      EXCLUDES(reports_mu_);
  // Contract 3: the id of the active rollout or hold whose scopes share one
  // of `chains` (canonical texts of known chains) with `scopes`; "" if none.
  std::string HolderOf(const std::vector<std::string>& scopes,
                       const std::vector<std::string>& chains) const EXCLUDES(mu_);

  // ---- operators
  Result<RolloutRun> Act(const std::string& id, RolloutAction action) EXCLUDES(mu_);
  Result<RolloutRun> Get(const std::string& id) const EXCLUDES(mu_);
  Result<RolloutRun> GetWithProgress(const std::string& id) EXCLUDES(mu_, reports_mu_);
  // Newest first; the active ones with their progress unless !with_progress.
  std::vector<RolloutRun> List(bool with_progress = true) EXCLUDES(mu_, reports_mu_);
  // Each member's report joined to its wave's baseline (AddToBaseline), read
  // in place: a start copies no report.
  void AddBaselines(RolloutState& s) const EXCLUDES(reports_mu_);
  // `run` with its per-wave progress filled from the nodes' reports.
  RolloutRun WithProgress(RolloutRun run) EXCLUDES(reports_mu_, cache_mu_);
  // Every node that said hello to this process or is in `stored` (sorted by
  // node id), with the chain it said last (a hello's over the stored one),
  // in node id order: visit(node_id, chain). Runs under the reports lock
  // (nothing copied): `visit` must be quick and must not call the engine.
  void VisitKnownChains(const std::vector<NodeChain>& stored,
                        const std::function<void(std::string_view, std::string_view)>& visit) const
      EXCLUDES(reports_mu_);

  // ---- AssignmentSource
  Result<std::shared_ptr<const SnapshotRecord>> Newest(const std::vector<Scope>& chain) override;
  std::shared_ptr<const SnapshotRecord> Assigned(
      const std::string& node_id, const std::vector<Scope>& chain,
      const std::shared_ptr<const SnapshotRecord>& newest, bool reads_rollout) override;
  // The pins of all of them under one lock (and, for label-reading nodes
  // pinned by no wave, a second pass for their delivered labels); each
  // distinct bound rendered and each (snapshot, rollout, wave) labelled once.
  void AssignedMany(const std::vector<Scope>& chain, const std::vector<std::string>& chain_scopes,
                    const std::shared_ptr<const SnapshotRecord>& newest, std::span<const Ask> asks,
                    std::vector<std::shared_ptr<const SnapshotRecord>>* out) override;
  // An active rollout holding the chain, staged past `since`.
  bool PinsChainPast(const std::vector<std::string>& chain_scopes, std::int64_t since) override;

  // ---- NodeObserver
  void OnNodeHello(const std::string& node_id, const std::string& chain, std::int64_t version,
                   const std::string& hash, bool reads_rollout) override;
  void OnNodeAck(const std::string& node_id, std::int64_t version,
                 const std::string& hash) override;
  void OnNodeNack(const std::string& node_id, std::int64_t version,
                  const std::string& hash) override;
  void OnNodeStatus(const std::string& node_id, const StatusMsg& status) override;
  void OnNodeGone(const std::string& node_id) override;

  // One driver pass now (what the thread does every tick_interval): first
  // FollowStore, then, holding the lease, the active rollouts' ticks.
  void Tick();
  // Replicas of a cell share the store: a rollout another replica started,
  // advanced, rolled back or finished (a stored generation newer than the one
  // held here) is read again and the nodes connected here on its chains are
  // re-offered what it assigns them now. Run by every Tick, so within one
  // tick_interval; the lease holder's own changes are already here.
  void FollowStore();
  void RunDueForTest() { Tick(); }

 private:
  struct HeldScopes {
    std::vector<std::string> scopes;
    std::int64_t base = 0;
  };
  // What Assigned answers for a node, decided under the lock.
  struct Pin {
    bool held = false;
    std::int64_t bound = 0;
    // Contract 6: the rollout wave that assigned `bound` as its new
    // content ("" and 0 when none).
    std::string rollout_id;
    std::int64_t wave = 0;  // 1-based
    // `bound` is a revision the rollout staged (past its base): one that
    // changed the chain, so the chain's newest below it is not yet rendered.
    bool staged = false;
  };
  Pin PinOf(const std::string& node_id, const std::vector<Scope>& chain,
            const std::vector<std::string>& chain_scopes, std::int64_t newest_version) const
      REQUIRES(mu_);
  static Pin HeldAt(std::int64_t bound);
  // Contract 7: whether the canary hash picks a node on `chain` not yet
  // joined to `run` (members pending) while its canary runs.
  static bool InPendingCanary(const RolloutRun& run, const std::string& node_id,
                              const std::vector<Scope>& chain);
  // A member's pin in `run`, labelled when it is assigned the new content.
  static Pin MemberPin(const RolloutRun& run, const NodeAssignment& member);
  // Contract 6 after a rollout succeeded: the wave that assigned the node
  // its new content, when `version` (of the snapshot it is assigned) is
  // still that content; an entry the chain has moved past is dropped.
  Pin DeliveredPin(const std::string& node_id, std::int64_t version) REQUIRES(mu_);
  // Records the members `run` (succeeded) gave its new content.
  void RecordDelivered(const RolloutRun& run) REQUIRES(mu_);
  // `base` labelled with the pin's rollout wave; `base` itself if that fails.
  std::shared_ptr<const SnapshotRecord> Labelled(const std::shared_ptr<const SnapshotRecord>& base,
                                                 const Pin& pin);
  // The snapshot of `chain` (canonical text) at `bound`; null when none.
  std::shared_ptr<const SnapshotRecord> SnapshotAt(const std::string& chain, std::int64_t bound)
      EXCLUDES(cache_mu_);
  // What SnapshotAt(chain, bound) answers from now on (while fresh).
  void KeepSnapshotAt(std::string_view chain, std::int64_t bound,
                      std::shared_ptr<const SnapshotRecord> snapshot) EXCLUDES(cache_mu_);
  // Per member of `run` (in state.nodes order): the snapshot of its chain at
  // its assigned bound; null when its chain is not known or not rendered.
  std::vector<std::shared_ptr<const SnapshotRecord>> AssignedSnapshots(const RolloutRun& run)
      EXCLUDES(cache_mu_);
  // Reports of `run`'s members translated to bounds (see the header comment);
  // with `assigned_hashes`, each member's hash of its assigned bound too.
  NodeReports ReportsFor(const RolloutRun& run, AssignedHashes* assigned_hashes)
      EXCLUDES(reports_mu_, cache_mu_);
  // Persists `run` (CAS on `expected`) and re-offers `changes`; on a
  // conflict reloads the stored run. False when not persisted.
  // kAsStored: the caller changed `run` only through TickRollout,
  // ActOnRollout or CommitRollback since it was stored at `expected`, which
  // touch no member (their ids, waves, previous versions, the wave and
  // untargeted lists, the chains): the members part is then neither built
  // nor written (a debug build checks that claim against runs_).
  // kChanged: the members part is written.
  enum class Members { kAsStored, kChanged };
  bool Persist(RolloutRun run, std::int64_t expected, const AssignmentChanges& changes,
               Members members);
  // Commits the old contents of a rolling-back run as new revisions.
  Status CommitRollbackOf(const std::string& id);
  // Joins nodes that said hello on a held chain since they were planned.
  void AddNewcomers(const std::string& id) EXCLUDES(join_mu_);
  // Joins `candidates` (node id, chain text; not in the run) that the run's
  // change set touches, clears members_pending and persists by CAS on the
  // run's generation. With `baselines`, each joined node's report joins its
  // wave's baseline (as at creation). False when not persisted.
  bool Join(RolloutRun run, const std::vector<std::pair<std::string, std::string>>& candidates,
            bool baselines) REQUIRES(join_mu_);
  void Reoffer(const AssignmentChanges& changes);
  void Run();
  // The MeshKit feed at this tick, with when each generation was first seen
  // (feed_history_, updated here; the driver's only).
  FeedView ObserveFeed() EXCLUDES(feed_mu_);

  Store& store_;
  SnapshotRenderer& renderer_;
  const Clock& clock_;
  const RolloutEngineOptions options_;
  // Recounts the per-state gauges from runs_.
  void UpdateStateGauges() EXCLUDES(mu_);
  // omnirelay_cp_rollout_wave_nodes from per-status sums ("nodes", "acked", ...).
  void SetWaveGauges(std::map<std::string, std::int64_t> sums);
  // The driver's own steps in the audit log (principal "rollout-driver").
  void AuditDriver(const RolloutRun& run, std::string_view action, const std::string& summary);

  Counter& ticks_;
  Counter& completed_;        // CompleteMembers that joined a canary-first start's members
  Counter& members_kept_;     // records stored with the members part left as it was
  Counter& members_written_;  // records stored with the members part written
  std::map<std::string, Counter*> rollbacks_;    // by reason; fixed after construction
  std::map<std::string, Counter*> evaluations_;  // by verdict; fixed after construction
  std::map<std::string, Gauge*> by_state_;       // by phase; fixed after construction
  std::map<std::string, Gauge*> wave_nodes_;     // by status; fixed after construction
  NodeFeed* feed_ = nullptr;                     // set by Start, before the thread

  mutable Mutex mu_;
  std::map<std::string, RolloutRun> runs_ GUARDED_BY(mu_);  // every stored rollout
  // Per rollout stored in format 2: the generation at which this process
  // wrote or read its members part, which is then runs_'s. A put expecting
  // that generation may leave the stored part alone
  // (RolloutRecord::members_unchanged).
  std::map<std::string, std::int64_t> members_stored_at_ GUARDED_BY(mu_);
  // `apart`: the record read or written at `generation` is format 2.
  void NoteMembersStored(const std::string& id, std::int64_t generation, bool apart) REQUIRES(mu_);
  std::map<std::string, HeldScopes> holds_ GUARDED_BY(mu_);
  // Active or aborted rollouts by id (those that may hold nodes).
  std::set<std::string> holding_ GUARDED_BY(mu_);
  // Rollouts this process registered with members pending (contract 7).
  std::set<std::string> started_here_ GUARDED_BY(mu_);
  // Contract 6: node id -> the succeeded rollout that last gave it its new
  // content (consulted for nodes that read labels, when nothing holds them).
  std::unordered_map<std::string, std::string> delivered_ GUARDED_BY(mu_);

  mutable Mutex reports_mu_;
  struct Seen {
    NodeReport report;  // report.slo: the windows of slo_version, merged
    std::string chain;
    std::int64_t slo_version = 0;
    bool reads_rollout = false;  // its last hello advertised kFeatureRolloutInfo
    bool listed = false;         // in by_chain_, under `chain` (it said a hello)
  };
  std::unordered_map<std::string, Seen> seen_ GUARDED_BY(reports_mu_);
  // visit(node_id, assignment, its Seen or null) for each of `members` in
  // order, under reports_mu_ taken kReportsChunk members at a time: the
  // feed's ACK, NACK and status handling (the transport's threads, busy
  // while a wave is being told) waits for one chunk at most, never for a
  // walk over all the members of a large rollout (a status answer's
  // progress, a tick's reports). `visit` runs under the lock: quick, and no
  // engine calls.
  template <typename Visit>
  void VisitMemberReports(const NodeAssignments& members, Visit&& visit) const
      EXCLUDES(reports_mu_);
  static constexpr std::size_t kReportsChunk = 256;
  // seen_'s node ids by the chain each said last in a hello: each listed
  // node is in exactly one list, its Seen::chain's (nodes are never
  // forgotten).
  std::map<std::string, std::vector<std::string>, std::less<>> by_chain_ GUARDED_BY(reports_mu_);
  // The seen nodes on a chain one of `scopes` is on.
  std::vector<std::string> SeenTouching(const std::vector<std::string>& scopes) const
      EXCLUDES(reports_mu_);

  // One join (CompleteMembers, AddNewcomers) at a time in this process.
  Mutex join_mu_;

  Mutex feed_mu_;
  std::string feed_id_ GUARDED_BY(feed_mu_);
  std::deque<std::pair<std::int64_t, std::int64_t>> feed_history_ GUARDED_BY(feed_mu_);

  Mutex cache_mu_;
  std::map<std::string, std::shared_ptr<const SnapshotRecord>> at_cache_ GUARDED_BY(cache_mu_);

  Mutex stop_mu_;
  CondVar stop_cv_;
  bool stop_ GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
};

}  // namespace omnirelay::cp
