#include "feed_admission.h"

#include <algorithm>

#include "feed_session.h"

namespace omnirelay::cp {
namespace {

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

}  // namespace

FeedAdmission::FeedAdmission(const Authenticator& auth, AuditFn audit_refusal)
    : auth_(auth), audit_refusal_(std::move(audit_refusal)) {}

Result<std::vector<Scope>> FeedAdmission::Check(std::string_view bearer_token,
                                                const HelloMsg& hello, Principal& who) const {
  const std::string& id = hello.node_id;
  auto principal = auth_.Authenticate(bearer_token);
  if (!principal.ok()) {
    if (audit_refusal_) audit_refusal_("", "node.hello", "node:" + id, principal.status());
    return principal.status();
  }
  who = *principal;
  // Only a node token bound to this id (or an admin token) speaks for a node.
  if (who.node_id() != id && !who.Has(kScopeAdmin)) {
    Status denied(StatusCode::kPermissionDenied,
                  "token \"" + who.token_id + "\" may not speak for node \"" + id +
                      "\": a node token named node:" + id + " (or an admin token) is needed");
    if (audit_refusal_) audit_refusal_(who.name, "node.hello", "node:" + id, denied);
    return denied;
  }
  if (!IsValidNodeId(id)) {
    return Status(StatusCode::kInvalidArgument, "invalid node id \"" + id + "\"");
  }
  // Logged and shown in node status: short and printable.
  constexpr std::size_t kMaxInstanceId = 64;
  const std::string& instance = hello.instance_id;
  if (instance.size() > kMaxInstanceId ||
      !std::all_of(instance.begin(), instance.end(), [](char c) { return c > ' ' && c < 127; })) {
    return Status(StatusCode::kInvalidArgument,
                  "invalid instance id (at most 64 printable ASCII characters)");
  }
  auto chain = ParseScopeChain(Join(hello.scope_chain));
  if (!chain.ok()) return chain.status();
  if (chain->empty()) return Status(StatusCode::kInvalidArgument, "the scope chain is empty");
  for (const Scope& scope : *chain) {
    if (scope.level == ScopeLevel::kNode && scope.name != id) {
      return Status(StatusCode::kInvalidArgument,
                    "node \"" + id + "\" may not use the scope " + scope.ToString());
    }
  }
  return chain;
}

bool FeedAdmission::Open(const std::shared_ptr<FeedSession>& session) {
  MutexLock lock(mu_);
  if (stopping_) return false;
  sessions_.emplace(session, Token{});
  return true;
}

Status FeedAdmission::Enter(const std::shared_ptr<FeedSession>& session, const Principal& who) {
  MutexLock lock(mu_);
  if (revoked_.count(who.token_id) != 0) {
    // Revoked between Check and now: Unauthorized did not see this session yet.
    return Status(StatusCode::kUnauthenticated, "token " + who.token_id + " was revoked");
  }
  auto it = sessions_.find(session);
  if (stopping_ || it == sessions_.end()) {
    return Status(StatusCode::kUnavailable, "shutting down");
  }
  it->second = Token{who.token_id, who.expires_at_ms};
  return Status::Ok();
}

void FeedAdmission::Remove(const std::shared_ptr<FeedSession>& session) {
  MutexLock lock(mu_);
  sessions_.erase(session);
}

FeedAdmission::Doomed FeedAdmission::Unauthorized(const std::vector<std::string>& revoked,
                                                  std::int64_t now_ms) {
  Doomed doomed;
  MutexLock lock(mu_);
  revoked_.insert(revoked.begin(), revoked.end());
  for (const auto& [session, token] : sessions_) {
    if (token.id.empty()) continue;  // hello not admitted yet
    if (std::find(revoked.begin(), revoked.end(), token.id) != revoked.end()) {
      doomed.emplace_back(
          session, Status(StatusCode::kUnauthenticated, "token " + token.id + " was revoked"));
    } else if (token.expires_at_ms != 0 && token.expires_at_ms <= now_ms) {
      doomed.emplace_back(
          session, Status(StatusCode::kUnauthenticated, "token " + token.id + " has expired"));
    }
  }
  return doomed;
}

std::vector<std::shared_ptr<FeedSession>> FeedAdmission::StopAll() {
  std::vector<std::shared_ptr<FeedSession>> out;
  MutexLock lock(mu_);
  stopping_ = true;
  out.reserve(sessions_.size());
  for (const auto& [session, token] : sessions_) out.push_back(session);
  return out;
}

bool FeedAdmission::stopping() const {
  MutexLock lock(mu_);
  return stopping_;
}

}  // namespace omnirelay::cp
