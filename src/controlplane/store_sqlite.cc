// The SQLite adapter of Store (store.h).
//
// Concurrency (store_sqlite_access.h): every mutation is one closure run by
// the GroupWriter on the single writer connection, inside a BEGIN IMMEDIATE
// transaction (which also fences off other processes), so writes are
// serialised; concurrent writes share one commit and its sync. Reads use a
// small pool of separate read connections, which WAL lets run concurrently
// with the writer and with each other; each read is a single statement or one
// read transaction, so it sees one committed state. A private in-memory
// database (":memory:") cannot be shared between connections, so there reads
// use the writer's connection between write groups.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"
#include "store_sqlite_access.h"
#include "store_sqlite_db.h"
#include "store_sqlite_maintenance.h"
#include "store_sqlite_rows.h"
#include "store_sqlite_schema.h"
#include "store_sqlite_writes.h"

namespace omnirelay::cp {
namespace {

using store_rows::Invalid;
using store_rows::LimitParam;

using sqlite::AuditQuery;
using sqlite::BuildAuditQuery;
using sqlite::Collect;
using sqlite::Connection;
using sqlite::DecodeStrings;
using sqlite::EncodeStrings;
using sqlite::InsertAudit;
using sqlite::kCurrentLayerQuery;
using sqlite::kNodeColumns;
using sqlite::kNodeUpsertClause;
using sqlite::kRevisionColumns;
using sqlite::kSnapshotColumns;
using sqlite::kTokenColumns;
using sqlite::LayerFromRevision;
using sqlite::One;
using sqlite::QueryHead;
using sqlite::Quoted;
using sqlite::ReadAudit;
using sqlite::ReaderPool;
using sqlite::ReadNode;
using sqlite::ReadRevision;
using sqlite::ReadRollout;
using sqlite::ReadSetting;
using sqlite::ReadSnapshot;
using sqlite::ReadToken;
using sqlite::Statement;
using sqlite::Transaction;
using sqlite::WriteSetting;

constexpr std::size_t kMaxReaders = 4;

class SqliteStore final : public Store {
 public:
  SqliteStore(std::unique_ptr<Connection> writer, std::unique_ptr<ReaderPool> readers)
      : writer_(std::move(writer)), readers_(std::move(readers)) {}

  // ---- layers and revisions

  Result<std::int64_t> WriteLayer(const LayerWrite& w) override {
    return Write([&](Connection& conn) { return sqlite::ApplyLayerWrite(conn, w); });
  }

  Result<std::vector<std::int64_t>> WriteLayers(
      const std::vector<LayerWrite>& writes, const MakeRollout& make_rollout,
      std::optional<std::int64_t> expected_generation) override {
    if (writes.empty()) return Invalid("a change set needs at least one layer write");
    return Write([&](Connection& conn) -> Result<std::vector<std::int64_t>> {
      std::vector<std::int64_t> revisions;
      for (const LayerWrite& w : writes) {
        OMNI_ASSIGN_OR_RETURN(std::int64_t revision, sqlite::ApplyLayerWrite(conn, w));
        revisions.push_back(revision);
      }
      if (make_rollout) {
        OMNI_ASSIGN_OR_RETURN(RolloutRecord rollout, make_rollout(revisions));
        OMNI_RETURN_IF_ERROR(sqlite::ApplyRolloutPut(conn, rollout, expected_generation,
                                                     !expected_generation.has_value()));
        OMNI_RETURN_IF_ERROR(sqlite::InsertSnapshots(conn, rollout.snapshots));
      }
      return revisions;
    });
  }

  Result<LayerRecord> GetLayer(std::string_view scope,
                               std::optional<std::int64_t> at_revision) override {
    if (!at_revision) {
      return Read([&](Connection& conn) -> Result<LayerRecord> {
        Result<RevisionRecord> r = One<RevisionRecord>(
            conn, kCurrentLayerQuery, [&](Statement& s) { s.Bind(1, scope); }, ReadRevision,
            "scope " + Quoted(scope) + " has no layer");
        if (!r.ok()) return r.status();
        return LayerFromRevision(std::move(*r));
      });
    }
    const std::int64_t at = *at_revision;
    if (at < 0) return Invalid("revision must be >= 0, got " + std::to_string(at));
    return Read([&](Connection& conn) -> Result<LayerRecord> {
      // One read transaction: the head and the version come from one state.
      Result<Transaction> txn = Transaction::Begin(conn, Transaction::Mode::kDeferred);
      if (!txn.ok()) return txn.status();
      Result<std::int64_t> head = QueryHead(conn);
      if (!head.ok()) return head.status();
      if (at > *head) {
        return Status(StatusCode::kNotFound, "revision " + std::to_string(at) +
                                                 " does not exist yet (head is " +
                                                 std::to_string(*head) + ")");
      }
      const std::string absent =
          "scope " + Quoted(scope) + " has no layer at revision " + std::to_string(at);
      Result<RevisionRecord> r = One<RevisionRecord>(
          conn,
          std::string("SELECT ") + kRevisionColumns +
              " FROM revisions WHERE scope = ?1 AND revision <= ?2 "
              "ORDER BY revision DESC LIMIT 1",
          [&](Statement& s) { s.Bind(1, scope).Bind(2, at); }, ReadRevision, absent);
      if (!r.ok()) return r.status();
      if (r->deleted) return Status(StatusCode::kNotFound, absent);
      return LayerFromRevision(std::move(*r));
    });
  }

  Result<std::vector<LayerRecord>> ListLayers() override {
    return Read([&](Connection& conn) {
      return Collect<LayerRecord>(
          conn,
          "SELECT r.revision, r.scope, r.deleted, COALESCE(r.document, ''), r.author, "
          "r.created_at_ms FROM layers l JOIN revisions r ON r.revision = l.revision "
          "ORDER BY l.scope",
          [](Statement&) {},
          [](const Statement& row) { return LayerFromRevision(ReadRevision(row)); });
    });
  }

  Result<std::vector<LayerRecord>> GetLayers(const std::vector<std::string>& scopes) override {
    if (scopes.empty()) return std::vector<LayerRecord>{};
    // One read transaction of point look-ups through the cached statement
    // (an IN list would build a temporary b-tree on every call).
    std::vector<std::string> sorted = scopes;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    return Read([&](Connection& conn) -> Result<std::vector<LayerRecord>> {
      Result<Transaction> txn = Transaction::Begin(conn, Transaction::Mode::kDeferred);
      if (!txn.ok()) return txn.status();
      std::vector<LayerRecord> out;
      for (const std::string& scope : sorted) {
        Result<std::vector<LayerRecord>> found = Collect<LayerRecord>(
            conn, kCurrentLayerQuery, [&](Statement& s) { s.Bind(1, scope); },
            [](const Statement& row) { return LayerFromRevision(ReadRevision(row)); });
        if (!found.ok()) return found.status();
        for (LayerRecord& layer : *found) out.push_back(std::move(layer));
      }
      return out;
    });
  }

  Result<std::vector<RevisionRecord>> History(std::string_view scope, std::int64_t before,
                                              std::size_t limit) override {
    // A range scan of revisions_by_scope (scope, revision), backwards.
    const std::int64_t below = before > 0 ? before : std::numeric_limits<std::int64_t>::max();
    return Read([&](Connection& conn) {
      return Collect<RevisionRecord>(
          conn,
          std::string("SELECT ") + kRevisionColumns +
              " FROM revisions WHERE scope = ?1 AND revision < ?2 ORDER BY revision DESC LIMIT ?3",
          [&](Statement& s) { s.Bind(1, scope).Bind(2, below).Bind(3, LimitParam(limit)); },
          ReadRevision);
    });
  }

  Result<std::vector<RevisionRecord>> RevisionsSince(std::int64_t after,
                                                     std::size_t limit) override {
    return Read([&](Connection& conn) {
      return Collect<RevisionRecord>(
          conn,
          std::string("SELECT ") + kRevisionColumns +
              " FROM revisions WHERE revision > ?1 ORDER BY revision LIMIT ?2",
          [&](Statement& s) { s.Bind(1, after).Bind(2, LimitParam(limit)); }, ReadRevision);
    });
  }

  Result<std::int64_t> HeadRevision() override {
    return Read([](Connection& conn) { return QueryHead(conn); });
  }

  // ---- snapshots

  Status PutSnapshot(const SnapshotRecord& s) override {
    return Write([&](Connection& conn) { return sqlite::InsertSnapshot(conn, s); });
  }

  Result<SnapshotRecord> PutChainSnapshot(const SnapshotRecord& s,
                                          std::int64_t fresh_after_ms) override {
    return Write(
        [&](Connection& conn) { return sqlite::ApplyChainSnapshotPut(conn, s, fresh_after_ms); });
  }

  Result<SnapshotRecord> GetSnapshot(std::string_view hash) override {
    return Read([&](Connection& conn) {
      return One<SnapshotRecord>(
          conn, std::string("SELECT ") + kSnapshotColumns + " FROM snapshots WHERE hash = ?1",
          [&](Statement& s) { s.Bind(1, hash); }, ReadSnapshot,
          "no snapshot with hash " + Quoted(hash));
    });
  }

  Result<std::int64_t> SnapshotVersionOf(std::string_view hash) override {
    return Read([&](Connection& conn) {
      return One<std::int64_t>(
          conn, "SELECT version FROM snapshots WHERE hash = ?1",
          [&](Statement& s) { s.Bind(1, hash); }, [](Statement& s) { return s.Int(0); },
          "no snapshot with hash " + Quoted(hash));
    });
  }

  Result<SnapshotRecord> SnapshotOfVersion(std::string_view scope_chain,
                                           std::int64_t version) override {
    return Read([&](Connection& conn) {
      return One<SnapshotRecord>(
          conn,
          std::string("SELECT ") + kSnapshotColumns +
              " FROM snapshots WHERE scope_chain = ?1 AND version = ?2 AND rollout = ''"
              " ORDER BY expires_at_ms DESC LIMIT 1",
          [&](Statement& s) { s.Bind(1, scope_chain).Bind(2, version); }, ReadSnapshot,
          "no snapshot of version " + std::to_string(version) + " for scope chain " +
              Quoted(scope_chain));
    });
  }

  Result<SnapshotRecord> LatestSnapshot(std::string_view scope_chain) override {
    return Read([&](Connection& conn) {
      return One<SnapshotRecord>(
          conn,
          std::string("SELECT ") + kSnapshotColumns +
              " FROM snapshots WHERE scope_chain = ?1 AND rollout = ''"
              " ORDER BY version DESC, expires_at_ms DESC LIMIT 1",
          [&](Statement& s) { s.Bind(1, scope_chain); }, ReadSnapshot,
          "no snapshot for scope chain " + Quoted(scope_chain));
    });
  }

  // ---- nodes

  Status UpsertNode(const NodeRecord& n) override { return UpsertNodes({n}); }

  Status UpsertNodes(const std::vector<NodeRecord>& nodes) override {
    std::vector<std::string> features;
    features.reserve(nodes.size());
    for (const NodeRecord& n : nodes) {
      if (n.node_id.empty()) return Invalid("node needs a node id");
      Result<std::string> encoded = EncodeStrings(n.features, "node features");
      if (!encoded.ok()) return encoded.status();
      features.push_back(std::move(encoded).value());
    }
    if (nodes.empty()) return Status::Ok();
    static const std::string sql =
        std::string("INSERT INTO nodes (") + kNodeColumns +
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)" +
        kNodeUpsertClause;
    return Write([&](Connection& conn) -> Status {
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const NodeRecord& n = nodes[i];
        Result<Statement> stmt = conn.Prepare(sql);  // cached: prepared once per connection
        if (!stmt.ok()) return stmt.status();
        stmt->Bind(1, n.node_id)
            .Bind(2, n.scope_chain)
            .Bind(3, n.api_version)
            .Bind(4, features[i])
            .Bind(5, n.assigned_version)
            .Bind(6, n.assigned_hash)
            .Bind(7, n.applied_version)
            .Bind(8, n.applied_hash)
            .Bind(9, n.discovery_generation)
            .Bind(10, n.last_error)
            .Bind(11, n.health_json)
            .Bind(12, std::int64_t{n.connected ? 1 : 0})
            .Bind(13, n.last_seen_ms)
            .Bind(14, n.last_error_code)
            .Bind(15, n.last_error_path)
            .Bind(16, n.assigned_at_ms)
            .Bind(17, n.assigned_expires_at_ms);
        if (Status s = stmt->Run(); !s.ok()) return s;
      }
      return Status::Ok();
    });
  }

  Result<NodeRecord> GetNode(std::string_view node_id) override {
    return Read([&](Connection& conn) {
      return One<NodeRecord>(
          conn, std::string("SELECT ") + kNodeColumns + " FROM nodes WHERE node_id = ?1",
          [&](Statement& s) { s.Bind(1, node_id); }, ReadNode,
          "no node with id " + Quoted(node_id));
    });
  }

  Result<std::vector<NodeRecord>> ListNodes() override {
    return Read([&](Connection& conn) {
      return Collect<NodeRecord>(
          conn, std::string("SELECT ") + kNodeColumns + " FROM nodes ORDER BY node_id",
          [](Statement&) {}, ReadNode);
    });
  }

  Result<std::vector<NodeChain>> ListNodeChains() override {
    return Read([&](Connection& conn) {
      return Collect<NodeChain>(
          conn, "SELECT node_id, scope_chain FROM nodes ORDER BY node_id", [](Statement&) {},
          [](const Statement& row) {
            return NodeChain{row.Text(0), row.Text(1)};
          });
    });
  }

  Status DeleteNode(std::string_view node_id) override {
    return Write([&](Connection& conn) -> Status {
      Result<Statement> stmt = conn.Prepare("DELETE FROM nodes WHERE node_id = ?1");
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, node_id);
      if (Status s = stmt->Run(); !s.ok()) return s;
      if (sqlite3_changes(conn.handle()) == 0) {
        return Status(StatusCode::kNotFound, "no node with id " + Quoted(node_id));
      }
      return Status::Ok();
    });
  }

  Result<std::vector<std::string>> DeleteNodesOfflineSince(std::int64_t cutoff_ms) override {
    return Write([&](Connection& conn) -> Result<std::vector<std::string>> {
      Result<Statement> stmt = conn.Prepare(
          "DELETE FROM nodes WHERE connected = 0 AND last_seen_ms < ?1 RETURNING node_id");
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, cutoff_ms);
      std::vector<std::string> ids;
      for (;;) {
        Result<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        ids.push_back(stmt->Text(0));
      }
      std::sort(ids.begin(), ids.end());
      return ids;
    });
  }

  Result<std::vector<NodeProfile>> NodeProfiles() override {
    return Read([&](Connection& conn) -> Result<std::vector<NodeProfile>> {
      Result<Statement> stmt = conn.Prepare(
          "SELECT scope_chain, api_version, features, COUNT(*) FROM nodes "
          "GROUP BY scope_chain, api_version, features "
          "ORDER BY scope_chain, api_version, features");
      if (!stmt.ok()) return stmt.status();
      std::vector<NodeProfile> out;
      for (;;) {
        Result<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) return out;
        NodeProfile p;
        p.scope_chain = stmt->Text(0);
        p.api_version = stmt->Text(1);
        Result<std::vector<std::string>> features = DecodeStrings(stmt->Text(2), "node features");
        if (!features.ok()) return features.status();
        p.features = std::move(features).value();
        p.nodes = stmt->Int(3);
        out.push_back(std::move(p));
      }
    });
  }

  Result<std::vector<std::string>> NodesWithProfile(const NodeProfile& profile) override {
    Result<std::string> features = EncodeStrings(profile.features, "node features");
    if (!features.ok()) return features.status();
    return Read([&](Connection& conn) -> Result<std::vector<std::string>> {
      Result<Statement> stmt = conn.Prepare(
          "SELECT node_id FROM nodes WHERE scope_chain = ?1 AND api_version = ?2 "
          "AND features = ?3 ORDER BY node_id");
      if (!stmt.ok()) return stmt.status();
      stmt->Bind(1, profile.scope_chain).Bind(2, profile.api_version).Bind(3, *features);
      std::vector<std::string> out;
      for (;;) {
        Result<bool> row = stmt->Step();
        if (!row.ok()) return row.status();
        if (!*row) return out;
        out.push_back(stmt->Text(0));
      }
    });
  }

  // ---- tokens

  Status CreateToken(const TokenRecord& t, const AuditEntry& audit) override {
    if (t.id.empty() || t.secret_hash.empty())
      return Invalid("token needs an id and a secret hash");
    Result<std::string> scopes = EncodeStrings(t.scopes, "token scopes");
    if (!scopes.ok()) return scopes.status();
    return Write([&](Connection& conn) -> Status {
      {
        Result<Statement> clash =
            conn.Prepare("SELECT id = ?1 FROM tokens WHERE id = ?1 OR secret_hash = ?2 LIMIT 1");
        if (!clash.ok()) return clash.status();
        clash->Bind(1, t.id).Bind(2, t.secret_hash);
        Result<bool> row = clash->Step();
        if (!row.ok()) return row.status();
        if (*row) {
          return Status(StatusCode::kConflict, clash->Int(0) != 0
                                                   ? "token " + Quoted(t.id) + " already exists"
                                                   : "a token with this secret already exists");
        }
      }
      {
        // A name names one live token: revoked ones free it (tokens_by_name).
        Result<Statement> named = conn.Prepare(
            "SELECT id FROM tokens WHERE name = ?1 AND revoked_at_ms = 0 ORDER BY id LIMIT 1");
        if (!named.ok()) return named.status();
        named->Bind(1, t.name);
        Result<bool> row = named->Step();
        if (!row.ok()) return row.status();
        if (*row) {
          return Status(StatusCode::kConflict, "a token named " + Quoted(t.name) +
                                                   " already exists (id " + named->Text(0) +
                                                   "); revoke it first or choose another name");
        }
      }
      {
        Result<Statement> insert =
            conn.Prepare(std::string("INSERT INTO tokens (") + kTokenColumns +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        if (!insert.ok()) return insert.status();
        insert->Bind(1, t.id)
            .Bind(2, t.secret_hash)
            .Bind(3, t.name)
            .Bind(4, *scopes)
            .Bind(5, t.created_at_ms)
            .Bind(6, t.expires_at_ms)
            .Bind(7, t.revoked_at_ms);
        OMNI_RETURN_IF_ERROR(insert->Run());
      }
      return InsertAudit(conn, audit);
    });
  }

  Result<TokenRecord> FindTokenBySecretHash(std::string_view secret_hash) override {
    return Read([&](Connection& conn) {
      // The hash is not echoed: it is as good as the secret for a lookup.
      return One<TokenRecord>(
          conn, std::string("SELECT ") + kTokenColumns + " FROM tokens WHERE secret_hash = ?1",
          [&](Statement& s) { s.Bind(1, secret_hash); }, ReadToken, "no token with that secret");
    });
  }

  Result<std::vector<TokenRecord>> ListTokens() override {
    return Read([&](Connection& conn) {
      return Collect<TokenRecord>(
          conn, std::string("SELECT ") + kTokenColumns + " FROM tokens ORDER BY created_at_ms, id",
          [](Statement&) {}, ReadToken);
    });
  }

  Status RevokeToken(std::string_view id, std::int64_t now_ms, const AuditEntry& audit) override {
    return Write([&](Connection& conn) -> Status {
      {
        // An already revoked token keeps its first revocation time.
        Result<Statement> revoke = conn.Prepare(
            "UPDATE tokens SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms = 0");
        if (!revoke.ok()) return revoke.status();
        revoke->Bind(1, id).Bind(2, now_ms);
        OMNI_RETURN_IF_ERROR(revoke->Run());
      }
      if (sqlite3_changes(conn.handle()) == 0) {
        Result<Statement> known = conn.Prepare("SELECT revoked_at_ms FROM tokens WHERE id = ?1");
        if (!known.ok()) return known.status();
        known->Bind(1, id);
        Result<bool> row = known->Step();
        if (!row.ok()) return row.status();
        if (!*row) return Status(StatusCode::kNotFound, "no token " + Quoted(id));
        return Status(StatusCode::kConflict, "token " + Quoted(id) + " is already revoked");
      }
      return InsertAudit(conn, audit);
    });
  }

  // ---- audit

  Status AppendAudit(const std::vector<AuditEntry>& entries) override {
    if (entries.empty()) return Status::Ok();
    return Write([&](Connection& conn) -> Status {
      for (const AuditEntry& entry : entries) OMNI_RETURN_IF_ERROR(InsertAudit(conn, entry));
      return Status::Ok();
    });
  }

  Result<std::vector<AuditEntry>> QueryAudit(std::int64_t since_ms, std::int64_t after_id,
                                             std::size_t limit,
                                             const api::AuditFilter& filter) override {
    const AuditQuery query = BuildAuditQuery(filter);
    return Read([&](Connection& conn) {
      return Collect<AuditEntry>(
          conn, query.sql,
          [&](Statement& s) {
            s.Bind(1, after_id).Bind(2, since_ms).Bind(3, LimitParam(limit));
            for (std::size_t i = 0; i < query.texts.size(); ++i) {
              s.Bind(static_cast<int>(i + 4), query.texts[i]);
            }
          },
          ReadAudit);
    });
  }

  Result<api::AuditChainReport> VerifyAuditChain() override {
    return Read([](Connection& conn) { return sqlite::VerifyAuditChain(conn); });
  }

  // ---- retention (store_sqlite_maintenance.cc): each batch one small write

  Result<AuditPruneResult> PruneAudit(std::int64_t cutoff_ms, std::int64_t keep_newest,
                                      std::size_t batch) override {
    return Write(
        [&](Connection& conn) { return sqlite::PruneAudit(conn, cutoff_ms, keep_newest, batch); });
  }

  Result<std::vector<std::string>> SnapshotsToPrune(const SnapshotRetention& retention,
                                                    std::size_t limit) override {
    return Read([&](Connection& conn) { return sqlite::SnapshotsToPrune(conn, retention, limit); });
  }

  Result<std::int64_t> DeleteSnapshots(const std::vector<std::string>& hashes) override {
    return Write([&](Connection& conn) { return sqlite::DeleteSnapshots(conn, hashes); });
  }

  // ---- settings

  Result<SettingRecord> GetSetting(std::string_view key) override {
    return Read([&](Connection& conn) { return ReadSetting(conn, key); });
  }

  Status PutSetting(std::string_view key, const std::optional<std::string>& value,
                    std::int64_t now_ms, const AuditEntry& audit) override {
    if (key.empty()) return Invalid("a setting needs a key");
    return Write([&](Connection& conn) -> Status {
      OMNI_RETURN_IF_ERROR(WriteSetting(conn, key, value, now_ms));
      return InsertAudit(conn, audit);
    });
  }

  Result<SettingRecord> PutSettingIfAbsent(std::string_view key, std::string_view value,
                                           std::int64_t now_ms, const AuditEntry& audit) override {
    return Write([&](Connection& conn) {
      return sqlite::ApplySettingIfAbsent(conn, key, value, now_ms, audit);
    });
  }

  // ---- rollouts

  Status PutRollout(const RolloutRecord& r,
                    std::optional<std::int64_t> expected_generation) override {
    return Write([&](Connection& conn) {
      return sqlite::ApplyRolloutPut(conn, r, expected_generation, false);
    });
  }

  Result<RolloutRecord> GetRollout(std::string_view id) override {
    return Read([&](Connection& conn) {
      return One<RolloutRecord>(
          conn,
          "SELECT id, state_json, updated_at_ms, generation, members_json FROM rollouts "
          "WHERE id = ?1",
          [&](Statement& s) { s.Bind(1, id); }, ReadRollout, "no rollout " + Quoted(id));
    });
  }

  Result<std::vector<RolloutRecord>> ListRollouts() override {
    return Read([&](Connection& conn) {
      return Collect<RolloutRecord>(
          conn,
          "SELECT id, state_json, updated_at_ms, generation, members_json FROM rollouts "
          "ORDER BY id",
          [](Statement&) {}, ReadRollout);
    });
  }

  Result<std::vector<RolloutRecord>> ListRolloutHeads() override {
    return Read([&](Connection& conn) {
      return Collect<RolloutRecord>(
          conn, "SELECT id, '', updated_at_ms, generation, '' FROM rollouts ORDER BY id",
          [](Statement&) {}, ReadRollout);
    });
  }

  Result<bool> AcquireLease(std::string_view name, std::string_view holder, std::int64_t now_ms,
                            std::int64_t ttl_ms) override {
    return Write(
        [&](Connection& conn) { return sqlite::ApplyLease(conn, name, holder, now_ms, ttl_ms); });
  }

 private:
  // Runs `fn(Connection&)` (returning Status or Result<T>) as one atomic,
  // durable write through the group writer.
  template <typename Fn>
  auto Write(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    using R = std::invoke_result_t<Fn&, Connection&>;
    if constexpr (std::is_same_v<R, Status>) {
      return writer_.Write(fn);
    } else {
      std::optional<R> out;
      auto run = [&](Connection& conn) -> Status {
        R result = fn(conn);
        Status status = result.status();
        out.emplace(std::move(result));
        return status;
      };
      Status status = writer_.Write(run);
      if (!status.ok()) return status;  // also when the group failed to commit
      return std::move(*out);
    }
  }

  // Runs `fn` on a read connection.
  template <typename Fn>
  auto Read(Fn&& fn) -> std::invoke_result_t<Fn&, Connection&> {
    if (!readers_) return writer_.Exclusive(fn);
    Result<ReaderPool::Lease> lease = readers_->Acquire();
    if (!lease.ok()) return lease.status();
    return fn(lease->connection());
  }

  sqlite::GroupWriter writer_;
  // Null for ":memory:", which cannot be shared between connections; its
  // reads then use the writer's connection between write groups.
  const std::unique_ptr<ReaderPool> readers_;
};

Result<std::string> PragmaText(Connection& conn, const char* sql) {
  Result<Statement> stmt = conn.Prepare(sql);
  if (!stmt.ok()) return stmt.status();
  Result<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->Text(0) : std::string();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  if (options.path.empty()) return Invalid("sqlite store needs a path (or \":memory:\")");
  const bool in_memory = options.path == ":memory:";
  Result<std::unique_ptr<Connection>> writer = Connection::Open(
      options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options.busy_timeout_ms);
  if (!writer.ok()) return writer.status();
  Connection& conn = **writer;

  // Every failure from here on names the file.
  auto at_path = [&](const Status& status) {
    return Status(status.code(), "sqlite store " + Quoted(options.path) + ": " + status.message());
  };
  if (!in_memory) {
    Result<std::string> mode = PragmaText(conn, "PRAGMA journal_mode = WAL");
    if (!mode.ok()) return at_path(mode.status());
    if (*mode != "wal") {
      return at_path(Status(StatusCode::kIoError,
                            "cannot use WAL mode (journal mode is " + Quoted(*mode) + ")"));
    }
  }
  for (const char* pragma :
       {options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON"}) {
    if (Status set = conn.Exec(pragma); !set.ok()) return at_path(set);
  }
  if (Status migrated = sqlite::Migrate(conn); !migrated.ok()) return at_path(migrated);

  std::unique_ptr<ReaderPool> readers;
  if (!in_memory) {
    // Readers open lazily; an absolute path keeps them on this file even if
    // the working directory changes later.
    std::error_code error;
    std::filesystem::path absolute = std::filesystem::absolute(options.path, error);
    readers = std::make_unique<ReaderPool>(error ? options.path : absolute.string(),
                                           options.busy_timeout_ms, kMaxReaders);
  }
  return std::unique_ptr<Store>(
      std::make_unique<SqliteStore>(std::move(*writer), std::move(readers)));
}

}  // namespace omnirelay::cp
