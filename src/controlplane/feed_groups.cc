#include "feed_groups.h"

#include <algorithm>
#include <utility>

#include "feed_session.h"

namespace omnirelay::cp {
namespace {

std::vector<std::string> ScopeNames(const std::vector<Scope>& chain) {
  std::vector<std::string> out;
  out.reserve(chain.size());
  for (const auto& s : chain) out.push_back(s.ToString());
  return out;
}

}  // namespace

ChainGroup::ChainGroup(std::vector<Scope> c, std::string k)
    : chain(std::move(c)), key(std::move(k)), scopes(ScopeNames(chain)) {}

std::vector<std::shared_ptr<FeedSession>> ChainGroup::Members() const {
  MutexLock lock(mu_);
  return members_;
}

std::size_t ChainGroup::size() const {
  MutexLock lock(mu_);
  return members_.size();
}

bool ChainGroup::StartLoading() {
  MutexLock lock(mu_);
  if (loaded_ || loading_) return false;
  loading_ = true;
  return true;
}

bool ChainGroup::IsNewer(std::int64_t version, const std::string& hash,
                         std::int64_t expires_at_ms) const {
  MutexLock lock(mu_);
  const auto& cur = current_;
  return !cur || version > cur->version ||
         (version == cur->version && hash != cur->hash && expires_at_ms > cur->expires_at_ms);
}

bool ChainGroup::Advance(const std::shared_ptr<const Assignment>& assignment) {
  MutexLock lock(mu_);
  loading_ = false;
  loaded_ = true;  // a failed render is retried by the next event or refresh
  if (!assignment) return false;
  if (current_ && (current_->version > assignment->version || current_->hash == assignment->hash)) {
    return false;
  }
  current_ = assignment;
  return true;
}

std::shared_ptr<const Assignment> ChainGroup::current() const {
  MutexLock lock(mu_);
  return current_;
}

std::shared_ptr<const Assignment> ChainGroup::AssignmentOf(
    const std::shared_ptr<const SnapshotRecord>& snapshot) const {
  MutexLock lock(mu_);
  if (current_ && current_->snapshot == snapshot) return current_;
  for (const auto& kept : kept_) {
    if (kept->snapshot == snapshot) return kept;
  }
  auto made = std::make_shared<const Assignment>(snapshot->version, snapshot->hash,
                                                 snapshot->expires_at_ms, snapshot);
  kept_.push_back(made);
  if (kept_.size() > kKeptAssignments) kept_.pop_front();
  return made;
}

bool ChainGroup::SetProblem(std::shared_ptr<const ProblemMsg> problem) {
  MutexLock lock(mu_);
  const bool same = (problem_ == nullptr && problem == nullptr) ||
                    (problem_ != nullptr && problem != nullptr &&
                     problem_->message == problem->message && problem_->path == problem->path);
  problem_ = std::move(problem);
  return !same;
}

std::shared_ptr<const ProblemMsg> ChainGroup::problem() const {
  MutexLock lock(mu_);
  return problem_;
}

void ChainGroup::Add(const std::shared_ptr<FeedSession>& session) {
  MutexLock lock(mu_);
  index_[session.get()] = members_.size();
  members_.push_back(session);
}

bool ChainGroup::Remove(const FeedSession* session) {
  MutexLock lock(mu_);
  auto it = index_.find(session);
  if (it != index_.end()) {
    const std::size_t i = it->second;
    index_.erase(it);
    if (i + 1 != members_.size()) {  // swap-remove: move the last member into the hole
      members_[i] = std::move(members_.back());
      index_[members_[i].get()] = i;
    }
    members_.pop_back();
  }
  return members_.empty();
}

std::shared_ptr<NodeState> FeedGroups::StateOf(const std::string& node_id) const {
  MutexLock lock(mu_);
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : it->second.state;
}

FeedGroups::Joined FeedGroups::Join(const std::shared_ptr<FeedSession>& session,
                                    const std::string& node_id, const std::string& instance_id,
                                    const std::vector<Scope>& chain, const std::string& key,
                                    std::shared_ptr<NodeState> state, bool reads_rollout) {
  Joined out;
  MutexLock lock(mu_);
  // Checked under mu_: OnClosed closes the session before it calls Leave, so
  // either this sees it closed or Leave sees it joined.
  if (session->closed()) return out;
  if (auto it = nodes_.find(node_id);
      it != nodes_.end() && !instance_id.empty() && it->second.session.lock() &&
      std::find(it->second.superseded.begin(), it->second.superseded.end(), instance_id) !=
          it->second.superseded.end()) {
    out.stale = true;  // the newest instance wins, and stays
    out.other_instance = it->second.instance_id;
    return out;
  }
  Node& node = nodes_[node_id];
  if (node.state) state = node.state;  // another hello of this node won the race
  node.state = state;
  out.replaced = node.session.lock();
  out.first = !out.replaced;
  if (out.replaced) {
    out.other_instance = node.instance_id;
    out.superseded =
        !instance_id.empty() && !node.instance_id.empty() && instance_id != node.instance_id;
    if (out.superseded) {
      node.superseded.push_back(node.instance_id);
      if (node.superseded.size() > kRememberedInstances) node.superseded.pop_front();
    }
  }
  node.session = session;
  node.instance_id = instance_id;

  auto& slot = groups_[key];
  if (!slot) slot = std::make_shared<ChainGroup>(chain, key);
  out.group = slot;
  out.state = std::move(state);
  session->SetIdentity(FeedSession::Identity{node_id, out.state, out.group, reads_rollout});
  out.group->Add(session);
  out.ok = true;
  return out;
}

bool FeedGroups::Leave(const std::shared_ptr<FeedSession>& session) {
  MutexLock lock(mu_);  // before reading the identity: Join sets it under mu_
  const FeedSession::Identity who = session->identity();
  if (who.node_id.empty()) return false;  // never joined
  if (const auto group = who.group.lock(); group && group->Remove(session.get())) {
    auto it = groups_.find(group->key);
    if (it != groups_.end() && it->second == group) groups_.erase(it);
  }
  auto it = nodes_.find(who.node_id);
  if (it != nodes_.end() && it->second.session.lock() == session) {
    nodes_.erase(it);
    return true;
  }
  return false;
}

std::vector<std::shared_ptr<ChainGroup>> FeedGroups::All() const {
  std::vector<std::shared_ptr<ChainGroup>> out;
  MutexLock lock(mu_);
  out.reserve(groups_.size());
  for (const auto& [key, group] : groups_) out.push_back(group);
  return out;
}

std::vector<std::pair<std::shared_ptr<FeedSession>, std::shared_ptr<ChainGroup>>>
FeedGroups::SessionsOf(std::span<const std::string> node_ids) const {
  std::vector<std::pair<std::shared_ptr<FeedSession>, std::shared_ptr<ChainGroup>>> out;
  out.reserve(node_ids.size());
  {
    MutexLock lock(mu_);
    for (const std::string& id : node_ids) {
      auto it = nodes_.find(id);
      if (it == nodes_.end()) continue;
      if (auto session = it->second.session.lock()) out.emplace_back(std::move(session), nullptr);
    }
  }
  for (auto& [session, group] : out) group = session->group();
  std::erase_if(out, [](const auto& found) { return found.second == nullptr; });
  return out;
}

std::string FeedGroups::ChainOf(const std::string& node_id) const {
  std::shared_ptr<NodeState> state = StateOf(node_id);
  return state ? state->Copy().scope_chain : std::string();
}

}  // namespace omnirelay::cp
