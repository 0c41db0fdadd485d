#include "store_sqlite_schema.h"

#include <iterator>
#include <string>

namespace omnirelay::cp::sqlite {
namespace {

struct MigrationStep {
  const char* description;
  const char* sql;
};

// Append only: step i takes the schema from version i to i + 1. A released
// step is never edited; a change is a new step.
constexpr MigrationStep kSteps[] = {
    {"initial schema", R"sql(
-- Every layer put or delete, one row per revision: the history. Revisions are
-- assigned by the store as MAX(revision) + 1 inside the write transaction.
CREATE TABLE revisions (
  revision      INTEGER PRIMARY KEY,
  scope         TEXT    NOT NULL,
  deleted       INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  document      TEXT,   -- NULL exactly for deletes
  author        TEXT    NOT NULL,
  created_at_ms INTEGER NOT NULL,
  CHECK ((deleted = 1) = (document IS NULL))
);
CREATE INDEX revisions_by_scope ON revisions (scope, revision);

-- The current head of each scope that has a layer; deleted scopes have no row.
CREATE TABLE layers (
  scope    TEXT    PRIMARY KEY,
  revision INTEGER NOT NULL UNIQUE REFERENCES revisions (revision)
) WITHOUT ROWID;

CREATE TABLE snapshots (
  hash          TEXT    PRIMARY KEY,
  snapshot      BLOB    NOT NULL,
  envelope      BLOB    NOT NULL,
  version       INTEGER NOT NULL,
  scope_chain   TEXT    NOT NULL,
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL
);

CREATE TABLE nodes (
  node_id              TEXT    PRIMARY KEY,
  scope_chain          TEXT    NOT NULL,
  api_version          TEXT    NOT NULL,
  features             TEXT    NOT NULL,  -- JSON array of strings
  assigned_version     INTEGER NOT NULL,
  assigned_hash        TEXT    NOT NULL,
  applied_version      INTEGER NOT NULL,
  applied_hash         TEXT    NOT NULL,
  discovery_generation INTEGER NOT NULL,
  last_error           TEXT    NOT NULL,
  health_json          TEXT    NOT NULL,
  connected            INTEGER NOT NULL,
  last_seen_ms         INTEGER NOT NULL
);

CREATE TABLE tokens (
  id            TEXT    PRIMARY KEY,
  secret_hash   TEXT    NOT NULL UNIQUE,
  name          TEXT    NOT NULL,
  scopes        TEXT    NOT NULL,  -- JSON array of strings
  created_at_ms INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER NOT NULL
);

CREATE TABLE audit (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms   INTEGER NOT NULL,
  principal TEXT    NOT NULL,
  token_id  TEXT    NOT NULL,
  action    TEXT    NOT NULL,
  scope     TEXT    NOT NULL,
  revision  INTEGER NOT NULL,
  outcome   TEXT    NOT NULL,
  summary   TEXT    NOT NULL
);
CREATE INDEX audit_by_time ON audit (time_ms);

CREATE TABLE rollouts (
  id            TEXT    PRIMARY KEY,
  state_json    TEXT    NOT NULL,
  updated_at_ms INTEGER NOT NULL
);

-- Leader leases (one rollout driver at a time); used by a later issue.
CREATE TABLE leases (
  name          TEXT    PRIMARY KEY,
  holder        TEXT    NOT NULL,
  expires_at_ms INTEGER NOT NULL
);
)sql"},
    {"snapshots by scope chain", R"sql(
-- LatestSnapshot: a restarted control plane re-uses what it signed before.
CREATE INDEX snapshots_by_chain ON snapshots (scope_chain, version, expires_at_ms);
)sql"},
    {"node profiles", R"sql(
-- NodeProfiles: a write's capability check groups the fleet by what a node
-- is (chain, api version, features) instead of reading every node record.
CREATE INDEX nodes_by_profile ON nodes (scope_chain, api_version, features);
)sql"},
    {"audit filters", R"sql(
-- QueryAudit with a filter (GET /v1/audit?scope=&principal=&action=&writesOnly=)
-- seeks the matching entries in id order instead of scanning the log.
CREATE INDEX audit_by_scope ON audit (scope, id);
CREATE INDEX audit_by_principal ON audit (principal, id);
CREATE INDEX audit_by_action ON audit (action, id);
)sql"},
    {"token names", R"sql(
-- CreateToken refuses a name a live token already has; RevokeToken finds a
-- token by name.
CREATE INDEX tokens_by_name ON tokens (name);
)sql"},
    {"node state", R"sql(
-- One node state (DESIGN.md §4 Drift): the last problem's code and JSON
-- Pointer apart from its text, and when the node's assignment last changed
-- and expires (updating vs drifted, stale).
ALTER TABLE nodes ADD COLUMN last_error_code TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN last_error_path TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN assigned_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN assigned_expires_at_ms INTEGER NOT NULL DEFAULT 0;
-- Expiry: the disconnected nodes last seen before a cutoff.
CREATE INDEX nodes_by_last_seen ON nodes (connected, last_seen_ms);
)sql"},
    {"audit filter indexes dropped", R"sql(
-- Every index on the audit table costs each write transaction pages more to
-- write and sync, inside the one writer's critical section (docs/benchmarks.md,
-- CAS). Filters (scope, principal, action) are checked on the rows the id
-- cursor and the time bound (audit_by_time) select, in id order.
DROP INDEX IF EXISTS audit_by_scope;
DROP INDEX IF EXISTS audit_by_principal;
DROP INDEX IF EXISTS audit_by_action;
)sql"},
    {"settings", R"sql(
-- Small durable values by key (Store::GetSetting / PutSetting), e.g. the
-- freeze switch: one row per key that has a value.
CREATE TABLE settings (
  key           TEXT    PRIMARY KEY,
  value         TEXT    NOT NULL,
  updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    {"rollout generations", R"sql(
-- A rollout advances by CAS on its generation (DESIGN.md §4 Rollouts): the
-- put names the generation it read.
ALTER TABLE rollouts ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
)sql"},
    {"audit chain", R"sql(
-- Each audit entry's hash over the previous entry's hash and its own fields
-- (audit_chain.h); NULL for entries written before this migration.
ALTER TABLE audit ADD COLUMN hash TEXT;
)sql"},
    {"snapshot rollout labels", R"sql(
-- A chain's snapshot as sent to nodes that read metadata.rollout: the
-- rollout wave it names ("<id>/<wave>"), '' for the chain's own snapshot.
-- Fetched by hash only; LatestSnapshot and SnapshotOfVersion skip them.
ALTER TABLE snapshots ADD COLUMN rollout TEXT NOT NULL DEFAULT '';
)sql"},
    {"rollout members apart", R"sql(
-- A rollout's members (RolloutRecord::members_json) beside its state: a
-- promotion rewrites the state alone. '' for a record holding both in
-- state_json, as every record before this step does.
ALTER TABLE rollouts ADD COLUMN members_json TEXT NOT NULL DEFAULT '';
)sql"},
};

constexpr char kCreateMigrationsTable[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version       INTEGER PRIMARY KEY,
  description   TEXT    NOT NULL,
  applied_at_ms INTEGER NOT NULL
))sql";

Result<std::int64_t> CurrentVersion(Connection& conn) {
  Result<Statement> select =
      conn.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!select.ok()) return select.status();
  Result<bool> row = select->Step();
  if (!row.ok()) return row.status();
  return *row ? select->Int(0) : 0;
}

}  // namespace

std::int64_t KnownSchemaVersion() {
  return static_cast<std::int64_t>(std::size(kSteps));
}

Status Migrate(Connection& conn) {
  OMNI_RETURN_IF_ERROR(conn.Exec(kCreateMigrationsTable));
  for (;;) {
    // Re-read the version under the write lock: another process may have
    // migrated since.
    Result<Transaction> txn = Transaction::Begin(conn, Transaction::Mode::kImmediate);
    if (!txn.ok()) return txn.status();
    Result<std::int64_t> version = CurrentVersion(conn);
    if (!version.ok()) return version.status();
    if (*version > KnownSchemaVersion()) {
      return Status(StatusCode::kInternal, "schema version " + std::to_string(*version) +
                                               " is newer than this build knows (" +
                                               std::to_string(KnownSchemaVersion()) +
                                               "); run a newer control plane or restore a backup");
    }
    if (*version == KnownSchemaVersion()) return Status::Ok();  // nothing written; rolls back

    const MigrationStep& step = kSteps[*version];
    const std::int64_t next = *version + 1;
    Status applied = conn.Exec(step.sql);
    if (!applied.ok()) {
      return Status(applied.code(), "schema migration " + std::to_string(next) + " (" +
                                        step.description + "): " + applied.message());
    }
    Result<Statement> record = conn.Prepare(
        "INSERT INTO schema_migrations (version, description, applied_at_ms) "
        "VALUES (?1, ?2, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))");
    if (!record.ok()) return record.status();
    record->Bind(1, next).Bind(2, step.description);
    OMNI_RETURN_IF_ERROR(record->Run());
    OMNI_RETURN_IF_ERROR(txn->Commit());
  }
}

}  // namespace omnirelay::cp::sqlite
