#include "audit_chain.h"

#include "omnirelay/config/digest.h"

namespace omnirelay::cp {
namespace {

void Field(std::string& out, std::string_view value) {
  out += std::to_string(value.size());
  out += ':';
  out += value;
}

}  // namespace

std::string AuditChainHash(std::string_view previous, const api::AuditEntry& e) {
  std::string bytes;
  bytes.reserve(96 + e.principal.size() + e.action.size() + e.scope.size() + e.summary.size());
  Field(bytes, previous);
  Field(bytes, std::to_string(e.time_ms));
  Field(bytes, e.principal);
  Field(bytes, e.token_id);
  Field(bytes, e.action);
  Field(bytes, e.scope);
  Field(bytes, std::to_string(e.revision));
  Field(bytes, e.outcome);
  Field(bytes, e.summary);
  return Sha256Hex(bytes);
}

void AuditChainCheck::StartAfter(std::int64_t anchor_id, const std::string& anchor_hash) {
  report_.anchor_id = anchor_id;
  report_.anchor_hash = anchor_hash;
  chained_ = !anchor_hash.empty();
  previous_ = anchor_hash;
}

void AuditChainCheck::Add(const api::AuditEntry& e, const std::optional<std::string>& stored) {
  api::AuditChainReport& r = report_;
  ++r.entries;
  if (!stored && !chained_) {  // contract 2: written before the chain existed
    ++r.before_chain;
    return;
  }
  if (r.break_id == 0) {
    if (!stored) {
      r.break_id = e.id;
      r.break_reason = "no hash: written into the store by hand, not through the control plane";
    } else if (*stored != AuditChainHash(chained_ ? previous_ : "", e)) {
      r.break_id = e.id;
      r.break_reason =
          "hash mismatch: this entry was changed, or an entry just before it was removed or "
          "inserted by hand";
    }
  }
  chained_ = true;
  if (stored) previous_ = *stored;
  r.head_id = e.id;
  r.head_hash = stored ? *stored : "";
  r.ok = r.break_id == 0;
}

}  // namespace omnirelay::cp
