// SnapshotRenderer::AtRevision: a chain's snapshot as it stood at an older
// revision (the version a rollout holds a node on).
#include <algorithm>
#include <chrono>

#include "omnirelay/controlplane/renderer.h"

namespace omnirelay::cp {
namespace {

struct ChainAt {
  std::int64_t version = 0;
  std::vector<std::string> documents;  // the layers in force, in chain order
};

// Each scope's newest revision <= bound (a put or a delete): one History
// page of one row per scope.
Result<ChainAt> ReadChainAt(Store& store, const std::vector<Scope>& chain, std::int64_t bound) {
  ChainAt out;
  for (const Scope& scope : chain) {
    OMNI_ASSIGN_OR_RETURN(std::vector<RevisionRecord> page,
                          store.History(scope.ToString(), bound + 1, 1));
    if (page.empty()) continue;
    out.version = std::max(out.version, page.front().revision);
    if (!page.front().deleted) out.documents.push_back(std::move(page.front().document));
  }
  return out;
}

}  // namespace

Result<std::int64_t> SnapshotRenderer::ChainVersionAt(const std::vector<Scope>& chain,
                                                      std::int64_t bound) {
  std::int64_t version = 0;
  for (const Scope& scope : chain) {
    OMNI_ASSIGN_OR_RETURN(std::vector<RevisionRecord> page,
                          store_.History(scope.ToString(), bound + 1, 1));
    if (!page.empty()) version = std::max(version, page.front().revision);
  }
  return version;
}

Result<std::shared_ptr<const SnapshotRecord>> SnapshotRenderer::AtRevision(
    const std::vector<Scope>& chain, std::int64_t bound) {
  const auto start = std::chrono::steady_clock::now();
  OMNI_ASSIGN_OR_RETURN(std::int64_t current, ChainVersion(chain));
  const std::string key = ScopeChainToString(chain);
  if (current <= bound) return Current(chain);  // nothing newer: the chain's own
  OMNI_ASSIGN_OR_RETURN(ChainAt at, ReadChainAt(store_, chain, bound));
  if (at.version == 0) {
    return Status(StatusCode::kNotFound,
                  "no layer had been written for " + key + " by revision " + std::to_string(bound));
  }
  const std::int64_t now = clock_.NowUnixMs();
  const std::int64_t refresh_ms = RefreshMs();
  auto fresh = [&](const SnapshotRecord& r) {
    return r.expires_at_ms - now > refresh_ms && SignedByOwnKey(r);
  };
  const std::string older_key = key + "@" + std::to_string(at.version);
  {
    MutexLock lock(mu_);
    auto it = older_.find(older_key);
    if (it != older_.end() && fresh(*it->second)) return it->second;
  }
  MutexLock rendering(RenderLock(key));  // see Current
  {
    MutexLock lock(mu_);
    auto it = older_.find(older_key);
    if (it != older_.end() && fresh(*it->second)) return it->second;
  }
  if (auto stored = store_.SnapshotOfVersion(key, at.version); stored.ok() && fresh(*stored)) {
    std::shared_ptr<const SnapshotRecord> out =
        std::make_shared<const SnapshotRecord>(std::move(stored).value());
    MutexLock lock(mu_);
    if (older_.size() >= kMaxOlder) older_.clear();
    older_[older_key] = out;
    return out;
  }
  OMNI_ASSIGN_OR_RETURN(EffectiveConfig effective, MergeDocuments(chain, at.version, at.documents));
  auto rendered = Render(chain, std::move(effective), /*current=*/false);
  render_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return rendered;
}

}  // namespace omnirelay::cp
