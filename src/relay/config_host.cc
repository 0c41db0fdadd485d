#include "omnirelay/relay/config_host.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "key_set_trust.h"
#include "lkg_store.h"
#include "omnirelay/config/mutex.h"
#include "relay_metrics.h"
#include "thread_cache.h"

namespace omnirelay::relay {
namespace {

using SnapshotPtr = std::shared_ptr<const AppliedSnapshot>;

std::string VersionText(std::int64_t version) {
  return "version " + std::to_string(version);
}

// `status` with `context` in front of its message (code and diagnostics kept).
Status WithContext(const Status& status, const std::string& context) {
  std::string message = context + ": " + status.message();
  if (status.diagnostics().empty()) return Status(status.code(), std::move(message));
  return Status(status.code(), std::move(message), status.diagnostics());
}

}  // namespace

std::string_view OnExpiryName(OnExpiry on_expiry) {
  return on_expiry == OnExpiry::kFailClosed ? "fail_closed" : "keep_serving";
}

Result<OnExpiry> ParseOnExpiry(std::string_view name) {
  for (OnExpiry value : {OnExpiry::kKeepServing, OnExpiry::kFailClosed}) {
    if (name == OnExpiryName(value)) return value;
  }
  return Status(StatusCode::kInvalidArgument,
                "on-expiry \"" + std::string(name) + "\" is neither keep_serving nor fail_closed");
}

namespace {
bool Moved(const Result<bool>& caught_up) {
  return caught_up.ok() && *caught_up;
}
}  // namespace

struct ConfigHost::Impl {
  Impl(ConfigHostOptions options, const Clock& clock_in, MetricsRegistry& registry)
      : clock(clock_in),
        metrics(registry, options.node_id),
        capabilities(options.verify.capabilities),
        on_expiry(options.on_expiry),
        expiry_skew_ms(options.verify.expiry_skew_ms),
        verifier(
            options.key_set ? options.key_set->set.online_keys : std::move(options.trusted_keys),
            clock_in, std::move(options.verify)),
        slo(clock_in, &metrics.slo_dropped) {
    FileSystem& fs = options.file_system ? *options.file_system : RealFileSystem();
    if (options.key_set) {
      MutexLock lock(apply_mu);
      key_sets.emplace(std::move(*options.key_set),
                       options.lkg_path.empty() ? "" : options.lkg_path + ".keysets", fs);
      if (Status loaded = key_sets->LoadPersisted(); !loaded.ok()) NoteKeySetError(loaded);
      verifier.set_trusted_keys(key_sets->online_keys());
      metrics.key_set_version.Set(static_cast<double>(key_sets->version()));
      key_set_version.store(key_sets->version(), std::memory_order_relaxed);
    }
    if (!options.lkg_path.empty()) lkg.emplace(std::move(options.lkg_path), fs);
  }

  // Rotation: the key sets after the trusted one, from the source; whether
  // the trusted online keys changed, or why this attempt failed (kept for
  // health too). Sets accepted before a refusal stay accepted.
  Result<bool> CatchUpKeySets(bool on_unknown_key) REQUIRES(apply_mu) {
    if (!key_sets || !key_set_source) return false;
    // At most one fetch a second for unknown keys: a stream of envelopes
    // naming them (a compromised mirror) costs one request a second.
    if (on_unknown_key) {
      const std::int64_t now = clock.MonotonicMs();
      if (last_key_set_fetch_ms != 0 && now - last_key_set_fetch_ms < kKeySetFetchSpacingMs) {
        return false;
      }
      last_key_set_fetch_ms = now;
    }
    const std::int64_t before = key_sets->version();
    Result<std::vector<std::string>> fetched = key_set_source(before);
    if (!fetched.ok()) {
      NoteKeySetError(fetched.status());
      return fetched.status();
    }
    Result<bool> advanced = key_sets->Advance(*fetched);
    if (!advanced.ok()) {
      metrics.key_set_refusals.Inc();
      NoteKeySetError(advanced.status());
    }
    if (key_sets->version() != before) {
      verifier.set_trusted_keys(key_sets->online_keys());
      metrics.key_set_version.Set(static_cast<double>(key_sets->version()));
      key_set_version.store(key_sets->version(), std::memory_order_relaxed);
    }
    if (!advanced.ok()) return advanced.status();
    NoteKeySetError(Status::Ok());  // this attempt went through
    return key_sets->version() != before;
  }

  void NoteKeySetError(const Status& why) {
    MutexLock lock(health_mu);
    last_key_set_error = why;
  }

  const Clock& clock;
  RelayMetrics metrics;
  const NodeCapabilities capabilities;  // the verifier's, for readers without the lock
  const OnExpiry on_expiry;
  const std::int64_t expiry_skew_ms;  // the verifier's: "expired" means the same for both

  // Applies, listener registration and key changes, one at a time.
  Mutex apply_mu;
  SnapshotVerifier verifier GUARDED_BY(apply_mu);
  std::optional<LkgStore> lkg GUARDED_BY(apply_mu);                    // set at construction
  std::optional<internal::KeySetTrust> key_sets GUARDED_BY(apply_mu);  // with options.key_set
  KeySetSource key_set_source GUARDED_BY(apply_mu);
  std::int64_t last_key_set_fetch_ms GUARDED_BY(apply_mu) = 0;  // monotonic; 0 = never
  static constexpr std::int64_t kKeySetFetchSpacingMs = 1000;
  std::atomic<std::int64_t> key_set_version{0};  // key_sets->version(), for health() unlocked
  std::vector<std::shared_ptr<IConfigListener>> listeners GUARDED_BY(apply_mu);
  std::int64_t version_floor GUARDED_BY(apply_mu) = 0;
  std::uint64_t last_generation GUARDED_BY(apply_mu) = 0;
  std::string expiry_counted_hash GUARDED_BY(apply_mu);  // the snapshot whose expiry counted

  // The published snapshot; it and ConfigHost::generation_ change together.
  mutable Mutex publish_mu;
  SnapshotPtr current GUARDED_BY(publish_mu);    // in force, even while withheld
  bool withheld GUARDED_BY(publish_mu) = false;  // fail-closed: Current() gives null

  std::atomic<std::int64_t> fresh_mono_ms{0};

  SloRecorder slo;  // thread-safe on its own

  mutable Mutex health_mu;
  Status last_error GUARDED_BY(health_mu);
  std::int64_t last_error_unix_ms GUARDED_BY(health_mu) = 0;
  Status last_lkg_error GUARDED_BY(health_mu);
  // What SetDiscoveryGeneration said last; the pair changes together.
  std::int64_t discovery_generation GUARDED_BY(health_mu) = 0;
  std::string discovery_feed_id GUARDED_BY(health_mu);
  Status last_key_set_error GUARDED_BY(health_mu);

  SnapshotPtr CurrentCopy(bool* is_withheld = nullptr) const {
    MutexLock lock(publish_mu);
    if (is_withheld != nullptr) *is_withheld = withheld;
    return current;
  }

  // Wall ms until `s` expires (rule 1 of the header: "expired" once negative);
  // never for a snapshot without expiresAt (only test hooks publish those).
  std::int64_t ExpiresInMs(const AppliedSnapshot& s) const {
    if (s.expires_at_ms() <= 0) return std::numeric_limits<std::int64_t>::max();
    return s.expires_at_ms() + expiry_skew_ms - clock.NowUnixMs();
  }

  void MarkFresh() { fresh_mono_ms.store(clock.MonotonicMs(), std::memory_order_relaxed); }

  Status Refuse(Status status) {
    metrics.CountRefusal(status.code());
    MutexLock lock(health_mu);
    last_error = status;
    last_error_unix_ms = clock.NowUnixMs();
    return status;
  }

  std::shared_ptr<AppliedSnapshot> NewCandidate(AppliedSnapshot::Parts parts) REQUIRES(apply_mu) {
    return std::make_shared<AppliedSnapshot>(AppliedSnapshot::Private{}, std::move(parts),
                                             last_generation + 1);
  }

  // Phase 1 for every listener; on the first failure, aborts those prepared.
  Status PrepareAll(AppliedSnapshot& candidate) REQUIRES(apply_mu) {
    candidate.states_.assign(listeners.size(), nullptr);
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      Result<std::shared_ptr<const void>> state = listeners[i]->Prepare(candidate);
      if (!state.ok()) {
        for (std::size_t j = i; j-- > 0;) listeners[j]->Abort(candidate);
        candidate.states_.clear();
        return WithContext(state.status(), "listener \"" + std::string(listeners[i]->name()) +
                                               "\" refused " + VersionText(candidate.version()));
      }
      candidate.states_[i] = std::move(state).value();
    }
    return Status::Ok();
  }

  void CommitAll(const AppliedSnapshot& applied) REQUIRES(apply_mu) {
    for (const auto& listener : listeners) listener->Commit(applied);
  }

  // Swaps `next` in; it is served unless it is expired under fail-closed
  // (a listener added to a withheld snapshot republishes it withheld).
  void Publish(ConfigHost& host, SnapshotPtr next) REQUIRES(apply_mu) {
    last_generation = next->generation();
    const std::int64_t version = next->version();
    const bool expired = ExpiresInMs(*next) < 0;
    const bool serve = !expired || on_expiry == OnExpiry::kKeepServing;
    SnapshotPtr previous;  // released after the lock, on this thread
    {
      MutexLock lock(publish_mu);
      previous = std::exchange(current, std::move(next));
      withheld = !serve;
      host.generation_.store(last_generation, std::memory_order_release);
    }
    host.ready_.store(serve, std::memory_order_release);
    version_floor = std::max(version_floor, version);
    MarkFresh();
    metrics.Published(version, expired, serve);
  }

  // Rule 2-4 of the header.
  ExpiryCheck CheckExpiry(ConfigHost& host) REQUIRES(apply_mu) {
    ExpiryCheck out;
    const SnapshotPtr in_force = CurrentCopy();
    if (!in_force) return out;
    const std::int64_t left = ExpiresInMs(*in_force);
    if (left >= 0) {
      if (left != std::numeric_limits<std::int64_t>::max()) out.expires_in_ms = left + 1;
      return out;
    }
    out.expired = true;
    if (expiry_counted_hash == in_force->hash()) return out;
    expiry_counted_hash = in_force->hash();
    out.newly_expired = true;
    const bool serve = on_expiry == OnExpiry::kKeepServing;
    if (!serve) {
      // A swap to nothing: every thread's next Current() takes the slow path.
      ++last_generation;
      MutexLock lock(publish_mu);
      withheld = true;
      host.generation_.store(last_generation, std::memory_order_release);
    }
    host.ready_.store(serve, std::memory_order_release);
    metrics.CountExpiry(serve);
    return out;
  }

  void SaveLastKnownGood(const AppliedSnapshot& applied) REQUIRES(apply_mu) {
    if (!lkg) return;
    Status saved = lkg->Write(LkgState{version_floor, applied.hash()}, applied.envelope());
    if (saved.ok()) return;
    metrics.lkg_write_failures.Inc();
    MutexLock lock(health_mu);
    last_lkg_error = std::move(saved);
  }

  // `in_force_hash`: the last-known-good's, accepted expired (header rule 6).
  Result<ApplyOutcome> ApplyLocked(ConfigHost& host, std::string_view envelope_json,
                                   std::string_view announced_hash, bool save,
                                   std::string_view in_force_hash = {}) REQUIRES(apply_mu) {
    const SnapshotPtr current_snapshot = CurrentCopy();
    Result<VerifiedSnapshot> verified = verifier.Verify(
        envelope_json, announced_hash, current_snapshot.get(), version_floor, in_force_hash);
    // Signed by a key this node does not know yet: a rotation it missed.
    if (!verified.ok() && verified.status().code() == StatusCode::kUnknownKey &&
        Moved(CatchUpKeySets(/*on_unknown_key=*/true))) {
      verified = verifier.Verify(envelope_json, announced_hash, current_snapshot.get(),
                                 version_floor, in_force_hash);
    }
    if (!verified.ok()) return Refuse(verified.status());
    if (verified->verdict == Verdict::kAlreadyApplied) {
      MarkFresh();
      metrics.CountApply(ApplyKind::kAlreadyApplied);
      return ApplyOutcome{ApplyKind::kAlreadyApplied, current_snapshot};
    }
    const ApplyKind kind =
        verified->verdict == Verdict::kResigned ? ApplyKind::kResigned : ApplyKind::kApplied;
    std::shared_ptr<AppliedSnapshot> candidate = NewCandidate(AppliedSnapshot::Parts{
        std::move(verified->snapshot), std::move(verified->payload), std::string(envelope_json),
        std::move(verified->hash), std::move(verified->key_id)});
    if (kind == ApplyKind::kResigned) {
      // Same spec: the listeners' states still hold (and own their data).
      candidate->states_ = current_snapshot->states_;
    } else if (Status prepared = PrepareAll(*candidate); !prepared.ok()) {
      return Refuse(std::move(prepared));
    }
    Publish(host, candidate);
    if (kind == ApplyKind::kApplied) CommitAll(*candidate);
    metrics.CountApply(kind);
    if (save) SaveLastKnownGood(*candidate);
    return ApplyOutcome{kind, std::move(candidate)};
  }
};

ConfigHost::ConfigHost(ConfigHostOptions options, const Clock& clock, MetricsRegistry& metrics)
    : uid_(internal::NextHostUid()),
      cache_index_(internal::AcquireCacheIndex()),
      impl_(std::make_unique<Impl>(std::move(options), clock, metrics)) {}

ConfigHost::~ConfigHost() {
  internal::ReleaseCacheIndex(cache_index_);
}

const std::shared_ptr<const AppliedSnapshot>& ConfigHost::CurrentSlow() const {
  internal::CacheSlot& slot = internal::ThreadCacheSlot(cache_index_);
  SnapshotPtr previous;  // released after the lock
  {
    MutexLock lock(impl_->publish_mu);
    previous = std::exchange(slot.snapshot, impl_->withheld ? nullptr : impl_->current);
    slot.generation = generation_.load(std::memory_order_relaxed);
    slot.owner = uid_;
  }
  return slot.snapshot;
}

Result<ApplyOutcome> ConfigHost::Apply(std::string_view envelope_json,
                                       std::string_view announced_hash) {
  const auto start = std::chrono::steady_clock::now();
  MutexLock lock(impl_->apply_mu);
  Result<ApplyOutcome> outcome = impl_->ApplyLocked(*this, envelope_json, announced_hash, true);
  impl_->metrics.apply_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return outcome;
}

Result<ApplyOutcome> ConfigHost::LoadLastKnownGood() {
  MutexLock lock(impl_->apply_mu);
  if (!impl_->lkg) return Status(StatusCode::kNotFound, "no last-known-good path configured");
  Result<LkgState> state = impl_->lkg->ReadState();
  std::string in_force_hash;  // accepted expired when keeping serving (header rule 6)
  if (state.ok()) {
    if (impl_->on_expiry == OnExpiry::kKeepServing) in_force_hash = state->hash;
    impl_->version_floor = std::max(impl_->version_floor, state->highest_version);
  } else if (state.status().code() != StatusCode::kNotFound) {
    // Without the recorded floor a replayed envelope cannot be told apart.
    return impl_->Refuse(state.status());
  }
  Result<std::string> envelope =
      impl_->lkg->ReadEnvelope(impl_->verifier.options().max_envelope_bytes);
  if (!envelope.ok()) {
    if (envelope.status().code() == StatusCode::kNotFound) return envelope.status();
    return impl_->Refuse(envelope.status());
  }
  Result<ApplyOutcome> outcome =
      impl_->ApplyLocked(*this, *envelope, {}, /*save=*/false, in_force_hash);
  if (!outcome.ok()) {
    return WithContext(outcome.status(), "last-known-good " + impl_->lkg->envelope_path());
  }
  // A config restored from disk is as fresh as when the control plane
  // rendered it, not as the restart: staleness counts from its createdAt.
  if (outcome->snapshot) {
    const std::int64_t age_ms = std::max<std::int64_t>(
        0, impl_->clock.NowUnixMs() - outcome->snapshot->snapshot().metadata.created_at * 1000);
    impl_->fresh_mono_ms.store(impl_->clock.MonotonicMs() - age_ms, std::memory_order_relaxed);
  }
  impl_->CheckExpiry(*this);  // an expired one kept (rule 6) counts now
  return outcome;
}

Result<std::size_t> ConfigHost::AddListener(std::shared_ptr<IConfigListener> listener) {
  if (listener == nullptr) return Status(StatusCode::kInvalidArgument, "null listener");
  MutexLock lock(impl_->apply_mu);
  const std::size_t index = impl_->listeners.size();
  const SnapshotPtr current_snapshot = impl_->CurrentCopy();
  if (current_snapshot == nullptr) {
    impl_->listeners.push_back(std::move(listener));
    return index;
  }
  // Republish the current snapshot with the new listener's state attached.
  std::shared_ptr<AppliedSnapshot> candidate = impl_->NewCandidate(current_snapshot->parts_);
  candidate->states_ = current_snapshot->states_;
  candidate->states_.resize(index + 1);
  Result<std::shared_ptr<const void>> state = listener->Prepare(*candidate);
  if (!state.ok()) {
    return WithContext(state.status(), "listener \"" + std::string(listener->name()) +
                                           "\" refused the current " +
                                           VersionText(candidate->version()));
  }
  candidate->states_[index] = std::move(state).value();
  impl_->listeners.push_back(listener);
  impl_->Publish(*this, candidate);
  listener->Commit(*candidate);
  return index;
}

void ConfigHost::SetTrustedKeys(TrustedKeySet keys) {
  MutexLock lock(impl_->apply_mu);
  impl_->verifier.set_trusted_keys(std::move(keys));
}

void ConfigHost::SetKeySetSource(KeySetSource source) {
  MutexLock lock(impl_->apply_mu);
  impl_->key_set_source = std::move(source);
}

Result<bool> ConfigHost::RefreshKeySets() {
  MutexLock lock(impl_->apply_mu);
  return impl_->CatchUpKeySets(/*on_unknown_key=*/false);
}

void ConfigHost::MarkFresh() {
  impl_->MarkFresh();
}

ExpiryCheck ConfigHost::CheckExpiry() {
  MutexLock lock(impl_->apply_mu);
  return impl_->CheckExpiry(*this);
}

void ConfigHost::SetDiscoveryGeneration(std::int64_t generation, std::string feed_id) {
  MutexLock lock(impl_->health_mu);  // the pair changes together
  impl_->discovery_feed_id = std::move(feed_id);
  impl_->discovery_generation = generation;
}

void ConfigHost::RecordOutcome(std::int64_t config_version, bool error, double latency_ms) {
  impl_->slo.Record(config_version, error, latency_ms);
}

SloRecorder& ConfigHost::slo() {
  return impl_->slo;
}

const NodeCapabilities& ConfigHost::capabilities() const {
  return impl_->capabilities;
}

HealthReport ConfigHost::health() const {
  HealthReport h;
  h.on_expiry = impl_->on_expiry;
  bool withheld = false;
  if (const SnapshotPtr current_snapshot = impl_->CurrentCopy(&withheld)) {
    h.ready = !withheld;
    h.expired = impl_->ExpiresInMs(*current_snapshot) < 0;
    h.config_version = current_snapshot->version();
    h.hash = current_snapshot->hash();
    h.generation = current_snapshot->generation();
    h.expires_at_ms = current_snapshot->expires_at_ms();
    h.staleness_ms = std::max<std::int64_t>(
        0, impl_->clock.MonotonicMs() - impl_->fresh_mono_ms.load(std::memory_order_relaxed));
  }
  MutexLock lock(impl_->health_mu);
  h.discovery_generation = impl_->discovery_generation;
  h.discovery_feed_id = impl_->discovery_feed_id;
  h.last_error = impl_->last_error;
  h.last_error_unix_ms = impl_->last_error_unix_ms;
  h.last_lkg_error = impl_->last_lkg_error;
  h.key_set_version = impl_->key_set_version.load(std::memory_order_relaxed);
  h.last_key_set_error = impl_->last_key_set_error;
  return h;
}

Result<ApplyOutcome> ConfigHost::ApplyDecodedForTest(Snapshot snapshot) {
  MutexLock lock(impl_->apply_mu);
  std::string hash = "test:" + std::to_string(snapshot.metadata.version);
  std::shared_ptr<AppliedSnapshot> candidate =
      impl_->NewCandidate(AppliedSnapshot::Parts{std::move(snapshot), {}, {}, std::move(hash), {}});
  OMNI_RETURN_IF_ERROR(impl_->PrepareAll(*candidate));
  impl_->Publish(*this, candidate);
  impl_->CommitAll(*candidate);
  return ApplyOutcome{ApplyKind::kApplied, std::move(candidate)};
}

}  // namespace omnirelay::relay
