// Internal: the Postgres adapter's cache of Store::NodeProfiles, the fleet
// grouped by (chain, api version, features) that every layer write's
// capability check reads. On Postgres that read is a round trip and a scan of
// the nodes table per write; the answer changes only when a node with a new
// profile appears (or nodes go), so it is kept:
//  1. An answer read less than kNodeProfileCacheMs ago is used again.
//  2. It is dropped at once when this store upserts a node whose profile it
//     lacks, or deletes nodes (this replica's node writer and reaper), so a
//     node that said hello here is gated from its first stored record on.
//  3. A node recorded through another replica counts here within
//     kNodeProfileCacheMs; the counts in an answer may be as old.
//  4. A read that raced with a drop (2) is not kept as fresh.
//
// Thread safety: all methods may be called concurrently.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

inline constexpr std::int64_t kNodeProfileCacheMs = 1000;

class NodeProfileCache {
 public:
  using Clock = std::chrono::steady_clock;

  // Rule 1: the kept answer while it is fresh; nullopt otherwise.
  std::optional<std::vector<NodeProfile>> Fresh(Clock::time_point now = Clock::now()) const
      EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!kept_ || kept_generation_ != generation_ ||
        now - read_at_ >= std::chrono::milliseconds(kNodeProfileCacheMs)) {
      return std::nullopt;
    }
    return kept_;
  }
  // Where a read starts: Keep it with this generation (rule 4).
  std::uint64_t generation() const EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return generation_;
  }
  void Keep(std::vector<NodeProfile> profiles, std::uint64_t read_generation,
            Clock::time_point read_at = Clock::now()) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (read_generation != generation_) return;
    if (kept_ && read_at < read_at_) return;  // a slower, older read
    kept_ = std::move(profiles);
    kept_generation_ = read_generation;
    read_at_ = read_at;
  }
  // Rule 2: `nodes` were written here (called after their commit). A read
  // in flight may have missed them: it is never kept (rule 4). The kept
  // answer stays only when it already lists every one of their profiles.
  void Saw(const std::vector<NodeRecord>& nodes) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    ++generation_;
    if (!kept_) return;
    for (const NodeRecord& n : nodes) {
      const bool known = std::any_of(kept_->begin(), kept_->end(), [&](const NodeProfile& p) {
        return p.scope_chain == n.scope_chain && p.api_version == n.api_version &&
               p.features == n.features;
      });
      if (!known) {
        kept_.reset();
        return;
      }
    }
    kept_generation_ = generation_;
  }
  void Drop() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    kept_.reset();
    ++generation_;
  }

 private:
  mutable Mutex mu_;
  std::uint64_t generation_ GUARDED_BY(mu_) = 0;
  std::optional<std::vector<NodeProfile>> kept_ GUARDED_BY(mu_);
  std::uint64_t kept_generation_ GUARDED_BY(mu_) = 0;
  Clock::time_point read_at_ GUARDED_BY(mu_);
};

}  // namespace omnirelay::cp
