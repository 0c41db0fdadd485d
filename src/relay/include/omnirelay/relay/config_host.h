// ConfigHost: the node's current snapshot, how it changes (verified, two-phase
// applies) and how the request path reads it (DESIGN.md §5).
//
//   ConfigHost host(options, SystemClock::Instance(), metrics);
//   host.LoadLastKnownGood();                        // ready without a control plane
//   host.Apply(envelope_json, announced_hash);       // ACK, or NACK with status_code_name
//   const auto& snap = host.Current();               // request path: ~1 ns, no lock
//   host.RecordOutcome(snap->version(), failed, ms); // per request: for the rollout gates
//
// Reading. Current() returns this thread's cached shared_ptr to the current
// snapshot (null until ready()). The cache is per thread and per host, tagged
// with the host's generation; a read is one atomic load of the generation plus
// a compare, and writes nothing shared. A thread refreshes its cache (under
// a mutex, once per swap) the first time it reads after a swap.
//   - The returned reference is to the thread's cache entry: `const auto& s =
//     host.Current()` is the fastest and stays valid until this thread's next
//     Current() on this host; `auto s = host.Current()` copies (one atomic
//     increment) and keeps the snapshot as long as the copy lives. Read once
//     per request and pass the snapshot down.
//   - Old snapshots are freed when their last reader lets go: a thread that
//     stops reading keeps (pins) the one snapshot it last read until it reads
//     again or exits, so at most one old snapshot per idle thread and host
//     stays in memory. The thread that drops the last reference frees it.
//   - Do not call Current() from thread_local destructors.
//
// Applying. Apply, LoadLastKnownGood, AddListener and SetTrustedKeys are
// serialised (one at a time, any thread); each refusal leaves the current
// snapshot in force, bumps omnirelay_relay_snapshot_refusals_total{reason=}
// and is remembered as health().last_error. After each successful apply the
// envelope and the highest version applied are written atomically to the
// last-known-good path (state file first: a crash between the two writes
// makes the older envelope look replayed, and the node waits for the control
// plane rather than accept it).
//
// Expiry of the snapshot in force (freeze protection, relay.md "When the
// snapshot in force expires"). The control plane re-signs a snapshot well
// before its expiresAt; a node that gets no renewal — a control plane that
// stopped re-signing, or a path that withholds updates — finds it expired:
//   1. "expired" means what it means for an incoming snapshot (verifier step
//      5): now > expiresAt + VerifierOptions::expiry_skew_ms, on the host's
//      clock. health().expired reads it from the clock at each call.
//   2. CheckExpiry() acts on it, off the request path: the first call that
//      finds the snapshot in force expired counts it once
//      (omnirelay_relay_snapshot_expirations_total, the gauge
//      omnirelay_relay_snapshot_expired = 1) and applies
//      ConfigHostOptions::on_expiry. The Watcher calls it when the expiry is
//      due and then pulls; an embedder without a Watcher calls it from a timer.
//   3. kKeepServing (default): Current() goes on returning the expired
//      snapshot; ready() stays true; health says expired.
//   4. kFailClosed: the snapshot is withheld — Current() returns null and
//      ready() is false (a swap to nothing: the generation goes up, so every
//      thread's next read sees it) — while health() still names the expired
//      version. Current() costs the same in both modes.
//   5. Applying a snapshot that has not expired (a re-signing of the same
//      version included) ends it: served again, ready, the gauge back to 0.
//   6. Restart: LoadLastKnownGood() refuses an expired envelope as `expired`
//      under kFailClosed; under kKeepServing it accepts it when it is exactly
//      the snapshot the state file says was in force (its content id), all
//      other checks unchanged, and counts it as in rule 2.
//
// Thread safety: every method may be called from any thread. The host must
// outlive every thread's last call; several hosts per process are fine.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/file_system.h"
#include "omnirelay/config/key_set.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/signing.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/applied_snapshot.h"
#include "omnirelay/relay/config_listener.h"
#include "omnirelay/relay/slo_recorder.h"
#include "omnirelay/relay/snapshot_verifier.h"

namespace omnirelay::relay {

// What the host does with the snapshot in force once it expires (rules at the top).
enum class OnExpiry {
  kKeepServing,  // go on routing with it; health says expired
  kFailClosed,   // serve nothing (Current() null, not ready) until a fresh one applies
};
// "keep_serving" | "fail_closed", and back (kInvalidArgument for anything else).
std::string_view OnExpiryName(OnExpiry on_expiry);
Result<OnExpiry> ParseOnExpiry(std::string_view name);

// Asks the control plane for the key sets after a version (the Watcher
// installs one: GET /v1/keysets?after=N); the envelopes, oldest first.
using KeySetSource = std::function<Result<std::vector<std::string>>(std::int64_t after_version)>;

struct ConfigHostOptions {
  TrustedKeySet trusted_keys;
  // Key rotation (omnirelay/config/key_set.h): when set, the key set this
  // node was given (VerifyKeySetSelf'd by the caller). Its online keys are
  // trusted instead of trusted_keys; newer sets are accepted only as the
  // next version signed by enough root keys, fetched through the
  // KeySetSource when a snapshot names an unknown key (and by
  // RefreshKeySets), and kept in lkg_path + ".keysets" so a restart trusts
  // the newest set reached.
  std::optional<SignedKeySet> key_set;
  VerifierOptions verify;
  // Where the last applied envelope is kept ("" = nowhere); the highest
  // applied version goes to lkg_path + ".state".
  std::string lkg_path;
  // Where the last-known-good files are written and read; null = the real
  // file system. Must outlive the host (tests pass a fault-injecting one).
  FileSystem* file_system = nullptr;
  // Added as node="<id>" to this host's metrics when several hosts share a
  // registry; "" adds no label.
  std::string node_id;
  // Per deployment: availability (keep serving a config nobody renewed) or
  // security (refuse to serve one past its expiry). See the top, rule 3-4.
  OnExpiry on_expiry = OnExpiry::kKeepServing;
};

enum class ApplyKind {
  kApplied,         // a new version is current
  kAlreadyApplied,  // it was current already (counts as a freshness confirmation)
  kResigned,        // the current version, re-signed with a later expiry, is current
};

struct ApplyOutcome {
  ApplyKind kind = ApplyKind::kApplied;
  std::shared_ptr<const AppliedSnapshot> snapshot;  // the current one after the apply
};

struct HealthReport {
  bool ready = false;
  std::int64_t config_version = 0;  // 0 before the first snapshot
  std::string hash;                 // "sha256:<hex>", "" before the first snapshot
  std::uint64_t generation = 0;
  std::int64_t expires_at_ms = 0;
  std::int64_t discovery_generation = 0;
  std::string discovery_feed_id;  // the MeshKit feed instance it counts in; "" unknown
  // Since the last successful apply or MarkFresh(); -1 while not ready.
  std::int64_t staleness_ms = -1;
  Status last_error;  // the most recent refusal (OK when none yet); kept after later successes
  std::int64_t last_error_unix_ms = 0;
  Status last_lkg_error;  // the most recent failure to write the last-known-good files
  // The snapshot in force is past its expiry (rule 1): the node is stale.
  // Under kFailClosed `ready` is false once CheckExpiry acted, while
  // config_version, hash and expires_at_ms still name the expired snapshot.
  bool expired = false;
  OnExpiry on_expiry = OnExpiry::kKeepServing;  // the host's setting
  std::int64_t key_set_version = 0;             // 0: a plain trusted key set, no rotation
  Status last_key_set_error;                    // the last key set refused, or fetch failed
};

// What CheckExpiry found.
struct ExpiryCheck {
  bool expired = false;        // the snapshot in force is past its expiry
  bool newly_expired = false;  // this call found it first: counted, on_expiry applied
  // Wall ms until it expires (rule 1); -1 when expired or no snapshot can expire.
  std::int64_t expires_in_ms = -1;
};

namespace internal {

// One thread's cache of one host's current snapshot.
struct CacheSlot {
  std::uint64_t owner = 0;       // the host's uid; 0 = empty
  std::uint64_t generation = 0;  // of `snapshot`
  std::shared_ptr<const AppliedSnapshot> snapshot;
};

// This thread's slots, by host cache index; the slots never move. Trivial, so
// reading it costs no TLS initialisation check.
struct ThreadCacheTable {
  CacheSlot* const* slots = nullptr;
  std::size_t size = 0;
};
inline thread_local constinit ThreadCacheTable tls_cache_table{};

}  // namespace internal

class ConfigHost {
 public:
  // `clock` and `metrics` must outlive the host.
  ConfigHost(ConfigHostOptions options, const Clock& clock, MetricsRegistry& metrics);
  ~ConfigHost();
  ConfigHost(const ConfigHost&) = delete;
  ConfigHost& operator=(const ConfigHost&) = delete;

  // The hot path: the current snapshot, null until ready() (and, under
  // kFailClosed, while the one in force is expired). See the top.
  const std::shared_ptr<const AppliedSnapshot>& Current() const {
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    const internal::ThreadCacheTable& table = internal::tls_cache_table;
    if (cache_index_ < table.size) [[likely]] {
      const internal::CacheSlot& slot = *table.slots[cache_index_];
      if (slot.owner == uid_ && slot.generation == generation) [[likely]]
        return slot.snapshot;
    }
    return CurrentSlow();
  }
  // Increases by one per swap (withholding an expired snapshot, rule 4,
  // counts as one); 0 before the first snapshot.
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Verifies (snapshot_verifier.h), prepares every listener, swaps, commits,
  // and persists the last-known-good. An error is the NACK: its code name is
  // the reason. `announced_hash` is the control plane's "sha256:<hex>" or "".
  Result<ApplyOutcome> Apply(std::string_view envelope_json, std::string_view announced_hash = {});

  // Start-up: reads the recorded highest version (from then on a floor for
  // every apply) and re-verifies and applies the last-known-good envelope.
  // kNotFound when no path is configured or nothing was saved yet; a refusal
  // (rollback for a replayed older envelope, expired, ...) otherwise. An
  // expired envelope: see rule 6 at the top.
  Result<ApplyOutcome> LoadLastKnownGood();

  // Registers a listener for the host's lifetime, called after those before
  // it. Returns its slot index. When a snapshot is current, the listener
  // prepares it at once (an error leaves the listener out) and the snapshot
  // is republished with the listener's state under the next generation.
  Result<std::size_t> AddListener(std::shared_ptr<IConfigListener> listener);
  template <typename T>
  Result<StateSlot<T>> AddStateListener(std::shared_ptr<ConfigListener<T>> listener) {
    Result<std::size_t> index = AddListener(std::move(listener));
    if (!index.ok()) return index.status();
    return StateSlot<T>(*index);
  }

  // Replaces the trusted key set; applies after this use it. For hosts
  // without key sets (with them, use RefreshKeySets).
  void SetTrustedKeys(TrustedKeySet keys);
  // Where newer key sets come from (ConfigHostOptions::key_set); the Watcher
  // sets it. Called under the apply lock, on the thread that calls Apply or
  // RefreshKeySets; for unknown keys at most once a second (an Apply within
  // a second of the last such fetch does not fetch).
  void SetKeySetSource(KeySetSource source);
  // Fetches and walks the key sets after the trusted one: whether it moved
  // (false, doing nothing, without key sets or a source). A refusal keeps
  // the sets accepted before it and is returned.
  Result<bool> RefreshKeySets();

  // The control plane confirmed the current snapshot is up to date (this
  // does not renew an expired one: only a later expiresAt does).
  void MarkFresh();
  // Rule 2 at the top: call when the snapshot in force may have expired
  // (expires_in_ms says when). Serialised with applies; not for the request path.
  ExpiryCheck CheckExpiry();
  // The MeshKit feed generation this node routes with, and the feed
  // instance (EndpointSet::feed_id) it counts in: reported in health and to
  // the control plane, whose rollout gates compare generations of one feed.
  void SetDiscoveryGeneration(std::int64_t generation, std::string feed_id = "");
  HealthReport health() const;
  // What this host's verifier accepts (ConfigHostOptions::verify.capabilities):
  // what the node advertises in its hello unless told otherwise.
  const NodeCapabilities& capabilities() const;

  // Request outcomes for the rollout gates (slo_recorder.h): one call per
  // request, naming the version of the snapshot that served it
  // (Current()->version()), whether it failed (e.g. answered 5xx) and how
  // long it took. Cheap and thread-safe; the Watcher reports the windows.
  void RecordOutcome(std::int64_t config_version, bool error, double latency_ms);
  // The recorder itself (the Watcher takes its window with each NodeStatus).
  SloRecorder& slo();

  // Test hook: publishes `snapshot` as if verified (no signature, hash, LKG or
  // metrics), running the listeners two-phase; for tests of the read/swap
  // protocol and of listeners.
  Result<ApplyOutcome> ApplyDecodedForTest(Snapshot snapshot);

 private:
  struct Impl;

  const std::shared_ptr<const AppliedSnapshot>& CurrentSlow() const;

  // Read by every Current(); written once per swap. Alone on its cache line.
  alignas(64) std::atomic<std::uint64_t> generation_{0};
  const std::uint64_t uid_;
  const std::size_t cache_index_;
  std::atomic<bool> ready_{false};

  alignas(64) std::unique_ptr<Impl> impl_;
};

}  // namespace omnirelay::relay
