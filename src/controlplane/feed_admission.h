// Internal: the node feed's gate (node_feed.h, contract 1 and 2). Checks a
// hello's token and chain, keeps every open session with the token it was
// admitted with, and names the sessions to end when tokens are revoked or
// expire.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/controlplane/auth.h"
#include "omnirelay/controlplane/node_feed.h"

namespace omnirelay::cp {

class FeedAdmission {
 public:
  using AuditFn =
      std::function<void(std::string_view, std::string_view, std::string_view, const Status&)>;
  FeedAdmission(const Authenticator& auth, AuditFn audit_refusal);

  // Authenticates `bearer_token` for `hello` and parses its chain.
  Result<std::vector<Scope>> Check(std::string_view bearer_token, const HelloMsg& hello,
                                   Principal& who) const;
  // Whether `bearer_token`, refused by Check, is the node's own token (named
  // node:<node_id>, revoked or expired): then the refusal is the node's to see.
  bool IsOwnToken(std::string_view bearer_token, const std::string& node_id) const {
    return auth_.NameOf(bearer_token) == "node:" + node_id;
  }

  // A new stream; false once stopping.
  bool Open(const std::shared_ptr<FeedSession>& session) EXCLUDES(mu_);
  // Records the token an admitted session speaks with. Fails (the reason to
  // close it with) when the token was revoked meanwhile, or the session is
  // gone or the feed stopping.
  Status Enter(const std::shared_ptr<FeedSession>& session, const Principal& who) EXCLUDES(mu_);
  void Remove(const std::shared_ptr<FeedSession>& session) EXCLUDES(mu_);

  using Doomed = std::vector<std::pair<std::shared_ptr<FeedSession>, Status>>;
  // The sessions admitted with a token in `revoked` or expired at `now_ms`;
  // revoked ids are remembered so that a hello in flight cannot enter.
  Doomed Unauthorized(const std::vector<std::string>& revoked, std::int64_t now_ms) EXCLUDES(mu_);
  // Stops admitting; every open session.
  std::vector<std::shared_ptr<FeedSession>> StopAll() EXCLUDES(mu_);
  bool stopping() const EXCLUDES(mu_);

 private:
  struct Token {
    std::string id;                  // empty until the hello is admitted
    std::int64_t expires_at_ms = 0;  // 0 = never
  };

  const Authenticator& auth_;
  const AuditFn audit_refusal_;

  mutable Mutex mu_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::unordered_map<std::shared_ptr<FeedSession>, Token> sessions_ GUARDED_BY(mu_);
  std::unordered_set<std::string> revoked_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp
