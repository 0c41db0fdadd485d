// The freeze switch (api::FreezeState) behind ControlPlaneService: durable as
// the store setting "freeze" (a JSON object {"reason", "by", "sinceMs"}; no
// row = not frozen), cached in memory so that a check costs a lock, not a
// store read.
//
// The cache is this replica's view: read at start, refreshed by every change
// made here and by every Current(). A layer write is refused by the store
// itself, in its transaction (LayerWrite::refused_by_setting), so a freeze set
// through another replica counts at once, at no extra read;
// CheckNotFrozen (new rollouts) reads Recent(): the cache, re-read at most
// once per kFreezeMaxAgeMs, so such a freeze counts there within that time.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <cstdint>

#include "omnirelay/api/types.h"
#include "omnirelay/config/clock.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

inline constexpr char kFreezeSettingKey[] = "freeze";
inline constexpr std::int64_t kFreezeMaxAgeMs = 1000;

class FreezeSwitch {
 public:
  FreezeSwitch(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  // The cached state, re-read from the store first when it was read more
  // than kFreezeMaxAgeMs ago; the cached one when that read fails.
  api::FreezeState Recent() EXCLUDES(mu_);
  // The stored state; refreshes the cache.
  Result<api::FreezeState> Current() EXCLUDES(mu_);
  // Stores `state` (not frozen: removes the setting) with `audit` in the same
  // transaction, then caches it.
  Status Set(const api::FreezeState& state, std::int64_t now_ms, const AuditEntry& audit)
      EXCLUDES(mu_);

  // kFrozen naming who froze, when and why; OK when `state` is not frozen.
  static Status Refusal(const api::FreezeState& state, std::string_view what);
  // The same, from the setting's stored value (a store's kFrozen refusal of
  // a LayerWrite with refused_by_setting = kFreezeSettingKey carries it).
  static Status RefusalOfStored(const std::string& stored_value, std::string_view what);

 private:
  void Cache(const api::FreezeState& state, std::int64_t read_at_ms) EXCLUDES(mu_);

  Store& store_;
  const Clock& clock_;
  Mutex mu_;
  api::FreezeState cached_ GUARDED_BY(mu_);
  std::int64_t read_at_ms_ GUARDED_BY(mu_) = 0;  // when cached_ was read or set
};

}  // namespace omnirelay::cp
