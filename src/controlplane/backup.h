// Backup and restore of a daemon's SQLite store and keys (issue 12 item 10;
// docs/knowledge-base/deployment.md, "Backup and restore").
//
// Backup runs beside a serving daemon: it opens state.db read-only and
// copies it with SQLite's online backup API inside one read transaction, so
// the copy is one committed state (WAL: writers never wait for it; the WAL
// only grows until the copy ends). The copy is checked (integrity_check,
// schema version) and described by a manifest, manifest.json: format,
// createdAt, head revision, schema version, the cell's key id, row counts
// and the SHA-256 of state.db. The backup dir also holds signing-key.pem
// (the private key: the dir is made 0700, every file 0600) and
// trusted-keys.json.
//
// Restore checks a backup before it writes anything — the manifest, the
// SHA-256 of state.db, integrity_check, a schema this build knows, and that
// the key file is the key the store records as the cell's — and refuses a
// data dir that already holds a state.db or a key (it never overwrites).
// Then it puts state.db and the key files in place (0600; trusted-keys.json
// 0644, as a daemon writes it), each written aside and renamed.
//
// Errors: kConflict for a target that is not empty; kHashMismatch or
// kInvalid for a backup that is damaged or does not match itself;
// kInvalidArgument for a store that is not SQLite; kIoError otherwise.
//
// Thread safety: stateless functions; run from the command line.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "omnirelay/config/status.h"

namespace omnirelay::cp {

struct BackupManifest {
  std::int64_t format = 1;
  std::int64_t created_at_ms = 0;  // "createdAt" in RFC 3339, whole seconds
  std::int64_t head_revision = 0;
  std::int64_t schema_version = 0;
  std::string key_id;        // the cell's, as the store records it
  std::string state_sha256;  // hex SHA-256 of state.db as backed up
  std::int64_t state_bytes = 0;
  std::map<std::string, std::int64_t> counts;  // rows per table
};

std::string ManifestToJson(const BackupManifest& m);
Result<BackupManifest> ManifestFromJson(const std::string& text);

struct BackupOptions {
  std::string data_dir;
  std::string store_url;         // "" = sqlite://<data_dir>/state.db
  std::string signing_key_file;  // "" = <data_dir>/signing-key.pem
  std::string out_dir;           // created 0700; must not exist or be empty
  std::int64_t now_ms = 0;
  // Called after each step of the copy: pages copied and the total.
  std::function<void(std::int64_t done, std::int64_t total)> progress;
};

Result<BackupManifest> BackupSqlite(const BackupOptions& options);

// Checks the backup in `from` and restores it into `data_dir`.
Result<BackupManifest> RestoreBackup(const std::string& from, const std::string& data_dir);

}  // namespace omnirelay::cp
