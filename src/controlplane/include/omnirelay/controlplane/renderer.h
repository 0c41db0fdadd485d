// Renders, validates and signs the snapshot of a scope chain (DESIGN.md §3.3,
// §4 Snapshots). A chain's version is the newest revision that touched any
// scope on it, so an unrelated write never changes a chain's snapshot, and
// identical content is rendered once: cached by chain and version in memory,
// and found again in the store after a restart or by another replica of the
// cell (Store::PutChainSnapshot keeps the first rendering of a version), so
// the same version keeps the same bytes and hash on every replica. Snapshots are re-rendered and
// re-signed before they expire.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/model.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/scope.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

struct RendererOptions {
  std::int64_t ttl_seconds = 7 * 24 * 3600;  // snapshot expiresAt = createdAt + ttl
  // Re-sign when less than this fraction of the TTL remains.
  double refresh_fraction = 0.25;
};

// The merged layers of a chain, before signing.
struct EffectiveConfig {
  std::int64_t version = 0;  // newest revision touching the chain; 0 when no layer exists
  std::string spec_json;     // canonical merged spec
  std::vector<std::string> features;
  Spec spec;  // decoded and validated
};

// The stored layers of `chain`'s scopes in chain order (a scope without a
// layer is left out), in one read (Store::GetLayers: one state).
Result<std::vector<LayerRecord>> ChainLayers(Store& store, const std::vector<Scope>& chain);

class SnapshotRenderer {
 public:
  SnapshotRenderer(Store& store, const SigningKey& key, const Clock& clock,
                   MetricsRegistry& metrics, RendererOptions options = {});

  // The merged, validated config of `chain` as stored now. kInvalid (with
  // diagnostics) when the combination does not validate.
  Result<EffectiveConfig> Effective(const std::vector<Scope>& chain);

  // The signed snapshot for `chain`: from the cache when the chain's version
  // is unchanged and the signature is fresh, otherwise rendered, signed and
  // stored (PutSnapshot) first.
  Result<std::shared_ptr<const SnapshotRecord>> Current(const std::vector<Scope>& chain);

  // The newest revision that touched any scope on `chain` (0 if none): cheap,
  // one indexed lookup per scope, so an unchanged chain is never re-merged;
  // the version its snapshot has (the node state of a disconnected node).
  Result<std::int64_t> ChainVersion(const std::vector<Scope>& chain);

  // The signed snapshot of `chain` as it stood at revision `bound` (a
  // rollout holds nodes there): the layers in force at that revision; its
  // version is the newest revision <= bound that touched the chain (puts and
  // deletes). kNotFound when no layer existed by then. The chain's current
  // version is answered by Current(); older ones are cached by (chain,
  // version) and found again in the store, so their bytes stay the same.
  Result<std::shared_ptr<const SnapshotRecord>> AtRevision(const std::vector<Scope>& chain,
                                                           std::int64_t bound);
  // The version AtRevision(chain, bound) has (0 when none), without rendering.
  Result<std::int64_t> ChainVersionAt(const std::vector<Scope>& chain, std::int64_t bound);

  // The snapshot of `chain` at `version` made of `documents` (its layers in
  // force then, in chain order), merged, validated and signed but neither
  // stored nor cached: a change set renders the chains of its first wave
  // before its commit and stores them in it (RolloutRecord::snapshots), so
  // that no render and no snapshot write sits between the commit and its
  // first nodes. Adopt it once stored.
  Result<std::shared_ptr<const SnapshotRecord>> RenderUnstored(
      const std::vector<Scope>& chain, std::int64_t version,
      const std::vector<std::string>& documents);
  // `stored` (a RenderUnstored snapshot its caller committed) is its
  // chain's current snapshot, unless one of a newer version is cached.
  void Adopt(std::shared_ptr<const SnapshotRecord> stored) EXCLUDES(mu_);

  // `base` (a chain's snapshot) as sent to a node that reads metadata.rollout
  // (kFeatureRolloutInfo) and was assigned it by wave `wave` (1-based) of
  // rollout `rollout_id`: the same document with metadata.rollout added —
  // version, createdAt, expiresAt and spec unchanged — signed, and stored
  // (SnapshotRecord::rollout) so that it is fetched by hash like any other.
  // Rendered once per (base, rollout, wave): a wave's nodes share one record.
  Result<std::shared_ptr<const SnapshotRecord>> WithRollout(
      const std::shared_ptr<const SnapshotRecord>& base, std::string_view rollout_id,
      std::int64_t wave);

 private:
  Result<EffectiveConfig> Merge(const std::vector<Scope>& chain, std::int64_t version);
  Result<EffectiveConfig> MergeDocuments(const std::vector<Scope>& chain, std::int64_t version,
                                         const std::vector<std::string>& documents);
  // A snapshot expiring within this many ms is re-signed (RendererOptions).
  std::int64_t RefreshMs() const;
  // Whether `r` carries this renderer's key's signature: one signed by
  // another key (before a key rotation) is re-signed, not served.
  bool SignedByOwnKey(const SnapshotRecord& r) const;
  // Signs and stores — or, when a fresh one of the version is stored
  // already (another replica's), takes that one; `current` caches it as the
  // chain's newest.
  // `min_expires_s`: expire no earlier (replacing another key's signing).
  Result<std::shared_ptr<const SnapshotRecord>> Render(const std::vector<Scope>& chain,
                                                       EffectiveConfig effective,
                                                       bool current = true,
                                                       std::int64_t min_expires_s = 0);
  // The signed, unstored record of `effective` created at `now_ms`.
  Result<std::shared_ptr<SnapshotRecord>> Sign(const std::vector<Scope>& chain,
                                               const EffectiveConfig& effective,
                                               std::int64_t now_ms, std::int64_t min_expires_s);

  Store& store_;
  const SigningKey& key_;
  const Clock& clock_;
  RendererOptions options_;
  Counter& renders_;
  Histogram& render_seconds_;
  Histogram& sign_seconds_;

  // Serialise the renders of one chain (Current, AtRevision, WithRollout):
  // two callers missing the cache together must not sign two copies of one
  // version. Different chains render side by side (a change set touching
  // several chains, a rollout's first wave on several), their store writes
  // sharing a group commit. Striped by the chain's text.
  static constexpr std::size_t kRenderStripes = 32;
  Mutex& RenderLock(std::string_view chain);
  Mutex render_mu_[kRenderStripes];
  Mutex mu_;
  std::map<std::string, std::shared_ptr<const SnapshotRecord>> cache_ GUARDED_BY(mu_);
  // AtRevision's older versions, by "<chain>@<version>"; cleared when it
  // passes kMaxOlder entries.
  std::map<std::string, std::shared_ptr<const SnapshotRecord>> older_ GUARDED_BY(mu_);
  static constexpr std::size_t kMaxOlder = 1024;
  // WithRollout's renderings by (base hash, rollout id, wave); cleared when
  // it passes kMaxLabelled entries.
  struct LabelKey {
    std::string_view base_hash;
    std::string_view rollout_id;
    std::int64_t wave;
    auto operator<=>(const LabelKey&) const = default;
  };
  struct Labelled {
    std::string base_hash;   // the key's views point here
    std::string rollout_id;  // and here
    std::shared_ptr<const SnapshotRecord> record;
  };
  std::map<LabelKey, std::shared_ptr<const Labelled>> labelled_ GUARDED_BY(mu_);
  static constexpr std::size_t kMaxLabelled = 1024;
};

}  // namespace omnirelay::cp
