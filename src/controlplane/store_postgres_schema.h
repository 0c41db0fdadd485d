// The Postgres store's schema and its migrations.
//
// Thread safety: stateless; the connection is the caller's.
#pragma once

#include <cstdint>
#include <pqxx/pqxx>

#include "omnirelay/config/status.h"

namespace omnirelay::cp::pg {

// The schema version this build creates.
std::int64_t KnownSchemaVersion();

// Brings the database's schema up to KnownSchemaVersion(), one step per
// transaction, under a session-level advisory lock (pg_advisory_lock), so
// that several replicas starting at once migrate one at a time. kInternal
// when the database is at a version newer than this build knows. Throws
// libpqxx exceptions on connection failures (the caller's pool maps them).
Status Migrate(pqxx::connection& conn);

}  // namespace omnirelay::cp::pg
