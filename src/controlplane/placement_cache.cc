#include "placement_cache.h"

#include <algorithm>
#include <utility>

namespace omnirelay::cp {

Result<std::shared_ptr<const ScopeMap>> PlacementCache::Current() {
  OMNI_ASSIGN_OR_RETURN(const std::int64_t head, store_.HeadRevision());
  {
    MutexLock lock(mu_);
    if (map_ && head == head_) return map_;
  }
  // Outside the lock: a store read, maybe a parse.
  auto global = store_.GetLayer("global");
  if (!global.ok() && global.status().code() != StatusCode::kNotFound) return global.status();
  auto map = Of(global);
  if (map.ok()) {
    MutexLock lock(mu_);
    if (map_ == *map) head_ = std::max(head_, head);
  }
  return map;
}

Result<std::shared_ptr<const ScopeMap>> PlacementCache::Of(const Result<LayerRecord>& global) {
  if (!global.ok() && global.status().code() != StatusCode::kNotFound) return global.status();
  const std::int64_t revision = global.ok() ? global->revision : 0;
  {
    MutexLock lock(mu_);
    if (map_ && revision == global_revision_) return map_;
  }
  // No global layer yet: nothing to disagree with (ScopeMap::Unrestricted).
  auto parsed = global.ok() ? ScopeMap::FromGlobalLayer(global->document)
                            : Result<ScopeMap>(ScopeMap::Unrestricted());
  auto map = std::make_shared<const ScopeMap>(parsed.ok() ? std::move(parsed).value() : ScopeMap());
  MutexLock lock(mu_);
  if (!map_ || revision >= global_revision_) {
    global_revision_ = revision;
    map_ = map;
  }
  return map;
}

std::shared_ptr<const ScopeMap> PlacementCache::Cached() const {
  MutexLock lock(mu_);
  return map_;
}

std::pair<std::shared_ptr<const ScopeMap>, std::int64_t> PlacementCache::CachedWithRevision()
    const {
  MutexLock lock(mu_);
  return {map_, global_revision_};
}

Status PlacementCache::CheckNodeChain(const std::vector<Scope>& chain, const std::string& node_id) {
  OMNI_ASSIGN_OR_RETURN(std::shared_ptr<const ScopeMap> map, Current());
  return map->CheckNodeChain(chain, node_id);
}

}  // namespace omnirelay::cp
