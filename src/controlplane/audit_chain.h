// The audit chain (docs/knowledge-base/security.md, "Audit integrity"): every
// audit entry the store appends carries a hash over the previous entry's hash
// and its own fields, so an entry edited, inserted or removed by hand — with
// an SQL client on the data dir, not through the API — breaks the chain at
// the first entry after the change, and VerifyAuditChain names it.
//
// Contract:
//  1. AuditChainHash(previous, e) = Sha256Hex of previous (the previous
//     entry's hash, "" for the first entry of the chain) and e's fields
//     time_ms, principal, token_id, action, scope, revision, outcome,
//     summary, each length-prefixed (not the id: the store assigns it).
//  2. AuditChainCheck is fed the stored entries in id order, each with the
//     hash stored beside it (nullopt: none). Entries without a hash before
//     the first with one were written before the chain existed (a store
//     migrated from an older version): counted, not breaks. After that an
//     entry without a hash, or whose hash is not AuditChainHash(the previous
//     stored hash, its fields), is the first break; later entries are
//     counted but not judged.
//  3. Retention prunes a prefix of the chain (Store::PruneAudit) and keeps
//     an anchor: the id and hash of the newest entry it removed. A check
//     started from it (StartAfter) judges the first remaining entry against
//     the anchor's hash, as if the pruned entries were still there; removing
//     the entry just after the anchor by hand still breaks the chain.
//  4. A chain only shows what changed *inside* it: removing the newest
//     entries leaves a shorter valid chain, and whoever can write the store
//     can recompute every hash after an edit. Comparing the head (id and
//     hash) with one recorded elsewhere catches both.
//
// Thread safety: AuditChainHash is a pure function; an AuditChainCheck is
// used by one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "omnirelay/api/types.h"

namespace omnirelay::cp {

std::string AuditChainHash(std::string_view previous, const api::AuditEntry& e);

class AuditChainCheck {
 public:
  // Contract 3: the walk continues a chain whose entries up to `anchor_id`
  // were pruned; call before the first Add. An empty `anchor_hash` (the
  // last pruned entry predates the chain) starts nothing.
  void StartAfter(std::int64_t anchor_id, const std::string& anchor_hash);
  void Add(const api::AuditEntry& e, const std::optional<std::string>& stored_hash);
  const api::AuditChainReport& report() const { return report_; }

 private:
  api::AuditChainReport report_;
  bool chained_ = false;  // an entry with a hash was seen
  std::string previous_;  // the last stored hash
};

}  // namespace omnirelay::cp
