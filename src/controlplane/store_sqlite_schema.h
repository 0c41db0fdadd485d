// The schema of the SQLite store and its migrations.
//
// The schema version lives in table schema_migrations (one row per applied
// step). Migrate() applies the pending steps of an ordered, append-only list
// in order, each in its own BEGIN IMMEDIATE transaction together with its
// schema_migrations row, so concurrent openers and crashes mid-migration are
// safe. A database whose version is newer than this build knows is refused.
//
// Thread safety: runs on the caller's connection; call once per open.
#pragma once

#include <cstdint>

#include "omnirelay/config/status.h"
#include "store_sqlite_db.h"

namespace omnirelay::cp::sqlite {

// The newest schema version this build knows.
std::int64_t KnownSchemaVersion();

// Brings the database on `conn` to KnownSchemaVersion(). kInternal if the
// database is newer than that.
Status Migrate(Connection& conn);

}  // namespace omnirelay::cp::sqlite
