#include "store_postgres_schema.h"

#include <cstdint>
#include <iterator>
#include <string>

namespace omnirelay::cp::pg {
namespace {

// Held (session-level) while a store migrates, so that replicas starting
// together migrate one at a time; the others then find nothing to do.
// An arbitrary constant of this project ("omnirel" in ASCII, as a number).
constexpr std::int64_t kMigrationLockKey = 0x6f6d6e6972656c;

struct MigrationStep {
  const char* description;
  const char* sql;
};

// Append only, like the SQLite steps: step i takes the schema from version
// i to i + 1. The first step is the SQLite schema as of its migration 11,
// in Postgres types. Text that is compared or ordered is COLLATE "C", so
// that every order is bytewise, as SQLite's, whatever the database's locale.
constexpr MigrationStep kSteps[] = {
    {"initial schema", R"sql(
-- The store's head: the last revision assigned. Every transaction that
-- assigns revisions or appends audit entries locks this one row first
-- (SELECT ... FOR UPDATE), which serialises them across every replica;
-- see store_postgres.cc.
CREATE TABLE store_head (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  revision BIGINT  NOT NULL
);
INSERT INTO store_head (id, revision) VALUES (1, 0);

CREATE TABLE revisions (
  revision      BIGINT  PRIMARY KEY,
  scope         TEXT    COLLATE "C" NOT NULL,
  deleted       BOOLEAN NOT NULL,
  document      TEXT,   -- NULL exactly for deletes
  author        TEXT    NOT NULL,
  created_at_ms BIGINT  NOT NULL,
  CHECK (deleted = (document IS NULL))
);
CREATE INDEX revisions_by_scope ON revisions (scope, revision);

CREATE TABLE layers (
  scope    TEXT   COLLATE "C" PRIMARY KEY,
  revision BIGINT NOT NULL UNIQUE REFERENCES revisions (revision)
);

CREATE TABLE snapshots (
  hash          TEXT   COLLATE "C" PRIMARY KEY,
  snapshot      BYTEA  NOT NULL,
  envelope      BYTEA  NOT NULL,
  version       BIGINT NOT NULL,
  scope_chain   TEXT   COLLATE "C" NOT NULL,
  created_at_ms BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  rollout       TEXT   COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX snapshots_by_chain ON snapshots (scope_chain, version, expires_at_ms);

CREATE TABLE nodes (
  node_id                TEXT    COLLATE "C" PRIMARY KEY,
  scope_chain            TEXT    COLLATE "C" NOT NULL,
  api_version            TEXT    COLLATE "C" NOT NULL,
  features               TEXT    COLLATE "C" NOT NULL,  -- JSON array of strings
  assigned_version       BIGINT  NOT NULL,
  assigned_hash          TEXT    NOT NULL,
  applied_version        BIGINT  NOT NULL,
  applied_hash           TEXT    NOT NULL,
  discovery_generation   BIGINT  NOT NULL,
  last_error             TEXT    NOT NULL,
  health_json            TEXT    NOT NULL,
  connected              BOOLEAN NOT NULL,
  last_seen_ms           BIGINT  NOT NULL,
  last_error_code        TEXT    NOT NULL DEFAULT '',
  last_error_path        TEXT    NOT NULL DEFAULT '',
  assigned_at_ms         BIGINT  NOT NULL DEFAULT 0,
  assigned_expires_at_ms BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX nodes_by_profile ON nodes (scope_chain, api_version, features);
CREATE INDEX nodes_by_last_seen ON nodes (connected, last_seen_ms);

CREATE TABLE tokens (
  id            TEXT   COLLATE "C" PRIMARY KEY,
  secret_hash   TEXT   COLLATE "C" NOT NULL UNIQUE,
  name          TEXT   COLLATE "C" NOT NULL,
  scopes        TEXT   NOT NULL,  -- JSON array of strings
  created_at_ms BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL,
  revoked_at_ms BIGINT NOT NULL
);
CREATE INDEX tokens_by_name ON tokens (name);

-- Ids come from a sequence but are drawn under the store_head lock, so they
-- increase in commit order (a rolled-back append may leave a gap).
CREATE TABLE audit (
  id        BIGSERIAL PRIMARY KEY,
  time_ms   BIGINT NOT NULL,
  principal TEXT   COLLATE "C" NOT NULL,
  token_id  TEXT   NOT NULL,
  action    TEXT   COLLATE "C" NOT NULL,
  scope     TEXT   COLLATE "C" NOT NULL,
  revision  BIGINT NOT NULL,
  outcome   TEXT   NOT NULL,
  summary   TEXT   NOT NULL,
  hash      TEXT
);
CREATE INDEX audit_by_time ON audit (time_ms);

CREATE TABLE settings (
  key           TEXT   COLLATE "C" PRIMARY KEY,
  value         TEXT   NOT NULL,
  updated_at_ms BIGINT NOT NULL
);

CREATE TABLE rollouts (
  id            TEXT   COLLATE "C" PRIMARY KEY,
  state_json    TEXT   NOT NULL,
  updated_at_ms BIGINT NOT NULL,
  generation    BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE leases (
  name          TEXT   COLLATE "C" PRIMARY KEY,
  holder        TEXT   NOT NULL,
  expires_at_ms BIGINT NOT NULL
);
)sql"},
    {"store_head.seq: advanced by every holder of the write lock", R"sql(
-- A layer write on a cursor this replica knows from its last commit checks
-- seq instead of taking the lock first (store_postgres_rows.h WriteCursor);
-- the lock is now an UPDATE that advances seq, so such a check sees every
-- other holder. A build from before this step takes the lock without
-- advancing seq: the head column is renamed so that such a build, still
-- running beside a newer one, fails every write loudly instead.
ALTER TABLE store_head RENAME COLUMN revision TO head;
ALTER TABLE store_head ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
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
  applied_at_ms BIGINT  NOT NULL
))sql";

Status MigrateLocked(pqxx::connection& conn) {
  {
    pqxx::work txn(conn);
    txn.exec0(kCreateMigrationsTable);
    txn.commit();
  }
  for (;;) {
    pqxx::work txn(conn);
    const std::int64_t version =
        txn.exec1("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0].as<std::int64_t>();
    if (version > KnownSchemaVersion()) {
      return Status(StatusCode::kInternal,
                    "postgres store: schema version " + std::to_string(version) +
                        " is newer than this build knows (" + std::to_string(KnownSchemaVersion()) +
                        "); run a newer control plane or restore a backup");
    }
    if (version == KnownSchemaVersion()) return Status::Ok();
    const MigrationStep& step = kSteps[version];
    const std::int64_t next = version + 1;
    try {
      txn.exec0(step.sql);
    } catch (const pqxx::sql_error& e) {
      return Status(StatusCode::kInternal, "postgres store: schema migration " +
                                               std::to_string(next) + " (" + step.description +
                                               "): " + e.what());
    }
    txn.exec_params0(
        "INSERT INTO schema_migrations (version, description, applied_at_ms) "
        "VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
        next, std::string(step.description));
    txn.commit();
  }
}

}  // namespace

std::int64_t KnownSchemaVersion() {
  return static_cast<std::int64_t>(std::size(kSteps));
}

Status Migrate(pqxx::connection& conn) {
  pqxx::nontransaction session(conn);
  session.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  session.commit();
  Status status;
  try {
    status = MigrateLocked(conn);
  } catch (...) {
    // The lock is the session's: a broken connection releases it with the
    // session; otherwise release it before the error goes up.
    if (conn.is_open()) {
      try {
        pqxx::nontransaction unlock(conn);
        unlock.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
      } catch (...) {
        // The session is in an unknown state; the caller drops it.
      }
    }
    throw;
  }
  pqxx::nontransaction unlock(conn);
  unlock.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  unlock.commit();
  return status;
}

}  // namespace omnirelay::cp::pg
