// The placement of scopes (ScopeMap, DESIGN.md §3.1) as the stored global
// layer says now, re-read only when the store's head revision moved and
// re-parsed only when the global layer itself changed: a check per node
// hello costs one head-revision read.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/scope_map.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

class PlacementCache {
 public:
  explicit PlacementCache(Store& store) : store_(store) {}

  // The current map; a store error is returned as is. Without a global
  // layer it is ScopeMap::Unrestricted(); a stored global layer that does
  // not decode places nothing.
  Result<std::shared_ptr<const ScopeMap>> Current() EXCLUDES(mu_);

  // The map of `global` (the stored global layer as just read, or
  // kNotFound), parsed only when its revision is not the cached one; the
  // cache keeps it only when it is not older than what it holds.
  Result<std::shared_ptr<const ScopeMap>> Of(const Result<LayerRecord>& global) EXCLUDES(mu_);

  // The map last cached, with no store read (null when none yet): a guess
  // that a caller confirms with Of() on the global layer it reads.
  std::shared_ptr<const ScopeMap> Cached() const EXCLUDES(mu_);
  // The same, with the revision of the global layer it was parsed from (0:
  // none), so that a caller may confirm it on a global layer it remembers.
  std::pair<std::shared_ptr<const ScopeMap>, std::int64_t> CachedWithRevision() const EXCLUDES(mu_);

  // ScopeMap::CheckNodeChain against the current map.
  Status CheckNodeChain(const std::vector<Scope>& chain, const std::string& node_id) EXCLUDES(mu_);

 private:
  Store& store_;
  mutable Mutex mu_;
  std::int64_t head_ GUARDED_BY(mu_) = -1;             // head revision last looked at
  std::int64_t global_revision_ GUARDED_BY(mu_) = -1;  // 0: no global layer
  std::shared_ptr<const ScopeMap> map_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp
