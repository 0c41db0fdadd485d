#include "store_postgres_rows.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit_chain.h"

namespace omnirelay::cp::pg {
namespace {

// A Postgres bigint[] literal of `values`.
std::string IntArray(const std::vector<std::int64_t>& values) {
  std::string out = "{";
  for (const std::int64_t v : values) {
    if (out.size() > 1) out += ',';
    out += std::to_string(v);
  }
  return out + "}";
}

std::string Text(const pqxx::field& f) {
  return f.is_null() ? std::string() : f.as<std::string>();
}

std::int64_t Int(const pqxx::field& f) {
  return f.is_null() ? 0 : f.as<std::int64_t>();
}

std::string Bytes(const pqxx::field& f) {
  return f.is_null() ? std::string() : pqxx::binarystring(f).str();
}

// The class (first key) of the advisory locks PutChainSnapshot takes per chain.
constexpr int kChainSnapshotLockClass = 0x4f4d4e49;  // "OMNI"

}  // namespace

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

namespace {

// The checked layers (LayerWrite::checked_layers) of `writes`, in order, as
// a layer write statement's two array parameters.
struct CheckedArrays {
  std::string scopes;     // text[]
  std::string revisions;  // bigint[]
};
CheckedArrays CheckedArraysOf(const std::vector<const LayerWrite*>& writes) {
  std::vector<std::string> scopes;
  std::vector<std::int64_t> revisions;
  for (const LayerWrite* w : writes) {
    for (const LayerWrite::CheckedLayer& c : w->checked_layers) {
      scopes.push_back(c.scope);
      revisions.push_back(c.revision);
    }
  }
  return {TextArray(scopes), IntArray(revisions)};
}

}  // namespace

RevisionRecord ReadRevision(const pqxx::row& row) {
  RevisionRecord r;
  r.revision = Int(row[0]);
  r.scope = Text(row[1]);
  r.deleted = row[2].as<bool>();
  r.document = Text(row[3]);
  r.author = Text(row[4]);
  r.created_at_ms = Int(row[5]);
  return r;
}

LayerRecord ReadLayer(const pqxx::row& row) {
  return LayerFromRevision(ReadRevision(row));
}

Result<std::vector<LayerRecord>> ReadCurrentLayers(pqxx::transaction_base& txn,
                                                   std::vector<std::string> scopes) {
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  constexpr std::size_t kArms = 5;
  if (scopes.size() > kArms) {
    static const std::string kSql = std::string("SELECT ") + kQualifiedRevisionColumns +
                                    " FROM layers l JOIN revisions r ON r.revision = l.revision "
                                    "WHERE l.scope = ANY ($1::text[]) ORDER BY l.scope";
    return Decode<LayerRecord>(txn.exec_params(kSql, TextArray(scopes)), ReadLayer);
  }
  static const std::string kChainSql = [] {
    std::string out;
    for (std::size_t i = 1; i <= kArms; ++i) {
      out += std::string(out.empty() ? "" : " UNION ALL ") + "SELECT " + kRevisionColumns +
             " FROM revisions WHERE revision = (SELECT revision FROM layers WHERE scope = $" +
             std::to_string(i) + "::text)";
    }
    return out + " ORDER BY 2";
  }();
  scopes.resize(kArms);  // unused arms look up "", which no scope is
  return Decode<LayerRecord>(ExecPrepared(txn, "omni_chain_layers", kChainSql, scopes[0], scopes[1],
                                          scopes[2], scopes[3], scopes[4]),
                             ReadLayer);
}

SnapshotRecord ReadSnapshot(const pqxx::row& row) {
  SnapshotRecord s;
  s.hash = Text(row[0]);
  s.snapshot = Bytes(row[1]);
  s.envelope = Bytes(row[2]);
  s.version = Int(row[3]);
  s.scope_chain = Text(row[4]);
  s.created_at_ms = Int(row[5]);
  s.expires_at_ms = Int(row[6]);
  s.rollout = Text(row[7]);
  return s;
}

Result<NodeRecord> ReadNode(const pqxx::row& row) {
  NodeRecord n;
  n.node_id = Text(row[0]);
  n.scope_chain = Text(row[1]);
  n.api_version = Text(row[2]);
  Result<std::vector<std::string>> features =
      DecodeStrings(Text(row[3]), "features of node " + Quoted(n.node_id));
  if (!features.ok()) return features.status();
  n.features = std::move(*features);
  n.assigned_version = Int(row[4]);
  n.assigned_hash = Text(row[5]);
  n.applied_version = Int(row[6]);
  n.applied_hash = Text(row[7]);
  n.discovery_generation = Int(row[8]);
  n.last_error = Text(row[9]);
  n.health_json = Text(row[10]);
  n.connected = row[11].as<bool>();
  n.last_seen_ms = Int(row[12]);
  n.last_error_code = Text(row[13]);
  n.last_error_path = Text(row[14]);
  n.assigned_at_ms = Int(row[15]);
  n.assigned_expires_at_ms = Int(row[16]);
  return n;
}

Result<TokenRecord> ReadToken(const pqxx::row& row) {
  TokenRecord t;
  t.id = Text(row[0]);
  t.secret_hash = Text(row[1]);
  t.name = Text(row[2]);
  Result<std::vector<std::string>> scopes =
      DecodeStrings(Text(row[3]), "scopes of token " + Quoted(t.id));
  if (!scopes.ok()) return scopes.status();
  t.scopes = std::move(*scopes);
  t.created_at_ms = Int(row[4]);
  t.expires_at_ms = Int(row[5]);
  t.revoked_at_ms = Int(row[6]);
  return t;
}

AuditEntry ReadAudit(const pqxx::row& row) {
  AuditEntry a;
  a.id = Int(row[0]);
  a.time_ms = Int(row[1]);
  a.principal = Text(row[2]);
  a.token_id = Text(row[3]);
  a.action = Text(row[4]);
  a.scope = Text(row[5]);
  a.revision = Int(row[6]);
  a.outcome = Text(row[7]);
  a.summary = Text(row[8]);
  return a;
}

RolloutRecord ReadRollout(const pqxx::row& row) {
  RolloutRecord r;
  r.id = Text(row[0]);
  r.state_json = Text(row[1]);
  r.updated_at_ms = Int(row[2]);
  r.generation = Int(row[3]);
  r.members_json = Text(row[4]);
  return r;
}

Head LockHead(pqxx::transaction_base& txn) {
  const pqxx::row row =
      txn.exec1("UPDATE store_head SET seq = seq + 1 WHERE id = 1 RETURNING head, seq");
  return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

void LockCursor(pqxx::transaction_base& txn, WriteCursor& at) {
  const Head head = LockHead(txn);
  if (!at.audit_tip || head.seq != at.seq + 1) {
    const pqxx::result last = txn.exec("SELECT hash FROM audit ORDER BY id DESC LIMIT 1");
    at.audit_tip = last.empty() ? std::string() : Text(last[0][0]);
  }
  at.head = head.revision;
  at.seq = head.seq;
  at.locked = true;
}

void InsertAudits(pqxx::transaction_base& txn, const std::vector<AuditEntry>& entries) {
  if (entries.empty()) return;
  const pqxx::result last = txn.exec("SELECT hash FROM audit ORDER BY id DESC LIMIT 1");
  std::string previous = last.empty() ? std::string() : Text(last[0][0]);
  for (const AuditEntry& a : entries) {
    previous = AuditChainHash(previous, a);
    txn.exec_params0(
        "INSERT INTO audit (time_ms, principal, token_id, action, scope, revision, outcome, "
        "summary, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        a.time_ms, a.principal, a.token_id, a.action, a.scope, a.revision, a.outcome, a.summary,
        previous);
  }
}

namespace {

// The whole of a layer write as one statement (ApplyLayerWrite). The head
// row's UPDATE carries every condition, so it is also the write lock: when
// seq is not $14 (someone took the lock since this cursor was current), the
// CAS ($15: -1 any, 0 absent, else that revision), a refusing setting ($16,
// '' for none) or a checked layer that moved says no, it updates nothing
// and the inserts, which read its row, insert nothing. It answers the new
// seq (the UPDATE's RETURNING), or no row when nothing was applied; a
// refusal's reasons are read then, apart (kRefusalReasons): a write refused
// is rare, and the reasons' three lookups and sort cost every write when
// the statement read them too. The subqueries read the statement's
// snapshot, taken before the row lock was granted; that is sound because
// seq unchanged proves nobody committed under the lock in between. (The
// layer's foreign key to its revision is checked at the statement's end,
// when the revision row is there.)
//
// The checked layers ($17 scopes, $18 their revisions, 0 for none;
// LayerWrite::checked_layers): a correlated lookup by primary key per
// checked scope, not a join (the generic plan of a join made while `layers`
// is small would scan it).
constexpr char kHeadUpdate[] =
    "WITH h AS (UPDATE store_head SET head = $1::bigint, seq = seq + 1 "
    "WHERE id = 1 AND seq = $14::bigint AND head = $1::bigint - 1 "
    "AND ($15::bigint < 0 OR COALESCE((SELECT revision FROM layers WHERE scope = $2::text), 0) "
    "= $15::bigint) "
    "AND ($16::text = '' OR NOT EXISTS (SELECT 1 FROM settings WHERE key = $16::text)) "
    "AND NOT EXISTS (SELECT 1 FROM unnest($17::text[], $18::bigint[]) AS c(scope, revision) "
    "WHERE COALESCE((SELECT l.revision FROM layers l WHERE l.scope = c.scope), 0) "
    "<> c.revision) ";
constexpr char kAuditInsert[] =
    "a AS (INSERT INTO audit (time_ms, principal, token_id, action, scope, revision, outcome, "
    "summary, hash) SELECT $6::bigint, $7::text, $8::text, $9::text, $10::text, $1::bigint, "
    "$11::text, $12::text, $13::text FROM h) "
    "SELECT seq FROM h";

// Why a layer write was refused under the lock: the scope's revision ($1),
// the refusing setting's value ($2), and the first checked layer ($3
// scopes, $4 revisions), in the order given, that moved: its scope, the
// revision checked, the current one.
constexpr char kRefusalReasons[] =
    "SELECT (SELECT revision FROM layers WHERE scope = $1::text), "
    "(SELECT value FROM settings WHERE key = $2::text), m.scope, m.revision, m.now "
    "FROM (SELECT 1) AS one LEFT JOIN (SELECT c.scope, c.revision, (SELECT l.revision "
    "FROM layers l WHERE l.scope = c.scope) AS now, c.i FROM unnest($3::text[], $4::bigint[]) "
    "WITH ORDINALITY AS c(scope, revision, i)) AS m "
    "ON COALESCE(m.now, 0) <> m.revision ORDER BY m.i LIMIT 1";

// A put, or a delete: the delete also needs the layer to exist, stores a
// NULL document (NULLIF: $3 is named, so that the server can give it a
// type, though a delete has none) and removes the layer row. Both take the
// same parameters, so that one call runs either.
const std::string& LayerWriteStatement(bool deleted) {
  auto build = [](bool del) {
    return std::string(kHeadUpdate) +
           (del ? "AND EXISTS (SELECT 1 FROM layers WHERE scope = $2::text) " : "") +
           "RETURNING seq), "
           "r AS (INSERT INTO revisions (revision, scope, deleted, document, author, "
           "created_at_ms) SELECT $1::bigint, $2::text, " +
           (del ? "TRUE, NULLIF($3::text, $3::text)" : "FALSE, $3::text") +
           ", $4::text, $5::bigint FROM h), " +
           (del ? "l AS (DELETE FROM layers WHERE scope = $2::text AND EXISTS (SELECT 1 FROM h)), "
                : "l AS (INSERT INTO layers (scope, revision) SELECT $2::text, $1::bigint FROM h "
                  "ON CONFLICT (scope) DO UPDATE SET revision = excluded.revision), ") +
           kAuditInsert;
  };
  static const std::string put = build(false), del = build(true);
  return deleted ? del : put;
}

}  // namespace

Result<std::int64_t> ApplyLayerWrite(pqxx::transaction_base& txn, WriteCursor& at,
                                     const LayerWrite& w) {
  if (w.scope.empty()) return Status(StatusCode::kInvalidArgument, "layer write needs a scope");
  if (w.expected_revision && *w.expected_revision < 0) {
    return Status(StatusCode::kInvalidArgument,
                  "expected revision must be >= 0, got " + std::to_string(*w.expected_revision));
  }
  // On an autocommit cursor the lock could not be held past one statement.
  auto needs_lock = [&at] {
    at.needs_lock = true;
    return Status(StatusCode::kInternal,
                  "postgres store: the write needs the store's write lock (run it in a "
                  "transaction)");
  };
  if (!at.audit_tip) {
    if (at.autocommit) return needs_lock();
    LockCursor(txn, at);
  }
  const bool deleted = !w.document.has_value();
  const std::int64_t expected = w.expected_revision.value_or(-1);
  // Made once: the statement may run again after taking the lock.
  const CheckedArrays checked = CheckedArraysOf({&w});
  for (;;) {
    const std::int64_t revision = at.head + 1;
    AuditEntry audit = w.audit;
    audit.revision = revision;
    const std::string hash = AuditChainHash(*at.audit_tip, audit);
    const pqxx::result applied = ExecPrepared(
        txn, deleted ? "omni_layer_delete" : "omni_layer_put", LayerWriteStatement(deleted),
        revision, w.scope, w.document.value_or(std::string()), w.author, w.now_ms, audit.time_ms,
        audit.principal, audit.token_id, audit.action, audit.scope, audit.outcome, audit.summary,
        hash, at.seq, expected, w.refused_by_setting, checked.scopes, checked.revisions);
    if (!applied.empty() && !applied[0][0].is_null()) {
      at.head = revision;
      at.seq = applied[0][0].as<std::int64_t>();
      at.audit_tip = hash;
      at.locked = true;
      return revision;
    }
    if (!at.locked) {
      // Someone took the lock since this cursor was current, or the write is
      // refused: under the lock, the statement's answer is final.
      if (at.autocommit) return needs_lock();
      LockCursor(txn, at);
      continue;
    }
    // Refused under the lock: why (what the statement saw, as nobody else
    // can write while the lock is held).
    const pqxx::row why = txn.exec_params1(kRefusalReasons, w.scope, w.refused_by_setting,
                                           checked.scopes, checked.revisions);
    if (!w.refused_by_setting.empty() && !why[1].is_null()) {
      return Status(StatusCode::kFrozen, Text(why[1]));
    }
    std::optional<std::int64_t> current;
    if (!why[0].is_null()) current = why[0].as<std::int64_t>();
    OMNI_RETURN_IF_ERROR(CheckExpectedRevision(w.scope, current, w.expected_revision));
    if (!why[2].is_null()) {  // the first checked layer that moved
      std::optional<std::int64_t> now;
      if (!why[4].is_null()) now = why[4].as<std::int64_t>();
      return CheckCheckedLayer(Text(why[2]), now, why[3].as<std::int64_t>());
    }
    if (deleted && !current) {
      return Status(StatusCode::kNotFound, "scope " + Quoted(w.scope) + " has no layer");
    }
    return Status(StatusCode::kInternal, "postgres store: the write to " + Quoted(w.scope) +
                                             " was not applied under the write lock (head " +
                                             std::to_string(at.head) + ")");
  }
}

namespace {

// ApplyLayerWritesAsOne's statement for `n` writes: $1 the head before them,
// $2 store_head.seq, $3/$4 every write's checked layers (scopes, revisions),
// $5 the refusing settings; then per write (w.i = 1..n) 13 parameters:
// scope, document, author, created_at_ms, the CAS ($15 of the single
// statement) and its audit entry (time_ms, principal, token_id, action,
// scope, outcome, summary, hash). Each insert reads `w`, a CTE scanned in
// the VALUES' order with no join, so the audit ids (the sequence, drawn
// under the head row's lock) follow the hash chain's order (ORDER BY w.i
// says so too, at no cost for 64 rows at most). As in the
// single statement, the subqueries read the statement's snapshot, sound
// because seq unchanged proves nobody committed under the lock since.
constexpr int kFusedFirst = 6;      // the first write's first parameter
constexpr int kFusedPerWrite = 13;  // parameters per write
constexpr std::size_t kFusedMost = kMostLayerWritesAsOne;

std::string FusedStatement(std::size_t n) {
  std::string values;
  for (std::size_t i = 0; i < n; ++i) {
    const int p = kFusedFirst + static_cast<int>(i) * kFusedPerWrite;
    auto arg = [&](int k, const char* type) { return "$" + std::to_string(p + k) + "::" + type; };
    values += (i == 0 ? "(" : ", (") + std::to_string(i + 1) + ", " + arg(0, "text") + ", " +
              arg(1, "text") + ", " + arg(2, "text") + ", " + arg(3, "bigint") + ", " +
              arg(4, "bigint") + ", " + arg(5, "bigint") + ", " + arg(6, "text") + ", " +
              arg(7, "text") + ", " + arg(8, "text") + ", " + arg(9, "text") + ", " +
              arg(10, "text") + ", " + arg(11, "text") + ", " + arg(12, "text") + ")";
  }
  return "WITH w (i, scope, document, author, created_at_ms, expected, time_ms, principal, "
         "token_id, action, audit_scope, outcome, summary, hash) AS (VALUES " +
         values +
         "), moved AS (SELECT c.revision, (SELECT l.revision FROM layers l "
         "WHERE l.scope = c.scope) AS now FROM unnest($3::text[], $4::bigint[]) "
         "AS c(scope, revision)), "
         "h AS (UPDATE store_head SET head = $1::bigint + " +
         std::to_string(n) +
         ", seq = seq + 1 WHERE id = 1 AND seq = $2::bigint AND head = $1::bigint "
         "AND NOT EXISTS (SELECT 1 FROM w WHERE w.expected >= 0 AND COALESCE((SELECT "
         "l.revision FROM layers l WHERE l.scope = w.scope), 0) <> w.expected) "
         "AND NOT EXISTS (SELECT 1 FROM settings WHERE key = ANY ($5::text[])) "
         "AND NOT EXISTS (SELECT 1 FROM moved WHERE COALESCE(now, 0) <> revision) "
         "RETURNING seq), "
         "r AS (INSERT INTO revisions (revision, scope, deleted, document, author, "
         "created_at_ms) SELECT $1::bigint + w.i, w.scope, FALSE, w.document, w.author, "
         "w.created_at_ms FROM w WHERE EXISTS (SELECT 1 FROM h) ORDER BY w.i), "
         "l AS (INSERT INTO layers (scope, revision) SELECT w.scope, $1::bigint + w.i FROM w "
         "WHERE EXISTS (SELECT 1 FROM h) "
         "ON CONFLICT (scope) DO UPDATE SET revision = excluded.revision), "
         "a AS (INSERT INTO audit (time_ms, principal, token_id, action, scope, revision, "
         "outcome, summary, hash) SELECT w.time_ms, w.principal, w.token_id, w.action, "
         "w.audit_scope, $1::bigint + w.i, w.outcome, w.summary, w.hash FROM w "
         "WHERE EXISTS (SELECT 1 FROM h) ORDER BY w.i) "
         "SELECT seq FROM h";
}

// The statement for `n` writes and its prepared name, made on first use.
const std::pair<std::string, std::string>& Fused(std::size_t n) {
  static std::array<std::pair<std::string, std::string>, kFusedMost + 1> statements;
  static std::array<std::once_flag, kFusedMost + 1> made;
  std::call_once(made[n], [n] {
    statements[n] = {"omni_layer_puts_" + std::to_string(n), FusedStatement(n)};
  });
  return statements[n];
}

// Above this many bytes of documents a batch runs write by write: one
// statement would carry them all in one message (and its copies).
constexpr std::size_t kFusedMostBytes = 1u << 20;

}  // namespace

bool LayerWritesFuse(const std::vector<const LayerWrite*>& writes) {
  if (writes.size() < 2 || writes.size() > kFusedMost) return false;
  std::vector<std::string_view> scopes;
  std::size_t bytes = 0;
  for (const LayerWrite* w : writes) {
    if (!w->document || w->scope.empty()) return false;
    if (w->expected_revision && *w->expected_revision < 0) return false;
    bytes += w->document->size();
    scopes.push_back(w->scope);
  }
  if (bytes > kFusedMostBytes) return false;
  std::sort(scopes.begin(), scopes.end());
  if (std::adjacent_find(scopes.begin(), scopes.end()) != scopes.end()) return false;
  for (const LayerWrite* w : writes) {
    for (const LayerWrite::CheckedLayer& checked : w->checked_layers) {
      if (checked.scope != w->scope &&
          std::binary_search(scopes.begin(), scopes.end(), std::string_view(checked.scope))) {
        return false;
      }
    }
  }
  return true;
}

Result<bool> ApplyLayerWritesAsOne(pqxx::transaction_base& txn, WriteCursor& at,
                                   const std::vector<const LayerWrite*>& writes) {
  if (!LayerWritesFuse(writes) || !at.audit_tip) {
    return Status(StatusCode::kInternal, "postgres store: these writes cannot be applied as one");
  }
  std::vector<std::string> settings;
  std::vector<std::string> params;
  params.reserve(writes.size() * kFusedPerWrite);
  const CheckedArrays checked = CheckedArraysOf(writes);
  std::string tip = *at.audit_tip;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    const LayerWrite& w = *writes[i];
    if (!w.refused_by_setting.empty()) settings.push_back(w.refused_by_setting);
    AuditEntry audit = w.audit;
    audit.revision = at.head + static_cast<std::int64_t>(i) + 1;
    tip = AuditChainHash(tip, audit);
    params.push_back(w.scope);
    params.push_back(*w.document);
    params.push_back(w.author);
    params.push_back(std::to_string(w.now_ms));
    params.push_back(std::to_string(w.expected_revision.value_or(-1)));
    params.push_back(std::to_string(audit.time_ms));
    params.push_back(audit.principal);
    params.push_back(audit.token_id);
    params.push_back(audit.action);
    params.push_back(audit.scope);
    params.push_back(audit.outcome);
    params.push_back(audit.summary);
    params.push_back(tip);
  }
  const auto& [name, sql] = Fused(writes.size());
  const pqxx::result rows =
      ExecPrepared(txn, name.c_str(), sql, at.head, at.seq, checked.scopes, checked.revisions,
                   TextArray(settings), pqxx::prepare::make_dynamic_params(params));
  if (rows.empty() || rows[0][0].is_null()) return false;
  at.head += static_cast<std::int64_t>(writes.size());
  at.seq = rows[0][0].as<std::int64_t>();
  at.audit_tip = std::move(tip);
  at.locked = true;
  return true;
}

Status ApplyRolloutPut(pqxx::transaction_base& txn, const RolloutRecord& r,
                       std::optional<std::int64_t> expected_generation, bool insert_only) {
  if (r.id.empty()) return Status(StatusCode::kInvalidArgument, "rollout needs an id");
  if (expected_generation || insert_only) {
    // FOR UPDATE: the generation checked is the one replaced, even when
    // another replica advances the same rollout concurrently.
    const pqxx::result stored = txn.exec_params(
        "SELECT generation, members_json <> '' FROM rollouts WHERE id = $1 "
        "FOR UPDATE",
        r.id);
    if (insert_only && !stored.empty()) {
      return Status(StatusCode::kConflict, "rollout " + Quoted(r.id) + " exists already");
    }
    if (expected_generation && stored.empty()) {
      return Status(StatusCode::kNotFound, "no rollout " + Quoted(r.id));
    }
    if (expected_generation) {
      const std::int64_t generation = stored[0][0].as<std::int64_t>();
      if (generation != *expected_generation) {
        return Status(StatusCode::kConflict, "rollout " + Quoted(r.id) + " is at generation " +
                                                 std::to_string(generation) + ", not " +
                                                 std::to_string(*expected_generation));
      }
      if (r.members_unchanged && !stored[0][1].as<bool>()) {
        return Status(
            StatusCode::kConflict,
            "rollout " + Quoted(r.id) + " has no members part stored to keep; write it whole");
      }
    }
  }
  if (expected_generation && r.members_unchanged) {
    // The row is locked at the expected generation (above): its members are
    // the writer's.
    txn.exec_params0(
        "UPDATE rollouts SET state_json = $2, updated_at_ms = $3, generation = $4 WHERE id = $1",
        r.id, r.state_json, r.updated_at_ms, r.generation);
    return Status::Ok();
  }
  // An insert racing another replica's insert of the same id fails with a
  // unique violation, which the pool reports as kConflict.
  txn.exec_params0(insert_only ? "INSERT INTO rollouts "
                                 "(id, state_json, updated_at_ms, generation, members_json) "
                                 "VALUES ($1, $2, $3, $4, $5)"
                               : "INSERT INTO rollouts "
                                 "(id, state_json, updated_at_ms, generation, members_json) "
                                 "VALUES ($1, $2, $3, $4, $5) "
                                 "ON CONFLICT (id) DO UPDATE SET state_json = excluded.state_json, "
                                 "updated_at_ms = excluded.updated_at_ms, "
                                 "generation = excluded.generation, "
                                 "members_json = excluded.members_json",
                   r.id, r.state_json, r.updated_at_ms, r.generation, r.members_json);
  return Status::Ok();
}

void InsertSnapshot(pqxx::transaction_base& txn, const SnapshotRecord& s) {
  txn.exec_params0(std::string("INSERT INTO snapshots (") + kSnapshotColumns +
                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (hash) DO NOTHING",
                   s.hash, pqxx::binarystring(s.snapshot), pqxx::binarystring(s.envelope),
                   s.version, s.scope_chain, s.created_at_ms, s.expires_at_ms, s.rollout);
}

Status InsertSnapshots(pqxx::transaction_base& txn,
                       const std::vector<std::shared_ptr<const SnapshotRecord>>& snapshots) {
  for (const auto& s : snapshots) {
    if (s->hash.empty()) return Status(StatusCode::kInvalidArgument, "snapshot needs a hash");
    InsertSnapshot(txn, *s);
  }
  return Status::Ok();
}

Result<SnapshotRecord> ApplyChainSnapshotPut(pqxx::work& txn, const SnapshotRecord& s,
                                             std::int64_t fresh_after_ms) {
  if (s.hash.empty() || !s.rollout.empty()) {
    return Status(StatusCode::kInvalidArgument, "a chain snapshot needs a hash and no rollout");
  }
  // The two-key form: its key space is apart from the migration's one-key lock.
  txn.exec_params("SELECT pg_advisory_xact_lock($1::int4, hashtext($2))", kChainSnapshotLockClass,
                  s.scope_chain);
  // READ COMMITTED: this statement sees what a replica that held the lock
  // before committed.
  const pqxx::result kept = txn.exec_params(
      std::string("SELECT ") + kSnapshotColumns +
          " FROM snapshots WHERE scope_chain = $1 AND version = $2 AND rollout = '' "
          "AND expires_at_ms > $3 ORDER BY expires_at_ms DESC LIMIT 1",
      s.scope_chain, s.version, fresh_after_ms);
  if (!kept.empty()) return ReadSnapshot(kept[0]);
  InsertSnapshot(txn, s);
  return s;
}

Result<SettingRecord> ApplySettingIfAbsent(pqxx::work& txn, std::string_view key,
                                           std::string_view value, std::int64_t now_ms,
                                           const AuditEntry& audit, bool* written) {
  if (key.empty()) return Status(StatusCode::kInvalidArgument, "a setting needs a key");
  *written = false;
  LockHead(txn);
  const std::string name(key);
  const pqxx::result stored =
      txn.exec_params("SELECT key, value, updated_at_ms FROM settings WHERE key = $1", name);
  if (!stored.empty())
    return SettingRecord{Text(stored[0][0]), Text(stored[0][1]), Int(stored[0][2])};
  txn.exec_params0("INSERT INTO settings (key, value, updated_at_ms) VALUES ($1, $2, $3)", name,
                   std::string(value), now_ms);
  InsertAudits(txn, {audit});
  *written = true;
  return SettingRecord{name, std::string(value), now_ms};
}

Status ApplyTokenCreate(pqxx::work& txn, const TokenRecord& t, const std::string& scopes,
                        const AuditEntry& audit) {
  LockHead(txn);  // it appends audit; also orders the name check
  const pqxx::result clash = txn.exec_params(
      "SELECT id = $1 FROM tokens WHERE id = $1 OR secret_hash = $2 LIMIT 1", t.id, t.secret_hash);
  if (!clash.empty()) {
    return Status(StatusCode::kConflict, clash[0][0].as<bool>()
                                             ? "token " + Quoted(t.id) + " already exists"
                                             : "a token with this secret already exists");
  }
  // A name names one live token: revoked ones free it.
  const pqxx::result named = txn.exec_params(
      "SELECT id FROM tokens WHERE name = $1 AND revoked_at_ms = 0 ORDER BY id LIMIT 1", t.name);
  if (!named.empty()) {
    return Status(StatusCode::kConflict,
                  "a token named " + Quoted(t.name) + " already exists (id " +
                      named[0][0].as<std::string>() + "); revoke it first or choose another name");
  }
  txn.exec_params0(
      std::string("INSERT INTO tokens (") + kTokenColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7)",
      t.id, t.secret_hash, t.name, scopes, t.created_at_ms, t.expires_at_ms, t.revoked_at_ms);
  InsertAudits(txn, {audit});
  return Status::Ok();
}

}  // namespace omnirelay::cp::pg
