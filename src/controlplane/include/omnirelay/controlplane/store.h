// Store: the control plane's durable state behind one small interface. Two
// adapters: SQLite (store_sqlite*.cc, the embedded default) and Postgres
// (store_postgres*.cc, for several replicas on one database). Both pass the
// same contract suite (tests/unit/store_contract_test.cc and the other
// TEST_P(StoreContractTest, ...) files).
//
// Contract:
// - Revisions are int64, strictly increasing and gap-free across the whole
//   store, assigned inside the write's transaction. Every layer put or delete
//   is one revision.
// - CAS: a layer write may name the revision it expects for its scope (0 =
//   the scope must not exist). If the scope's current revision differs, the
//   write fails with StatusCode::kConflict and a message naming the current
//   revision; nothing is written.
// - A mutation and its audit entry commit in the same transaction.
// - A write that returned OK survives a crash of the process (and, with the
//   default durability, of the machine).
//
// Thread safety: every method may be called from any thread concurrently;
// adapters serialise writes internally.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/api/types.h"
#include "omnirelay/config/status.h"

namespace omnirelay::cp {

// An audit entry is an API value (omnirelay/api/types.h).
using AuditEntry = api::AuditEntry;

struct LayerRecord {
  std::string scope;
  std::int64_t revision = 0;  // the revision that wrote this version of the layer
  std::string document;       // the ConfigLayer JSON as accepted
  std::int64_t updated_at_ms = 0;
  std::string author;
};

// One entry of a scope's history: a put (document set) or a delete.
struct RevisionRecord {
  std::int64_t revision = 0;
  std::string scope;
  bool deleted = false;
  std::string document;  // empty for deletes
  std::string author;
  std::int64_t created_at_ms = 0;
};

struct LayerWrite {
  std::string scope;
  std::optional<std::string> document;            // nullopt deletes the layer
  std::optional<std::int64_t> expected_revision;  // CAS; 0 = must not exist; nullopt = any
  std::string author;
  std::int64_t now_ms = 0;
  AuditEntry audit;  // appended in the same transaction, revision filled in
  // Non-empty: the write is refused with kFrozen, whose message is that
  // setting's stored value, when the setting exists at commit (checked in
  // the order of the store's write lock, so a freeze set through any replica
  // counts).
  std::string refused_by_setting;
  // The stored layers the write was validated with (the plan's view of its
  // chains): each scope and the revision of its layer then, 0 for none. The
  // write is applied only if every one is still the scope's current layer,
  // checked under the write lock after the freeze and the CAS; otherwise it
  // changes nothing and fails with kConflict (CheckCheckedLayer), so a
  // write is never stored beside a chain layer its validation did not see.
  struct CheckedLayer {
    std::string scope;
    std::int64_t revision = 0;
  };
  std::vector<CheckedLayer> checked_layers;
};

struct SnapshotRecord {
  std::string hash;      // "sha256:<hex>" of `snapshot`
  std::string snapshot;  // the exact rendered Snapshot JSON bytes
  std::string envelope;  // the signed DSSE envelope JSON
  std::int64_t version = 0;
  std::string scope_chain;  // "global,region:us-east,..."
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;
  // "" for the chain's own snapshot; "<rollout id>/<wave>" for its rendering
  // with metadata.rollout (SnapshotRenderer::WithRollout), sent only to nodes
  // that read it: found by hash, never as a chain's latest or version.
  std::string rollout;
};

struct NodeRecord {
  std::string node_id;
  std::string scope_chain;
  std::string api_version;
  std::vector<std::string> features;
  std::int64_t assigned_version = 0;  // what the control plane last notified
  std::string assigned_hash;
  std::int64_t applied_version = 0;  // what the node last ACKed
  std::string applied_hash;
  std::int64_t discovery_generation = 0;
  std::string last_error;   // "code: message" of the last problem, "" after an ACK
  std::string health_json;  // the node's reported health figures, "{}" when none
  bool connected = false;
  std::int64_t last_seen_ms = 0;
  std::string last_error_code;      // the code of last_error (e.g. "render_failed"), "" when none
  std::string last_error_path;      // its JSON Pointer, "" when none
  std::int64_t assigned_at_ms = 0;  // when the assignment was last changed
  std::int64_t assigned_expires_at_ms = 0;  // when the assigned snapshot expires
};

// A node's id and scope chain: the fleet as a rollout start plans it.
struct NodeChain {
  std::string node_id;
  std::string scope_chain;

  friend bool operator==(const NodeChain&, const NodeChain&) = default;
};

// The CAS rule every adapter applies (and a dry run checks): `expected`
// absent passes; 0 means the scope has no layer; else it must be the
// scope's current revision. kConflict naming the current revision otherwise.
Status CheckExpectedRevision(std::string_view scope, std::optional<std::int64_t> current,
                             std::optional<std::int64_t> expected);

// The rule for LayerWrite::checked_layers, every adapter's: the layer of
// `scope` is still the one checked (`checked` 0: still none); else
// kConflict saying how it moved.
Status CheckCheckedLayer(std::string_view scope, std::optional<std::int64_t> current,
                         std::int64_t checked);

// The nodes that share a scope chain, api version and feature set: what a
// write's capability check needs to know about the fleet.
struct NodeProfile {
  std::string scope_chain;
  std::string api_version;
  std::vector<std::string> features;
  std::int64_t nodes = 0;
};

struct TokenRecord {
  std::string id;           // public id, shown in lists and audit
  std::string secret_hash;  // sha256 hex of the secret; the secret is never stored
  std::string name;         // principal name
  std::vector<std::string> scopes;
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;  // 0 = never
  std::int64_t revoked_at_ms = 0;  // 0 = active
};

// A small durable value by key (e.g. the freeze switch, "freeze"): JSON text
// that the service reads and writes whole.
struct SettingRecord {
  std::string key;
  std::string value;
  std::int64_t updated_at_ms = 0;
};

// Which rendered snapshots retention may delete (Store::SnapshotsToPrune).
// A snapshot is kept when any rule keeps it: created at or after
// `cutoff_ms`; among the `keep_per_chain` newest of its chain (and rollout
// label), by version then expiry; at or above `keep_from_version` (0: no
// such rule; the daemon passes the lowest version an unfinished rollout can
// still assign); or assigned to or applied by a known node.
struct SnapshotRetention {
  std::int64_t cutoff_ms = 0;
  std::int64_t keep_per_chain = 0;
  std::int64_t keep_from_version = 0;
};

// What a batch of audit pruning did (Store::PruneAudit).
struct AuditPruneResult {
  std::int64_t deleted = 0;
  // The chain's anchor after the batch: the id and hash of the newest entry
  // ever pruned (0 and "" while none was); VerifyAuditChain starts from it.
  std::int64_t anchor_id = 0;
  std::string anchor_hash;
};

struct RolloutRecord {
  std::string id;
  std::string state_json;
  std::int64_t updated_at_ms = 0;
  // The CAS token of the state (RolloutState::generation): a put may name
  // the generation it expects the stored record to have.
  std::int64_t generation = 0;
  // The part of a large rollout that changes only when its members do (who
  // they are, their waves and chains): kept beside state_json so that a
  // promotion writes the small part alone. "" in records of a format that
  // held everything in state_json.
  std::string members_json{};  // (braces: brace-initialised records may leave it out)
  // On a put with an expected generation: the stored members_json is this
  // record's already (the writer read or wrote it at that generation), so
  // only state_json, updated_at_ms and generation are written. Ignored
  // otherwise (an insert, or a put without CAS, writes both). Not read back.
  bool members_unchanged = false;
  // Only with WriteLayers: chain snapshots of the change set's own revisions
  // (SnapshotRenderer::RenderUnstored), stored as PutSnapshot would in the
  // same transaction; a version this new has no other rendering to keep
  // instead. Shared, not copied, under the store's write lock. Not read
  // back (GetSnapshot and the rest find them).
  std::vector<std::shared_ptr<const SnapshotRecord>> snapshots{};
};

// Makes the rollout record of a change set inside its transaction, from the
// revisions the writes got (in order). Runs under the store's write lock:
// pure and quick, no store calls.
using MakeRollout =
    std::function<Result<RolloutRecord>(const std::vector<std::int64_t>& revisions)>;

class Store {
 public:
  virtual ~Store() = default;

  // ---- layers and revisions
  virtual Result<std::int64_t> WriteLayer(const LayerWrite& write) = 0;
  // A change set: every write in order, each its own revision (and audit
  // entry), in one transaction — all or none; the first refused write (CAS,
  // a delete of a missing layer, its refused_by_setting) refuses the set. With `make_rollout`, its
  // record is put in the same transaction: a new one (kConflict if the id
  // exists) without `expected_generation`, else by CAS as PutRollout.
  virtual Result<std::vector<std::int64_t>> WriteLayers(
      const std::vector<LayerWrite>& writes, const MakeRollout& make_rollout,
      std::optional<std::int64_t> expected_generation = std::nullopt) = 0;
  // The current layer, or the version in force at `at_revision`. kNotFound if none.
  virtual Result<LayerRecord> GetLayer(std::string_view scope,
                                       std::optional<std::int64_t> at_revision = std::nullopt) = 0;
  // Current layers (not deleted), ordered by scope.
  virtual Result<std::vector<LayerRecord>> ListLayers() = 0;
  // The current layers of `scopes` that exist, ordered by scope, read in one
  // go (one consistent state; a write plans from these).
  virtual Result<std::vector<LayerRecord>> GetLayers(const std::vector<std::string>& scopes) = 0;
  // The scope's revisions below `before` (0 = from the newest), newest
  // first, at most `limit`: one page of its history. Cost grows with the
  // page, not with the history (an index on (scope, revision) covers it).
  virtual Result<std::vector<RevisionRecord>> History(std::string_view scope, std::int64_t before,
                                                      std::size_t limit) = 0;
  // Revisions after `after`, oldest first, at most `limit` (replication / catch-up).
  virtual Result<std::vector<RevisionRecord>> RevisionsSince(std::int64_t after,
                                                             std::size_t limit) = 0;
  virtual Result<std::int64_t> HeadRevision() = 0;

  // ---- rendered snapshots, by hash; putting an existing hash is a no-op
  virtual Status PutSnapshot(const SnapshotRecord& snapshot) = 0;
  // A chain's own snapshot (rollout ""), kept once per (chain, version) for
  // every replica of a cell: when the store already holds one of the same
  // chain and version that expires after `fresh_after_ms` (another replica,
  // or an earlier call, rendered it first), nothing is written and that one
  // (the one expiring last) is returned; otherwise `snapshot` is stored and
  // returned. Atomic across replicas: two that render one version together
  // keep the first one stored, so both serve the same bytes.
  virtual Result<SnapshotRecord> PutChainSnapshot(const SnapshotRecord& snapshot,
                                                  std::int64_t fresh_after_ms) = 0;
  virtual Result<SnapshotRecord> GetSnapshot(std::string_view hash) = 0;
  // The version of the snapshot stored under `hash` (without its bytes);
  // kNotFound if this store never held it.
  virtual Result<std::int64_t> SnapshotVersionOf(std::string_view hash) = 0;
  // The newest snapshot stored for a scope chain (highest version, then
  // latest expiry; rollout-labelled ones left out); kNotFound if none.
  virtual Result<SnapshotRecord> LatestSnapshot(std::string_view scope_chain) = 0;
  // The snapshot of a chain at `version` that expires last (rollout-labelled
  // ones left out); kNotFound if none.
  virtual Result<SnapshotRecord> SnapshotOfVersion(std::string_view scope_chain,
                                                   std::int64_t version) = 0;

  // ---- node status
  virtual Status UpsertNode(const NodeRecord& node) = 0;
  // Many records in one transaction (one commit, one fsync): all or none.
  virtual Status UpsertNodes(const std::vector<NodeRecord>& nodes) = 0;
  virtual Result<NodeRecord> GetNode(std::string_view node_id) = 0;
  virtual Result<std::vector<NodeRecord>> ListNodes() = 0;
  // Every node's id and chain, ordered by id (ListNodes without the rest of
  // each record, which a large fleet makes costly to read).
  virtual Result<std::vector<NodeChain>> ListNodeChains() = 0;
  // Removes a node's record: kNotFound when there is none.
  virtual Status DeleteNode(std::string_view node_id) = 0;
  // Removes every disconnected node last seen before `cutoff_ms`; their ids.
  virtual Result<std::vector<std::string>> DeleteNodesOfflineSince(std::int64_t cutoff_ms) = 0;
  // The distinct profiles of the known nodes with their counts, ordered by
  // (scope_chain, api_version, features). Cost grows with the number of
  // profiles, not with the fleet (an index covers it). The Postgres adapter
  // answers from a cache (store_profile_cache.h): a profile upserted through
  // this store object counts at once, one written through another replica
  // within a second, and the counts may be as old.
  virtual Result<std::vector<NodeProfile>> NodeProfiles() = 0;
  // The ids of the nodes with exactly `profile` (its `nodes` is ignored), by id.
  virtual Result<std::vector<std::string>> NodesWithProfile(const NodeProfile& profile) = 0;

  // ---- tokens (hashed); each mutation carries its audit entry
  // kConflict when the id or secret is taken, or when a token that is not
  // revoked already has the name (a name names one live token).
  virtual Status CreateToken(const TokenRecord& token, const AuditEntry& audit) = 0;
  virtual Result<TokenRecord> FindTokenBySecretHash(std::string_view secret_hash) = 0;
  virtual Result<std::vector<TokenRecord>> ListTokens() = 0;
  // kNotFound for an unknown id; kConflict, writing nothing, for a token
  // already revoked (it keeps its first revocation time).
  virtual Status RevokeToken(std::string_view id, std::int64_t now_ms, const AuditEntry& audit) = 0;

  // ---- audit. Every append (here and with each mutation) extends the
  // audit chain in the same transaction (audit_chain.h).
  virtual Status AppendAudit(const std::vector<AuditEntry>& entries) = 0;
  // Entries with time_ms >= since_ms and id > after_id that match `filter`,
  // oldest first, at most `limit`. The filter is applied by the query itself
  // (checked on the rows the id cursor and the time bound select; no index
  // per filter), so a page is never emptied by filtering after the limit.
  virtual Result<std::vector<AuditEntry>> QueryAudit(std::int64_t since_ms, std::int64_t after_id,
                                                     std::size_t limit,
                                                     const api::AuditFilter& filter = {}) = 0;

  // Walks every audit entry in id order and checks the chain each append
  // extends (audit_chain.h): the report, also when the chain is broken.
  // After pruning, the walk starts from the anchor (the newest pruned
  // entry's hash), read in the same transaction as the entries.
  virtual Result<api::AuditChainReport> VerifyAuditChain() = 0;

  // ---- retention (store_retention.h calls these batch by batch)
  // Removes at most `batch` of the oldest audit entries, in one short
  // transaction: a prefix in id order of entries that are older than
  // `cutoff_ms` (0: no age rule) or not among the `keep_newest` newest ids
  // (0: no count rule). The newest entry is never removed (the next append
  // extends the chain from it). The anchor moves to the last one removed,
  // in the same transaction, so the remaining chain still verifies.
  virtual Result<AuditPruneResult> PruneAudit(std::int64_t cutoff_ms, std::int64_t keep_newest,
                                              std::size_t batch) = 0;
  // The hashes of at most `limit` snapshots that `retention` does not keep,
  // oldest first: one read, no lock on writers.
  virtual Result<std::vector<std::string>> SnapshotsToPrune(const SnapshotRetention& retention,
                                                            std::size_t limit) = 0;
  // Deletes the snapshots of `hashes` in one transaction, except any that a
  // node is assigned or has applied by then (checked in that transaction);
  // the number deleted.
  virtual Result<std::int64_t> DeleteSnapshots(const std::vector<std::string>& hashes) = 0;

  // ---- settings; each mutation carries its audit entry
  // kNotFound when `key` has no value.
  virtual Result<SettingRecord> GetSetting(std::string_view key) = 0;
  // Sets `key` to `value`, or removes it when `value` is nullopt (removing a
  // key that has none is not an error); `audit` commits in the same
  // transaction.
  virtual Status PutSetting(std::string_view key, const std::optional<std::string>& value,
                            std::int64_t now_ms, const AuditEntry& audit) = 0;
  // Sets `key` to `value` only when `key` has no value: returns the value
  // it has now — `value`, or the one already there (another replica's,
  // left as it is). `audit` commits only with a write. Atomic across
  // replicas: of several racing, exactly one writes.
  virtual Result<SettingRecord> PutSettingIfAbsent(std::string_view key, std::string_view value,
                                                   std::int64_t now_ms,
                                                   const AuditEntry& audit) = 0;

  // ---- rollouts and leases
  // Inserts or replaces. With `expected_generation`, the stored record must
  // exist with that generation (else kConflict naming the stored one, or
  // kNotFound): the CAS by which a rollout advances.
  virtual Status PutRollout(const RolloutRecord& rollout,
                            std::optional<std::int64_t> expected_generation = std::nullopt) = 0;
  virtual Result<RolloutRecord> GetRollout(std::string_view id) = 0;
  virtual Result<std::vector<RolloutRecord>> ListRollouts() = 0;
  // Every rollout without its state_json and members_json (id,
  // updated_at_ms, generation): what
  // a replica polls to notice a rollout another replica started or moved.
  virtual Result<std::vector<RolloutRecord>> ListRolloutHeads() = 0;
  // Takes or renews the lease `name` for `holder` until now_ms + ttl_ms:
  // true when `holder` holds it now (it was free, expired, or already its),
  // false while another holder's lease runs.
  virtual Result<bool> AcquireLease(std::string_view name, std::string_view holder,
                                    std::int64_t now_ms, std::int64_t ttl_ms) = 0;
};

struct SqliteOptions {
  std::string path;              // file path; ":memory:" for tests
  bool synchronous_full = true;  // PRAGMA synchronous=FULL (else NORMAL)
  int busy_timeout_ms = 5000;
};

// Opens (creating and migrating as needed) a SQLite store in WAL mode.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

struct PostgresOptions {
  // A libpq connection URI (postgres://user[:password]@host:port/dbname?...)
  // or key=value string. Never repeated in a message: it may hold a password.
  std::string url;
  std::size_t pool_size = 8;  // connections opened on demand, at most this many
  // libpq's connect_timeout, unless the url sets one; 0 leaves libpq's default
  // (wait as long as TCP does).
  int connect_timeout_seconds = 5;
};

// Opens a Postgres store, migrating its schema under an advisory lock. When
// the database cannot be reached, kUnavailable (here and from every method
// later, while it stays unreachable; the store reconnects by itself, its
// attempts backing off up to 2 s, on a call after it is back).
Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options);

// Parses "sqlite://<path>", "sqlite::memory:" or a "postgres://" /
// "postgresql://" URL and opens the store; any other scheme is refused with
// a message naming the supported ones.
Result<std::unique_ptr<Store>> OpenStore(std::string_view url);

}  // namespace omnirelay::cp
