// The Postgres adapter of Store (store.h), for several control-plane
// replicas on one database.
//
// Revisions, and the order of the audit chain: every transaction that
// assigns revisions or appends audit entries first locks the single row of
// store_head (an UPDATE that advances its seq: LockHead), then checks its
// CAS expectations, writes, advances store_head to its last revision and
// commits. (A layer write may instead lock it with its own statement, whose
// checks then rest on seq: see below.) The row lock
// is held to the commit, so these transactions run one at a time across all
// replicas, each one seeing (READ COMMITTED: every statement takes a fresh
// snapshot, after the lock was granted) everything its predecessor
// committed. That gives what the contract asks without retries: revisions
// are head + 1, head + 2, ... in commit order, gap-free because a
// transaction that fails rolls back its store_head update with the rest;
// CAS compares against the committed state; the audit chain extends from
// the newest committed entry. SERIALIZABLE with a retry loop would also be
// correct, but every concurrent pair of writers conflicts on the head
// anyway, so it would only add aborted work. The price is that writes are
// serialised at the database, exactly as SQLite's single writer does in one
// process.
//
// Layer writes (WriteLayer, WriteLayers) go through a WriteBatcher
// (store_postgres_batch.h): those that queue in this process behind a commit
// share the next transaction, one lock and one WAL flush for the lot. A
// layer write is one prepared statement that is also the lock: the batcher
// knows the head, seq and audit tip its last commit left, and the statement
// applies only if seq is unchanged (nobody else held the lock since), so a
// write alone is that statement in autocommit; if another replica wrote in
// between, it runs again in a transaction that takes the lock first
// (store_postgres_rows.h ApplyLayerWrite, store_postgres_batch.h). Puts
// that queue together are first tried as one statement in autocommit
// (ApplyLayerWritesAsOne): one round trip and one flush for the batch.
//
// Writes that assign no revision and append no audit entry (snapshots,
// nodes, rollouts, leases) do not take the lock: each is one statement or
// locks only its own row (a chain's snapshot: an advisory lock on its chain).
//
// Reads are single statements (autocommit) or, when they need one state for
// several statements, a REPEATABLE READ read-only transaction.
//
// Connections come from a small pool (store_postgres_pool.h); while the
// database is unreachable every method returns kUnavailable, and the first
// call after it is back reconnects.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "store_postgres_batch.h"
#include "store_postgres_maintenance.h"
#include "store_postgres_pool.h"
#include "store_postgres_rows.h"
#include "store_postgres_schema.h"
#include "store_profile_cache.h"

namespace omnirelay::cp {
namespace {

using store_rows::Invalid;
using store_rows::LimitParam;

using pg::Decode;
using pg::First;
using pg::kAuditColumns;
using pg::kNodeColumns;
using pg::kNodeUpsertClause;
using pg::kRevisionColumns;
using pg::kRolloutColumns;
using pg::kSnapshotColumns;
using pg::kTokenColumns;
using pg::Quoted;

using ReadTxn = pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>;

class PostgresStore final : public Store {
 public:
  explicit PostgresStore(std::unique_ptr<pg::Pool> pool)
      : pool_(std::move(pool)), batcher_(*pool_, kMaxBatch) {}

  // ---- layers and revisions

  Result<std::int64_t> WriteLayer(const LayerWrite& w) override {
    return batcher_.RunLayerWrite(w);
  }

  Result<std::vector<std::int64_t>> WriteLayers(
      const std::vector<LayerWrite>& writes, const MakeRollout& make_rollout,
      std::optional<std::int64_t> expected_generation) override {
    if (writes.empty()) return Invalid("a change set needs at least one layer write");
    std::vector<std::int64_t> revisions;
    const Status written =
        batcher_.Run([&](pqxx::transaction_base& txn, pg::WriteCursor& at) -> Status {
          revisions.clear();  // a run again starts afresh (WriteBatcher::Write)
          for (const LayerWrite& w : writes) {
            OMNI_ASSIGN_OR_RETURN(std::int64_t revision, pg::ApplyLayerWrite(txn, at, w));
            revisions.push_back(revision);
          }
          if (make_rollout) {
            OMNI_ASSIGN_OR_RETURN(RolloutRecord rollout, make_rollout(revisions));
            OMNI_RETURN_IF_ERROR(pg::ApplyRolloutPut(txn, rollout, expected_generation,
                                                     !expected_generation.has_value()));
            OMNI_RETURN_IF_ERROR(pg::InsertSnapshots(txn, rollout.snapshots));
          }
          return Status::Ok();
        });
    if (!written.ok()) return written;
    return revisions;
  }

  Result<LayerRecord> GetLayer(std::string_view scope,
                               std::optional<std::int64_t> at_revision) override {
    const std::string key(scope);
    if (!at_revision) {
      OMNI_ASSIGN_OR_RETURN(std::vector<LayerRecord> found, GetLayers({key}));
      if (found.empty())
        return Status(StatusCode::kNotFound, "scope " + Quoted(scope) + " has no layer");
      return std::move(found.front());
    }
    const std::int64_t at = *at_revision;
    if (at < 0) return Invalid("revision must be >= 0, got " + std::to_string(at));
    return pool_->Run([&](pqxx::connection& conn) -> Result<LayerRecord> {
      // One snapshot: the head and the version come from one state.
      ReadTxn txn(conn);
      const std::int64_t head =
          txn.exec1("SELECT head FROM store_head WHERE id = 1")[0].as<std::int64_t>();
      if (at > head) {
        return Status(StatusCode::kNotFound, "revision " + std::to_string(at) +
                                                 " does not exist yet (head is " +
                                                 std::to_string(head) + ")");
      }
      const std::string absent =
          "scope " + Quoted(scope) + " has no layer at revision " + std::to_string(at);
      Result<RevisionRecord> r = First<RevisionRecord>(
          txn.exec_params(std::string("SELECT ") + kRevisionColumns +
                              " FROM revisions WHERE scope = $1 AND revision <= $2 "
                              "ORDER BY revision DESC LIMIT 1",
                          key, at),
          pg::ReadRevision, absent);
      if (!r.ok()) return r.status();
      if (r->deleted) return Status(StatusCode::kNotFound, absent);
      return pg::LayerFromRevision(std::move(*r));
    });
  }

  Result<std::vector<LayerRecord>> ListLayers() override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<LayerRecord>(
          txn.exec(std::string("SELECT ") + pg::kQualifiedRevisionColumns +
                   " FROM layers l JOIN revisions r ON r.revision = l.revision ORDER BY l.scope"),
          pg::ReadLayer);
    });
  }

  Result<std::vector<LayerRecord>> GetLayers(const std::vector<std::string>& scopes) override {
    if (scopes.empty()) return std::vector<LayerRecord>{};
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return pg::ReadCurrentLayers(txn, scopes);
    });
  }

  Result<std::vector<RevisionRecord>> History(std::string_view scope, std::int64_t before,
                                              std::size_t limit) override {
    const std::int64_t below = before > 0 ? before : std::numeric_limits<std::int64_t>::max();
    const std::string key(scope);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<RevisionRecord>(
          txn.exec_params(std::string("SELECT ") + kRevisionColumns +
                              " FROM revisions WHERE scope = $1 AND revision < $2 "
                              "ORDER BY revision DESC LIMIT $3",
                          key, below, LimitParam(limit)),
          pg::ReadRevision);
    });
  }

  Result<std::vector<RevisionRecord>> RevisionsSince(std::int64_t after,
                                                     std::size_t limit) override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<RevisionRecord>(
          txn.exec_params(std::string("SELECT ") + kRevisionColumns +
                              " FROM revisions WHERE revision > $1 ORDER BY revision LIMIT $2",
                          after, LimitParam(limit)),
          pg::ReadRevision);
    });
  }

  Result<std::int64_t> HeadRevision() override {
    return pool_->Run([&](pqxx::connection& conn) -> Result<std::int64_t> {
      pqxx::nontransaction txn(conn);
      return txn.exec1("SELECT head FROM store_head WHERE id = 1")[0].as<std::int64_t>();
    });
  }

  // ---- snapshots

  Status PutSnapshot(const SnapshotRecord& s) override {
    if (s.hash.empty()) return Invalid("snapshot needs a hash");
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::nontransaction txn(conn);
      pg::InsertSnapshot(txn, s);
      return Status::Ok();
    });
  }

  Result<SnapshotRecord> PutChainSnapshot(const SnapshotRecord& s,
                                          std::int64_t fresh_after_ms) override {
    return pool_->Run([&](pqxx::connection& conn) -> Result<SnapshotRecord> {
      pqxx::work txn(conn);
      OMNI_ASSIGN_OR_RETURN(SnapshotRecord kept, pg::ApplyChainSnapshotPut(txn, s, fresh_after_ms));
      txn.commit();
      return kept;
    });
  }

  Result<SnapshotRecord> GetSnapshot(std::string_view hash) override {
    const std::string key(hash);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<SnapshotRecord>(
          txn.exec_params(
              std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE hash = $1", key),
          pg::ReadSnapshot, "no snapshot with hash " + Quoted(hash));
    });
  }

  Result<std::int64_t> SnapshotVersionOf(std::string_view hash) override {
    const std::string key(hash);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<std::int64_t>(
          txn.exec_params("SELECT version FROM snapshots WHERE hash = $1", key),
          [](const pqxx::row& row) { return row[0].as<std::int64_t>(); },
          "no snapshot with hash " + Quoted(hash));
    });
  }

  Result<SnapshotRecord> SnapshotOfVersion(std::string_view scope_chain,
                                           std::int64_t version) override {
    const std::string chain(scope_chain);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<SnapshotRecord>(
          txn.exec_params(std::string("SELECT ") + kSnapshotColumns +
                              " FROM snapshots WHERE scope_chain = $1 AND version = $2 "
                              "AND rollout = '' ORDER BY expires_at_ms DESC LIMIT 1",
                          chain, version),
          pg::ReadSnapshot,
          "no snapshot of version " + std::to_string(version) + " for scope chain " +
              Quoted(scope_chain));
    });
  }

  Result<SnapshotRecord> LatestSnapshot(std::string_view scope_chain) override {
    const std::string chain(scope_chain);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<SnapshotRecord>(
          txn.exec_params(std::string("SELECT ") + kSnapshotColumns +
                              " FROM snapshots WHERE scope_chain = $1 AND rollout = '' "
                              "ORDER BY version DESC, expires_at_ms DESC LIMIT 1",
                          chain),
          pg::ReadSnapshot, "no snapshot for scope chain " + Quoted(scope_chain));
    });
  }

  // ---- nodes

  Status UpsertNode(const NodeRecord& n) override { return UpsertNodes({n}); }

  Status UpsertNodes(const std::vector<NodeRecord>& nodes) override {
    std::vector<std::string> features;
    features.reserve(nodes.size());
    for (const NodeRecord& n : nodes) {
      if (n.node_id.empty()) return Invalid("node needs a node id");
      Result<std::string> encoded = pg::EncodeStrings(n.features, "node features");
      if (!encoded.ok()) return encoded.status();
      features.push_back(std::move(encoded).value());
    }
    if (nodes.empty()) return Status::Ok();
    static const std::string sql =
        std::string("INSERT INTO nodes (") + kNodeColumns +
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)" +
        kNodeUpsertClause;
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work txn(conn);
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const NodeRecord& n = nodes[i];
        txn.exec_params0(sql, n.node_id, n.scope_chain, n.api_version, features[i],
                         n.assigned_version, n.assigned_hash, n.applied_version, n.applied_hash,
                         n.discovery_generation, n.last_error, n.health_json, n.connected,
                         n.last_seen_ms, n.last_error_code, n.last_error_path, n.assigned_at_ms,
                         n.assigned_expires_at_ms);
      }
      txn.commit();
      profiles_.Saw(nodes);
      return Status::Ok();
    });
  }

  Result<NodeRecord> GetNode(std::string_view node_id) override {
    const std::string key(node_id);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<NodeRecord>(
          txn.exec_params(std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE node_id = $1",
                          key),
          pg::ReadNode, "no node with id " + Quoted(node_id));
    });
  }

  Result<std::vector<NodeRecord>> ListNodes() override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<NodeRecord>(
          txn.exec(std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY node_id"),
          pg::ReadNode);
    });
  }

  Result<std::vector<NodeChain>> ListNodeChains() override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<NodeChain>(
          txn.exec("SELECT node_id, scope_chain FROM nodes ORDER BY node_id"),
          [](const pqxx::row& row) {
            return NodeChain{row[0].as<std::string>(), row[1].as<std::string>()};
          });
    });
  }

  Status DeleteNode(std::string_view node_id) override {
    const std::string key(node_id);
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::nontransaction txn(conn);
      if (txn.exec_params("DELETE FROM nodes WHERE node_id = $1", key).affected_rows() == 0) {
        return Status(StatusCode::kNotFound, "no node with id " + Quoted(node_id));
      }
      profiles_.Drop();
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> DeleteNodesOfflineSince(std::int64_t cutoff_ms) override {
    return pool_->Run([&](pqxx::connection& conn) -> Result<std::vector<std::string>> {
      pqxx::nontransaction txn(conn);
      const pqxx::result rows = txn.exec_params(
          "DELETE FROM nodes WHERE NOT connected AND last_seen_ms < $1 RETURNING node_id",
          cutoff_ms);
      if (!rows.empty()) profiles_.Drop();
      std::vector<std::string> ids;
      for (const pqxx::row& row : rows) ids.push_back(row[0].as<std::string>());
      std::sort(ids.begin(), ids.end());
      return ids;
    });
  }

  // Cached (store_profile_cache.h): a write's capability check costs no
  // round trip while the fleet's profiles stand.
  Result<std::vector<NodeProfile>> NodeProfiles() override {
    if (auto kept = profiles_.Fresh()) return *std::move(kept);
    const std::uint64_t generation = profiles_.generation();
    const auto read_at = NodeProfileCache::Clock::now();
    auto read = pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<NodeProfile>(
          txn.exec("SELECT scope_chain, api_version, features, COUNT(*) FROM nodes "
                   "GROUP BY scope_chain, api_version, features "
                   "ORDER BY scope_chain, api_version, features"),
          [](const pqxx::row& row) -> Result<NodeProfile> {
            NodeProfile p;
            p.scope_chain = row[0].as<std::string>();
            p.api_version = row[1].as<std::string>();
            OMNI_ASSIGN_OR_RETURN(p.features,
                                  pg::DecodeStrings(row[2].as<std::string>(), "node features"));
            p.nodes = row[3].as<std::int64_t>();
            return p;
          });
    });
    if (read.ok()) profiles_.Keep(*read, generation, read_at);
    return read;
  }

  Result<std::vector<std::string>> NodesWithProfile(const NodeProfile& profile) override {
    Result<std::string> features = pg::EncodeStrings(profile.features, "node features");
    if (!features.ok()) return features.status();
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<std::string>(
          txn.exec_params("SELECT node_id FROM nodes WHERE scope_chain = $1 AND api_version = $2 "
                          "AND features = $3 ORDER BY node_id",
                          profile.scope_chain, profile.api_version, *features),
          [](const pqxx::row& row) { return row[0].as<std::string>(); });
    });
  }

  // ---- tokens

  Status CreateToken(const TokenRecord& t, const AuditEntry& audit) override {
    if (t.id.empty() || t.secret_hash.empty()) {
      return Invalid("token needs an id and a secret hash");
    }
    Result<std::string> scopes = pg::EncodeStrings(t.scopes, "token scopes");
    if (!scopes.ok()) return scopes.status();
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work txn(conn);
      OMNI_RETURN_IF_ERROR(pg::ApplyTokenCreate(txn, t, *scopes, audit));
      txn.commit();
      return Status::Ok();
    });
  }

  Result<TokenRecord> FindTokenBySecretHash(std::string_view secret_hash) override {
    const std::string key(secret_hash);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      // The hash is not echoed: it is as good as the secret for a lookup.
      return First<TokenRecord>(
          txn.exec_params(
              std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE secret_hash = $1", key),
          pg::ReadToken, "no token with that secret");
    });
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<TokenRecord>(txn.exec(std::string("SELECT ") + kTokenColumns +
                                          " FROM tokens ORDER BY created_at_ms, id"),
                                 pg::ReadToken);
    });
  }

  Status RevokeToken(std::string_view id, std::int64_t now_ms, const AuditEntry& audit) override {
    const std::string key(id);
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work txn(conn);
      pg::LockHead(txn);
      // An already revoked token keeps its first revocation time.
      if (txn.exec_params(
                 "UPDATE tokens SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms = 0", key,
                 now_ms)
              .affected_rows() == 0) {
        if (txn.exec_params("SELECT 1 FROM tokens WHERE id = $1", key).empty()) {
          return Status(StatusCode::kNotFound, "no token " + Quoted(id));
        }
        return Status(StatusCode::kConflict, "token " + Quoted(id) + " is already revoked");
      }
      pg::InsertAudits(txn, {audit});
      txn.commit();
      return Status::Ok();
    });
  }

  // ---- audit

  Status AppendAudit(const std::vector<AuditEntry>& entries) override {
    if (entries.empty()) return Status::Ok();
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work txn(conn);
      pg::LockHead(txn);
      pg::InsertAudits(txn, entries);
      txn.commit();
      return Status::Ok();
    });
  }

  Result<std::vector<AuditEntry>> QueryAudit(std::int64_t since_ms, std::int64_t after_id,
                                             std::size_t limit,
                                             const api::AuditFilter& filter) override {
    // $1 after this id, $2 since this time, $3 the limit, then one text
    // parameter per filter value; only the filters asked for are in the
    // statement, checked on the rows the id cursor and time bound select.
    std::vector<std::string> params = {std::to_string(after_id), std::to_string(since_ms),
                                       std::to_string(LimitParam(limit))};
    std::string sql = std::string("SELECT ") + kAuditColumns +
                      " FROM audit WHERE id > $1::bigint AND time_ms >= $2::bigint";
    auto match = [&](const char* column, const std::string& value) {
      if (value.empty()) return;
      params.push_back(value);
      sql += std::string(" AND ") + column + " = $" + std::to_string(params.size());
    };
    match("scope", filter.scope);
    match("principal", filter.principal);
    match("action", filter.action);
    if (filter.writes_only) {
      sql += " AND action IN (";
      for (std::string_view action : api::kWriteActions) {
        params.emplace_back(action);
        sql += (sql.back() == '(' ? "$" : ", $") + std::to_string(params.size());
      }
      sql += ")";
    }
    sql += " ORDER BY id LIMIT $3::bigint";
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<AuditEntry>(txn.exec_params(sql, pqxx::prepare::make_dynamic_params(params)),
                                pg::ReadAudit);
    });
  }

  Result<api::AuditChainReport> VerifyAuditChain() override {
    return pool_->Run([](pqxx::connection& conn) { return pg::VerifyAuditChain(conn); });
  }

  // ---- retention (store_postgres_maintenance.cc): each batch one transaction

  Result<AuditPruneResult> PruneAudit(std::int64_t cutoff_ms, std::int64_t keep_newest,
                                      std::size_t batch) override {
    return pool_->Run([&](pqxx::connection& conn) {
      return pg::PruneAudit(conn, cutoff_ms, keep_newest, batch);
    });
  }

  Result<std::vector<std::string>> SnapshotsToPrune(const SnapshotRetention& retention,
                                                    std::size_t limit) override {
    return pool_->Run(
        [&](pqxx::connection& conn) { return pg::SnapshotsToPrune(conn, retention, limit); });
  }

  Result<std::int64_t> DeleteSnapshots(const std::vector<std::string>& hashes) override {
    return pool_->Run([&](pqxx::connection& conn) { return pg::DeleteSnapshots(conn, hashes); });
  }

  // ---- settings

  Result<SettingRecord> GetSetting(std::string_view key) override {
    const std::string name(key);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<SettingRecord>(
          txn.exec_params("SELECT key, value, updated_at_ms FROM settings WHERE key = $1", name),
          [](const pqxx::row& row) {
            return SettingRecord{row[0].as<std::string>(), row[1].as<std::string>(),
                                 row[2].as<std::int64_t>()};
          },
          "no setting " + Quoted(key));
    });
  }

  Status PutSetting(std::string_view key, const std::optional<std::string>& value,
                    std::int64_t now_ms, const AuditEntry& audit) override {
    if (key.empty()) return Invalid("a setting needs a key");
    const std::string name(key);
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work txn(conn);
      pg::LockHead(txn);
      if (value) {
        txn.exec_params0(
            "INSERT INTO settings (key, value, updated_at_ms) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at_ms = excluded.updated_at_ms",
            name, *value, now_ms);
      } else {
        txn.exec_params0("DELETE FROM settings WHERE key = $1", name);
      }
      pg::InsertAudits(txn, {audit});
      txn.commit();
      return Status::Ok();
    });
  }

  Result<SettingRecord> PutSettingIfAbsent(std::string_view key, std::string_view value,
                                           std::int64_t now_ms, const AuditEntry& audit) override {
    return pool_->Run([&](pqxx::connection& conn) -> Result<SettingRecord> {
      pqxx::work txn(conn);
      bool written = false;
      OMNI_ASSIGN_OR_RETURN(SettingRecord now,
                            pg::ApplySettingIfAbsent(txn, key, value, now_ms, audit, &written));
      if (written) txn.commit();  // else rolled back: nothing changed
      return now;
    });
  }

  // ---- rollouts and leases

  Status PutRollout(const RolloutRecord& r,
                    std::optional<std::int64_t> expected_generation) override {
    return pool_->Run([&](pqxx::connection& conn) -> Status {
      pqxx::work txn(conn);
      OMNI_RETURN_IF_ERROR(pg::ApplyRolloutPut(txn, r, expected_generation, false));
      txn.commit();
      return Status::Ok();
    });
  }

  Result<RolloutRecord> GetRollout(std::string_view id) override {
    const std::string key(id);
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return First<RolloutRecord>(
          txn.exec_params(std::string("SELECT ") + kRolloutColumns + " FROM rollouts WHERE id = $1",
                          key),
          pg::ReadRollout, "no rollout " + Quoted(id));
    });
  }

  Result<std::vector<RolloutRecord>> ListRollouts() override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<RolloutRecord>(
          txn.exec(std::string("SELECT ") + kRolloutColumns + " FROM rollouts ORDER BY id"),
          pg::ReadRollout);
    });
  }

  Result<std::vector<RolloutRecord>> ListRolloutHeads() override {
    return pool_->Run([&](pqxx::connection& conn) {
      pqxx::nontransaction txn(conn);
      return Decode<RolloutRecord>(
          txn.exec("SELECT id, '' AS state_json, updated_at_ms, generation, '' AS members_json "
                   "FROM rollouts ORDER BY id"),
          pg::ReadRollout);
    });
  }

  Result<bool> AcquireLease(std::string_view name, std::string_view holder, std::int64_t now_ms,
                            std::int64_t ttl_ms) override {
    if (name.empty() || holder.empty() || ttl_ms <= 0) {
      return Invalid("a lease needs a name, a holder and a ttl > 0");
    }
    const std::string key(name);
    const std::string who(holder);
    return pool_->Run([&](pqxx::connection& conn) -> Result<bool> {
      // One statement: taken when free, expired, or already the holder's;
      // a row comes back exactly when `holder` holds the lease now.
      pqxx::nontransaction txn(conn);
      return !txn.exec_params(
                     "INSERT INTO leases (name, holder, expires_at_ms) VALUES ($1, $2, $3) "
                     "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                     "expires_at_ms = excluded.expires_at_ms "
                     "WHERE leases.holder = excluded.holder OR leases.expires_at_ms <= $4 "
                     "RETURNING holder",
                     key, who, now_ms + ttl_ms, now_ms)
                  .empty();
    });
  }

 private:
  // Layer writes that queue behind a commit share the next (group commit).
  static constexpr std::size_t kMaxBatch = 64;
  static_assert(kMaxBatch <= pg::kMostLayerWritesAsOne, "a whole batch may be one statement");

  const std::unique_ptr<pg::Pool> pool_;
  pg::WriteBatcher batcher_;  // after pool_: it uses it
  NodeProfileCache profiles_;
};

// `url` with libpq's connect_timeout set unless it sets one: without it a
// connection attempt to a host that drops packets waits for the kernel's TCP
// timeout (minutes), holding a pool slot and the request that needed it.
std::string WithConnectTimeout(const std::string& url, int seconds) {
  if (seconds <= 0 || url.find("connect_timeout") != std::string::npos) return url;
  const std::string setting = "connect_timeout=" + std::to_string(seconds);
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + setting;
  }
  return url + " " + setting;  // a key=value connection string
}

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  if (options.url.empty()) return Invalid("postgres store needs a connection url");
  auto pool = std::make_unique<pg::Pool>(
      WithConnectTimeout(options.url, options.connect_timeout_seconds), options.pool_size);
  // Migrate on the pool's first connection, before the store is handed out.
  Status migrated = pool->Run([](pqxx::connection& conn) { return pg::Migrate(conn); });
  if (!migrated.ok()) return migrated;
  return std::unique_ptr<Store>(std::make_unique<PostgresStore>(std::move(pool)));
}

}  // namespace omnirelay::cp
