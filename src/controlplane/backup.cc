#include "backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "cell_identity.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/rfc3339.h"
#include "omnirelay/config/signing.h"
#include "store_sqlite_db.h"
#include "store_sqlite_schema.h"
#include "store_sqlite_writes.h"

namespace omnirelay::cp {
namespace {

namespace fs = std::filesystem;
using sqlite::Connection;
using sqlite::Statement;
using sqlite::Transaction;

constexpr char kManifest[] = "manifest.json";
constexpr char kState[] = "state.db";
constexpr char kKey[] = "signing-key.pem";
constexpr char kTrusted[] = "trusted-keys.json";
constexpr std::size_t kMaxSmallFile = 1 << 20;  // keys and manifests
constexpr int kPagesPerStep = 1024;             // 4 MiB of 4 KiB pages per backup step
constexpr const char* kTables[] = {"layers", "revisions", "tokens", "rollouts",
                                   "audit",  "snapshots", "nodes",  "settings"};

Status Io(std::string message) {
  return Status(StatusCode::kIoError, std::move(message));
}
Status Damaged(std::string message) {
  return Status(StatusCode::kInvalid, "the backup is damaged or inconsistent: " + message);
}

Result<std::int64_t> Scalar(Connection& conn, const std::string& sql) {
  OMNI_ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(sql));
  OMNI_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? stmt.Int(0) : 0;
}

// Hex SHA-256 of a file, read in chunks (a database may be large).
Result<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Io("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &size);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    char two[3];
    std::snprintf(two, sizeof two, "%02x", digest[i]);
    hex += two;
  }
  return hex;
}

// What a copy of the store holds, as the manifest describes it; kInvalid
// when it fails SQLite's integrity check or has a schema this build lacks.
Result<BackupManifest> Describe(Connection& conn) {
  OMNI_ASSIGN_OR_RETURN(Statement check, conn.Prepare("PRAGMA integrity_check"));
  OMNI_ASSIGN_OR_RETURN(bool row, check.Step());
  if (!row || check.Text(0) != "ok") {
    return Damaged("state.db fails SQLite's integrity check: " + (row ? check.Text(0) : ""));
  }
  BackupManifest m;
  OMNI_ASSIGN_OR_RETURN(m.schema_version,
                        Scalar(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  if (m.schema_version < 1 || m.schema_version > sqlite::KnownSchemaVersion()) {
    return Damaged("state.db has schema version " + std::to_string(m.schema_version) +
                   "; this build knows 1 to " + std::to_string(sqlite::KnownSchemaVersion()));
  }
  OMNI_ASSIGN_OR_RETURN(m.head_revision, sqlite::QueryHead(conn));
  for (const char* table : kTables) {
    OMNI_ASSIGN_OR_RETURN(m.counts[table],
                          Scalar(conn, std::string("SELECT COUNT(*) FROM ") + table));
  }
  OMNI_ASSIGN_OR_RETURN(Statement key, conn.Prepare("SELECT value FROM settings WHERE key = ?1"));
  key.Bind(1, kCellKeySettingKey);
  OMNI_ASSIGN_OR_RETURN(bool has_key, key.Step());
  if (has_key) {
    const nlohmann::json j = nlohmann::json::parse(key.Text(0), nullptr, false);
    if (j.is_object() && j.contains("keyId") && j["keyId"].is_string()) m.key_id = j["keyId"];
  }
  return m;
}

// fsync of a file written by copy_file, before it is renamed into place.
bool SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  return synced;
}

bool IsEmptyDir(const std::string& dir) {
  std::error_code error;
  return !fs::exists(dir, error) || (fs::is_directory(dir, error) && fs::is_empty(dir, error));
}

Status MakePrivateDir(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) return Io("cannot create " + dir + ": " + error.message());
  fs::permissions(dir, fs::perms::owner_all, error);
  return error ? Io("cannot chmod 700 " + dir + ": " + error.message()) : Status::Ok();
}

// Copies a small file (a key) through the atomic writer, with `mode`.
Status CopySmallFile(const std::string& from, const std::string& to, int mode) {
  FileSystem& files = RealFileSystem();
  OMNI_ASSIGN_OR_RETURN(std::string bytes, files.ReadFile(from, kMaxSmallFile));
  return WriteFileAtomically(files, to, bytes, mode);
}

// The copy itself: one read transaction on the source, stepped through.
Status CopyDatabase(const std::string& from, const std::string& to, const BackupOptions& options) {
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<Connection> src,
                        Connection::Open(from, SQLITE_OPEN_READONLY, 5000));
  OMNI_ASSIGN_OR_RETURN(std::unique_ptr<Connection> dst,
                        Connection::Open(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, 5000));
  {
    // Held to the last step: every page comes from this one committed state.
    OMNI_ASSIGN_OR_RETURN(Transaction read, Transaction::Begin(*src, Transaction::Mode::kDeferred));
    OMNI_RETURN_IF_ERROR(Scalar(*src, "SELECT COUNT(*) FROM schema_migrations").status());
    sqlite3_backup* copy = sqlite3_backup_init(dst->handle(), "main", src->handle(), "main");
    if (copy == nullptr) return sqlite::SqliteStatus(dst->handle(), SQLITE_ERROR, "backup");
    int rc = SQLITE_OK;
    while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      if (rc != SQLITE_OK) sqlite3_sleep(10);  // busy: another process holds a lock; retry
      rc = sqlite3_backup_step(copy, kPagesPerStep);
      const int total = sqlite3_backup_pagecount(copy);
      if (options.progress) options.progress(total - sqlite3_backup_remaining(copy), total);
    }
    sqlite3_backup_finish(copy);
    if (rc != SQLITE_DONE) return sqlite::SqliteStatus(dst->handle(), rc, "backup of " + from);
  }
  // One self-contained file: no -wal beside it.
  return dst->Exec("PRAGMA journal_mode = DELETE");
}

}  // namespace

std::string ManifestToJson(const BackupManifest& m) {
  nlohmann::json j = {{"format", m.format},
                      {"createdAt", FormatRfc3339Ms(m.created_at_ms)},
                      {"headRevision", m.head_revision},
                      {"schemaVersion", m.schema_version},
                      {"keyId", m.key_id},
                      {"stateSha256", m.state_sha256},
                      {"stateBytes", m.state_bytes},
                      {"counts", m.counts}};
  return j.dump(2) + "\n";
}

Result<BackupManifest> ManifestFromJson(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  BackupManifest m;
  try {
    if (!j.is_object() || j.at("format").get<std::int64_t>() != 1) throw std::exception();
    Result<std::int64_t> created = ParseRfc3339(j.at("createdAt").get<std::string>());
    if (!created.ok()) throw std::exception();
    m.created_at_ms = *created * 1000;
    m.head_revision = j.at("headRevision").get<std::int64_t>();
    m.schema_version = j.at("schemaVersion").get<std::int64_t>();
    m.key_id = j.at("keyId").get<std::string>();
    m.state_sha256 = j.at("stateSha256").get<std::string>();
    m.state_bytes = j.at("stateBytes").get<std::int64_t>();
    m.counts = j.at("counts").get<std::map<std::string, std::int64_t>>();
  } catch (const std::exception&) {
    return Damaged(std::string(kManifest) + " is not a format-1 backup manifest");
  }
  return m;
}

Result<BackupManifest> BackupSqlite(const BackupOptions& o) {
  const std::string url =
      o.store_url.empty() ? "sqlite://" + o.data_dir + "/" + kState : o.store_url;
  if (url.rfind("sqlite://", 0) != 0) {
    return Status(StatusCode::kInvalidArgument,
                  "backup copies a SQLite store; back a Postgres store up with pg_dump -Fc and "
                  "copy the data dir's key files (docs/knowledge-base/deployment.md)");
  }
  const std::string path = url.substr(std::string_view("sqlite://").size());
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return Io("no SQLite store at " + path);
  if (!IsEmptyDir(o.out_dir)) {
    return Status(StatusCode::kConflict, o.out_dir + " is not empty: back up into a new directory");
  }
  OMNI_RETURN_IF_ERROR(MakePrivateDir(o.out_dir));
  const std::string partial = o.out_dir + "/" + kState + ".partial";
  OMNI_RETURN_IF_ERROR(CopyDatabase(path, partial, o));
  fs::permissions(partial, fs::perms::owner_read | fs::perms::owner_write, error);
  BackupManifest m;
  {
    OMNI_ASSIGN_OR_RETURN(std::unique_ptr<Connection> copy,
                          Connection::Open(partial, SQLITE_OPEN_READONLY, 5000));
    OMNI_ASSIGN_OR_RETURN(m, Describe(*copy));
  }
  const std::string key_file =
      o.signing_key_file.empty() ? o.data_dir + "/" + kKey : o.signing_key_file;
  OMNI_ASSIGN_OR_RETURN(SigningKey key, SigningKey::LoadPem(key_file));
  if (!m.key_id.empty() && m.key_id != key.key_id()) {
    return Status(StatusCode::kConflict, key_file + " holds key " + key.key_id() +
                                             " but the store records the cell's key " + m.key_id);
  }
  m.key_id = key.key_id();
  OMNI_RETURN_IF_ERROR(CopySmallFile(key_file, o.out_dir + "/" + kKey, 0600));
  OMNI_RETURN_IF_ERROR(
      CopySmallFile(o.data_dir + "/" + kTrusted, o.out_dir + "/" + kTrusted, 0600));
  fs::rename(partial, o.out_dir + "/" + kState, error);
  if (error) return Io("cannot rename " + partial + ": " + error.message());
  OMNI_ASSIGN_OR_RETURN(m.state_sha256, FileSha256(o.out_dir + "/" + kState));
  m.state_bytes = static_cast<std::int64_t>(fs::file_size(o.out_dir + "/" + kState, error));
  m.created_at_ms = o.now_ms;
  // Last: a directory with a manifest is a complete backup.
  OMNI_RETURN_IF_ERROR(
      WriteFileAtomically(RealFileSystem(), o.out_dir + "/" + kManifest, ManifestToJson(m), 0600));
  return m;
}

Result<BackupManifest> RestoreBackup(const std::string& from, const std::string& data_dir) {
  FileSystem& files = RealFileSystem();
  std::error_code error;
  if (!fs::is_directory(from, error)) {
    return Status(StatusCode::kInvalidArgument, "no backup at " + from + ": not a directory");
  }
  Result<std::string> text = files.ReadFile(from + "/" + kManifest, kMaxSmallFile);
  if (!text.ok()) return Damaged("no readable " + from + "/" + kManifest);
  OMNI_ASSIGN_OR_RETURN(BackupManifest m, ManifestFromJson(*text));
  const std::string state = from + "/" + kState;
  OMNI_ASSIGN_OR_RETURN(std::string sha, FileSha256(state));
  if (sha != m.state_sha256) {
    return Status(StatusCode::kHashMismatch, "the backup is damaged: " + state + " has SHA-256 " +
                                                 sha + ", its manifest says " + m.state_sha256);
  }
  BackupManifest found;
  {
    OMNI_ASSIGN_OR_RETURN(std::unique_ptr<Connection> copy,
                          Connection::Open(state, SQLITE_OPEN_READONLY, 5000));
    OMNI_ASSIGN_OR_RETURN(found, Describe(*copy));
  }
  // A store that records no key yet (never started) is described by its key file's id.
  if (found.head_revision != m.head_revision ||
      (!found.key_id.empty() && found.key_id != m.key_id)) {
    return Damaged("state.db (head " + std::to_string(found.head_revision) + ", key " +
                   found.key_id + ") is not what the manifest describes");
  }
  Result<SigningKey> key = SigningKey::LoadPem(from + "/" + kKey);
  if (!key.ok()) return Damaged("no usable " + std::string(kKey) + ": " + key.status().message());
  if (key->key_id() != m.key_id) {
    return Damaged(std::string(kKey) + " holds key " + key->key_id() +
                   " but the store records the cell's key " + m.key_id);
  }
  if (!files.Exists(from + "/" + kTrusted)) return Damaged(std::string("no ") + kTrusted);

  for (const char* name : {kState, "state.db-wal", "state.db-shm", kKey, kTrusted}) {
    if (files.Exists(data_dir + "/" + name)) {
      return Status(StatusCode::kConflict, data_dir + " already holds " + name +
                                               ": restore into a new data dir (it never "
                                               "overwrites)");
    }
  }
  OMNI_RETURN_IF_ERROR(MakePrivateDir(data_dir));
  OMNI_RETURN_IF_ERROR(CopySmallFile(from + "/" + kKey, data_dir + "/" + kKey, 0600));
  OMNI_RETURN_IF_ERROR(CopySmallFile(from + "/" + kTrusted, data_dir + "/" + kTrusted, 0644));
  const std::string partial = data_dir + "/" + kState + ".restore";
  fs::copy_file(state, partial, fs::copy_options::overwrite_existing, error);
  if (!error) fs::permissions(partial, fs::perms::owner_read | fs::perms::owner_write, error);
  if (!error && !SyncFile(partial)) error = std::error_code(errno, std::generic_category());
  if (!error) fs::rename(partial, data_dir + "/" + kState, error);
  if (error) return Io("cannot put state.db in " + data_dir + ": " + error.message());
  OMNI_RETURN_IF_ERROR(files.SyncDirectory(data_dir));
  return m;
}

}  // namespace omnirelay::cp
