// `config revert` (ControlPlaneService::RevertLayer) and the freeze switch
// (GetFreeze, SetFreeze, CheckNotFrozen): what an operator reaches for in an
// incident.
#include <string>

#include "audit_log.h"
#include "freeze_switch.h"
#include "omnirelay/config/rfc3339.h"
#include "omnirelay/config/scope.h"
#include "service_read.h"

namespace omnirelay::cp {
namespace {

// Revision `revision` of `scope`; kNotFound naming what it is otherwise: a
// revision of another scope, or one the store does not have yet.
Result<RevisionRecord> RevisionOfScope(Store& store, const std::string& scope,
                                       std::int64_t revision) {
  OMNI_ASSIGN_OR_RETURN(std::vector<RevisionRecord> at, store.History(scope, revision + 1, 1));
  if (!at.empty() && at.front().revision == revision) return std::move(at.front());
  std::string why = "revision " + std::to_string(revision) + " is not a revision of " + scope;
  OMNI_ASSIGN_OR_RETURN(std::vector<RevisionRecord> other, store.RevisionsSince(revision - 1, 1));
  if (!other.empty() && other.front().revision == revision) {
    why += " (it wrote " + other.front().scope + ")";
  } else {
    OMNI_ASSIGN_OR_RETURN(std::int64_t head, store.HeadRevision());
    why += " (the newest revision is " + std::to_string(head) + ")";
  }
  return Status(StatusCode::kNotFound,
                why + "; `config history --scope " + scope + "` lists its revisions");
}

}  // namespace

Result<WriteOutcome> ControlPlaneService::RevertLayer(const Principal& who,
                                                      const std::string& scope,
                                                      std::int64_t to_revision,
                                                      const std::string& reason,
                                                      std::optional<std::int64_t> expected_revision,
                                                      bool dry_run, bool confirm) {
  WriteMode mode{"layer.revert", /*frozen_refuses=*/false,
                 "revert to revision " + std::to_string(to_revision)};
  auto refuse = [&](Status why) -> Status {
    AuditEntry e = Entry(who, dry_run ? mode.action + ".dry_run" : mode.action, scope);
    e.outcome = Outcome(why);
    e.summary = (mode.note + ": " + why.message()).substr(0, 200);
    audit_->RecordNow(std::move(e));
    return why;
  };
  if (Status denied = Require(who, kScopeConfigWrite); !denied.ok()) return refuse(denied);
  if (auto parsed = ParseScope(scope); !parsed.ok()) return refuse(parsed.status());
  if (to_revision < 1) {
    return refuse(
        Status(StatusCode::kInvalidArgument,
               "the revision to revert to must be 1 or more, got " + std::to_string(to_revision)));
  }
  auto target = RevisionOfScope(store_, scope, to_revision);
  if (!target.ok()) return refuse(target.status());
  auto current = store_.GetLayer(scope);
  if (!current.ok() && current.status().code() != StatusCode::kNotFound) {
    return refuse(current.status());
  }
  if (target->deleted && !current.ok()) {
    // As a delete of a layer that is not there.
    return refuse(Status(StatusCode::kNotFound, "scope \"" + scope +
                                                    "\" has no layer, as revision " +
                                                    std::to_string(to_revision) +
                                                    " (a delete) left it: nothing to revert"));
  }
  mode.note += current.ok() ? " from revision " + std::to_string(current->revision) : " (no layer)";
  if (target->deleted) mode.note += ", a delete";
  if (!reason.empty()) mode.note += ": " + reason;
  mode.note += "; ";
  // Back to content the scope already had: the change limit does not hold
  // up an incident's fix (a large revert is audited as allowed).
  mode.allow_large_change = true;
  std::optional<std::string> document;
  if (!target->deleted) document = std::move(target->document);
  return Write(who, scope, document, expected_revision, dry_run, confirm,
               /*allow_unknown_node=*/false, mode);
}

Result<api::FreezeState> ControlPlaneService::GetFreeze(const Principal& who) {
  return ReadAudited(
      who, kScopeConfigRead, "freeze.get", "", [&] { return freeze_->Current(); }, kNoRevision);
}

Result<api::FreezeState> ControlPlaneService::SetFreeze(const Principal& who, bool frozen,
                                                        const std::string& reason) {
  AuditEntry audit = Entry(who, frozen ? "freeze.set" : "freeze.clear", "");
  auto refuse = [&](Status why) { return Refuse(audit, std::move(why)); };
  if (Status denied = Require(who, kScopeRolloutWrite); !denied.ok()) return refuse(denied);
  if (frozen && reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    return refuse(Status(StatusCode::kInvalidArgument,
                         "a freeze needs a reason (whoever meets the refusal reads it)"));
  }
  auto current = freeze_->Current();
  if (!current.ok()) return refuse(current.status());
  const std::int64_t now = clock_.NowUnixMs();
  api::FreezeState next;
  if (frozen) {
    next.frozen = true;
    next.reason = reason;
    next.by = who.name;
    next.since_ms = current->frozen ? current->since_ms : now;
    audit.summary = (current->frozen ? "still frozen, reason now: " : "frozen: ") + reason;
  } else if (current->frozen) {
    audit.summary = "unfrozen (frozen by " + current->by + " since " +
                    FormatRfc3339Ms(current->since_ms) + ": " + current->reason + ")";
  } else {
    audit.summary = "not frozen (no change)";
  }
  audit.summary = audit.summary.substr(0, 200);
  audit.outcome = "ok";
  if (Status set = freeze_->Set(next, now, audit); !set.ok()) return refuse(set);
  return next;
}

Status ControlPlaneService::CheckNotFrozen() const {
  return FreezeSwitch::Refusal(freeze_->Recent(), "a new rollout");
}

}  // namespace omnirelay::cp
