// Row codecs and shared write steps of the Postgres store (store_postgres.cc):
// how each record maps to its table's columns, and the statements more than
// one Store method runs inside its transaction. Each SELECT lists its
// columns with the k*Columns constant of its record, in that order.
//
// Thread safety: stateless functions; a transaction belongs to one thread.
#pragma once

#include <cstdint>
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
#include "store_rows_common.h"

namespace omnirelay::cp::pg {

using store_rows::kNodeColumns;
using store_rows::kNodeUpsertClause;
using store_rows::kRevisionColumns;
using store_rows::kSnapshotColumns;
using store_rows::kTokenColumns;
using store_rows::LayerFromRevision;
using store_rows::Quoted;

inline constexpr char kAuditColumns[] =
    "id, time_ms, principal, token_id, action, scope, revision, outcome, summary";
inline constexpr char kRolloutColumns[] = "id, state_json, updated_at_ms, generation, members_json";
// kRevisionColumns for `revisions r` joined with `layers l`.
inline constexpr char kQualifiedRevisionColumns[] =
    "r.revision, r.scope, r.deleted, COALESCE(r.document, ''), r.author, r.created_at_ms";

// A text[] literal of `values` ({"a","b"}), quoted for the array parser:
// one parameter for `= ANY ($1::text[])`.
std::string TextArray(const std::vector<std::string>& values);

// Every row of `rows` through `read`, which returns a record or a Result of one.
template <typename T, typename Read>
Result<std::vector<T>> Decode(const pqxx::result& rows, Read&& read) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const pqxx::row& row : rows) {
    auto record = read(row);
    if constexpr (std::is_same_v<decltype(record), T>) {
      out.push_back(std::move(record));
    } else {
      if (!record.ok()) return record.status();
      out.push_back(std::move(*record));
    }
  }
  return out;
}

// The first row through `read`; kNotFound with `not_found` when there is none.
template <typename T, typename Read>
Result<T> First(const pqxx::result& rows, Read&& read, std::string not_found) {
  if (rows.empty()) return Status(StatusCode::kNotFound, std::move(not_found));
  auto record = read(rows[0]);
  if constexpr (std::is_same_v<decltype(record), T>) {
    return record;
  } else {
    if (!record.ok()) return record.status();
    return std::move(*record);
  }
}

using store_rows::EncodeStrings;
inline Result<std::vector<std::string>> DecodeStrings(const std::string& text,
                                                      std::string_view what) {
  return store_rows::DecodeStrings(text, what, "postgres store");
}

RevisionRecord ReadRevision(const pqxx::row& row);
LayerRecord ReadLayer(const pqxx::row& row);  // a row of k(Qualified)RevisionColumns
SnapshotRecord ReadSnapshot(const pqxx::row& row);
Result<NodeRecord> ReadNode(const pqxx::row& row);
Result<TokenRecord> ReadToken(const pqxx::row& row);
AuditEntry ReadAudit(const pqxx::row& row);
RolloutRecord ReadRollout(const pqxx::row& row);

// Where the store's write lock stands: the head revision and store_head.seq,
// which every holder of the lock advances by one.
struct Head {
  std::int64_t revision = 0;
  std::int64_t seq = 0;
};

// Takes the store's write lock (the store_head row) and returns where it
// stands, seq already advanced: an UPDATE rather than SELECT ... FOR UPDATE,
// so that a writer which checks seq without the lock (ApplyLayerWrite on a
// cursor known from an earlier commit) finds it moved. Every transaction
// that assigns revisions or appends audit entries calls this, or writes
// through ApplyLayerWrite or ApplyLayerWritesAsOne, first.
Head LockHead(pqxx::transaction_base& txn);

// Appends audit entries, extending the chain (audit_chain.h) from the
// newest stored hash. Requires LockHead in this transaction.
void InsertAudits(pqxx::transaction_base& txn, const std::vector<AuditEntry>& entries);

// Where a layer-writing transaction is: the head revision, store_head.seq,
// the newest audit hash (what the next entry chains from), and whether the
// transaction holds the write lock. A cursor not yet locked is what this
// process saw at its last commit (WriteBatcher keeps it): a write on it is
// applied only if seq is still that, which proves nobody took the lock
// since, so head and audit tip are still right. Layer writes advance it; a
// caller that rolls back a write (to a savepoint) restores it.
struct WriteCursor {
  std::int64_t head = 0;
  std::int64_t seq = 0;
  std::optional<std::string> audit_tip;  // unknown until read (or known from a commit)
  bool locked = false;
  // The statements run in autocommit (no transaction around them), so the
  // lock cannot be taken and held: a layer write that is not applied on the
  // unlocked cursor changes nothing and sets `needs_lock` instead, for the
  // caller to run it again in a transaction.
  bool autocommit = false;
  bool needs_lock = false;
};

// Takes the lock for `at` (LockHead): head and seq from the row; the audit
// tip kept when seq shows nobody held the lock since `at` was current, else
// read (a statement of its own after the lock's: READ COMMITTED, so it sees
// what the lock's previous holder committed).
void LockCursor(pqxx::transaction_base& txn, WriteCursor& at);

// One layer put or delete with revision `at.head + 1`: CAS, the freeze
// setting, the checked layers (LayerWrite::checked_layers), the revision
// row, the layer row, its audit entry and store_head in one prepared
// statement, applied only when store_head.seq is `at.seq`. On a cursor not
// yet locked that statement is the whole write: when it is not applied
// (someone else wrote since, or the write is refused) the lock is taken
// (LockCursor) and it runs again, and a refusal under the lock is the
// answer (on an autocommit cursor: `needs_lock`, and an error). A refused
// write changes nothing. Advances `at` (then locked).
Result<std::int64_t> ApplyLayerWrite(pqxx::transaction_base& txn, WriteCursor& at,
                                     const LayerWrite& w);

// Several layer puts as one statement, for a batch of writes that queue
// together (WriteBatcher): revisions `at.head + 1` .. `at.head + n` in the
// order given, each write's CAS, refusing setting and checked layers, every
// revision row, layer row and audit entry (chained in that order) and
// store_head, applied only when store_head.seq is `at.seq` and every write
// would be applied; otherwise nothing is (false), and the caller runs them
// one by one (ApplyLayerWrite), which says which one refuses and why. Only
// for writes that LayerWritesFuse; `at` must know its audit tip. On success
// advances `at` (locked) and returns true.
Result<bool> ApplyLayerWritesAsOne(pqxx::transaction_base& txn, WriteCursor& at,
                                   const std::vector<const LayerWrite*>& writes);

// Whether `writes` may be applied by ApplyLayerWritesAsOne: two to
// kMostLayerWritesAsOne, all puts (a batch with a delete runs write by
// write), their documents 1 MiB at most together, no two to one scope, and
// none validated with (LayerWrite::checked_layers) a scope another of them
// writes — one after the other, such a write would find that layer moved
// and be planned again, which one statement reading the state before them
// all cannot see (stricter than needed when the other one comes later).
inline constexpr std::size_t kMostLayerWritesAsOne = 64;
bool LayerWritesFuse(const std::vector<const LayerWrite*>& writes);

// Runs the statement `sql` prepared on this connection under `name` (libpqxx
// prepares it on the server on its first use there). Postgres plans a
// prepared statement once for all parameters from its sixth run on, with
// the table sizes of that moment, until an ANALYZE of a table it reads: a
// statement whose good plan depends on a table having grown (a join into
// `revisions`, say) must stay unprepared (benchmarks.md, "A layer write as
// one statement").
template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& txn, const char* name, const std::string& sql,
                          Args&&... args) {
  txn.conn().prepare(name, sql);  // a repeat with the same text is a lookup
  return txn.exec_prepared(name, std::forward<Args>(args)...);
}

// Store::GetLayers: the current layers of `scopes` that have one, in scope
// order, read in one statement (one state). Up to five scopes (a write's
// chain: global, region, cell, cluster, node) it is prepared, five arms of
// two primary-key lookups each, whose generic plan is an index scan
// whatever the tables' sizes when it was made; more scopes are read with a
// join that is not prepared (its generic plan, made while `revisions` is
// small, would scan it whole).
Result<std::vector<LayerRecord>> ReadCurrentLayers(pqxx::transaction_base& txn,
                                                   std::vector<std::string> scopes);

// Store::PutRollout's statements; `insert_only` refuses an existing id.
Status ApplyRolloutPut(pqxx::transaction_base& txn, const RolloutRecord& r,
                       std::optional<std::int64_t> expected_generation, bool insert_only);

// Store::PutSnapshot's statement: a hash stored already is left as it is.
void InsertSnapshot(pqxx::transaction_base& txn, const SnapshotRecord& s);
// The same for each of a change set's snapshots (RolloutRecord::snapshots);
// kInvalidArgument for one without a hash, as the SQLite adapter.
Status InsertSnapshots(pqxx::transaction_base& txn,
                       const std::vector<std::shared_ptr<const SnapshotRecord>>& snapshots);

// Store::PutChainSnapshot: under a transaction-scoped advisory lock on the
// chain (so replicas storing one chain take turns), the fresh snapshot of
// the chain and version already stored, else `s` inserted.
Result<SnapshotRecord> ApplyChainSnapshotPut(pqxx::work& txn, const SnapshotRecord& s,
                                             std::int64_t fresh_after_ms);

// Store::PutSettingIfAbsent: the stored value, else `value` written with
// its audit entry (`*written` says which). Takes LockHead (the audit chain)
// first: a caller that wrote nothing rolls back rather than commit the
// lock's advance of store_head.seq.
Result<SettingRecord> ApplySettingIfAbsent(pqxx::work& txn, std::string_view key,
                                           std::string_view value, std::int64_t now_ms,
                                           const AuditEntry& audit, bool* written);

// Store::CreateToken's statements (LockHead first: it appends audit and
// orders the name check); `scopes` encoded.
Status ApplyTokenCreate(pqxx::work& txn, const TokenRecord& t, const std::string& scopes,
                        const AuditEntry& audit);

}  // namespace omnirelay::cp::pg
