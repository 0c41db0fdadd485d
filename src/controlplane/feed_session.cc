#include "feed_session.h"

#include <utility>

namespace omnirelay::cp {

FeedSession::FeedSession(std::shared_ptr<FeedConnection> connection, std::string bearer_token)
    : connection_(std::move(connection)), token_(std::move(bearer_token)) {}

std::shared_ptr<FeedConnection> FeedSession::connection() const {
  MutexLock lock(mu_);
  return connection_;
}

std::string FeedSession::TakeToken() {
  MutexLock lock(mu_);
  std::string token = std::move(token_);
  token_.clear();
  token_.shrink_to_fit();
  return token;
}

void FeedSession::SetIdentity(Identity identity) {
  MutexLock lock(mu_);
  identity_ = std::move(identity);
}

FeedSession::Identity FeedSession::identity() const {
  MutexLock lock(mu_);
  return identity_;
}

std::shared_ptr<NodeState> FeedSession::state() const {
  MutexLock lock(mu_);
  return identity_.state;
}

std::shared_ptr<ChainGroup> FeedSession::group() const {
  MutexLock lock(mu_);
  return identity_.group.lock();
}

void FeedSession::SetReported(std::int64_t version, std::string hash) {
  MutexLock lock(mu_);
  if (assigned_) return;
  assigned_ = true;
  assigned_version_ = version;
  assigned_hash_ = std::move(hash);
}

FeedSession::Offered FeedSession::Offer(const std::shared_ptr<const Assignment>& assignment,
                                        const std::function<void()>& accepted) {
  std::shared_ptr<FeedConnection> connection;
  {
    MutexLock lock(mu_);
    if (closed_ || closing_) return Offered::kRefused;
    if (assigned_ &&
        (assigned_hash_ == assignment->hash || assignment->version < assigned_version_)) {
      return Offered::kRefused;
    }
    assigned_ = true;
    assigned_version_ = assignment->version;
    assigned_hash_ = assignment->hash;
    offered_.emplace_back(assignment->version, assignment->hash);
    if (offered_.size() > kRemembered) offered_.pop_front();
    last_offered_ = assignment;
    resent_ = false;
    if (accepted) accepted();
    if (writing_) {
      waiting_ = assignment;  // replaces an older one not yet handed over
      return Offered::kQueued;
    }
    writing_ = true;
    connection = connection_;
  }
  connection->Notify(assignment);
  return Offered::kSent;
}

bool FeedSession::WasAssigned(std::int64_t version, std::string_view hash) const {
  MutexLock lock(mu_);
  for (const auto& [v, h] : offered_) {
    if (v == version && h == hash) return true;
  }
  return false;
}

bool FeedSession::Resend() {
  std::shared_ptr<FeedConnection> connection;
  std::shared_ptr<const Assignment> again;
  {
    MutexLock lock(mu_);
    if (closed_ || closing_ || writing_ || resent_ || !last_offered_) return false;
    if (last_offered_->version == refused_version_ && last_offered_->hash == refused_hash_) {
      return false;  // the same bytes would be refused again
    }
    resent_ = true;
    writing_ = true;
    again = last_offered_;
    connection = connection_;
  }
  connection->Notify(std::move(again));
  return true;
}

void FeedSession::MarkRefused(std::int64_t version, std::string hash) {
  MutexLock lock(mu_);
  refused_version_ = version;
  refused_hash_ = std::move(hash);
}

bool FeedSession::Written() {
  std::shared_ptr<FeedConnection> connection;
  std::shared_ptr<const Assignment> next;
  {
    MutexLock lock(mu_);
    writing_ = false;
    if (closed_ || closing_ || !waiting_) return false;
    next = std::move(waiting_);
    waiting_.reset();
    writing_ = true;
    connection = connection_;
  }
  connection->Notify(std::move(next));
  return true;
}

void FeedSession::MarkClosing() {
  MutexLock lock(mu_);
  closing_ = true;
  waiting_.reset();
}

void FeedSession::Close() {
  std::shared_ptr<FeedConnection> connection;
  MutexLock lock(mu_);
  closed_ = true;
  waiting_.reset();
  connection = std::move(connection_);  // released after the lock (declared first)
  connection_.reset();
}

bool FeedSession::closed() const {
  MutexLock lock(mu_);
  return closed_;
}

}  // namespace omnirelay::cp
