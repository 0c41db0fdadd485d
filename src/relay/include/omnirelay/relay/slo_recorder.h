// SloRecorder: the request outcomes a node reports for the rollout gates
// (DESIGN.md §4 Rollouts: a wave's error rate and p99 against a baseline).
// ConfigHost owns one (ConfigHost::RecordOutcome, ConfigHost::slo()); the
// Watcher takes its window at every NodeStatus it sends.
//
//   const auto& snap = host.Current();
//   ... serve the request with snap ...
//   host.RecordOutcome(snap->version(), /*error=*/status >= 500, elapsed_ms);
//
// Contract:
//  1. An outcome is counted against the config version that served it (the
//     snapshot the request read), not the one current when it finishes.
//     Versions <= 0 (no snapshot yet) are not recorded.
//  2. TakeWindow() returns one SloReport per version that served requests
//     since the previous take (sorted by version; all with the same
//     window_start_ms and window_ms: from the previous take, or construction,
//     to now), and resets: every outcome lands in exactly one taken window,
//     none twice, none lost while threads record concurrently. A window
//     without requests yields an empty vector.
//  3. Cheap on the request path: no lock or shared counter common to all
//     threads. Each thread records into one of kShards shards (assigned on
//     its first record), each with its own mutex, uncontended unless more
//     threads than shards record at the same instant; TakeWindow locks the
//     shards one after another, briefly.
//  4. Bounded memory: each shard keeps at most kMaxVersions versions per
//     window (one or two in practice: the versions served around a swap).
//     An outcome of a further version takes the slot of the lowest version
//     when it is newer (that version's counts in the shard are dropped),
//     and is dropped itself otherwise; dropped outcomes are counted
//     (dropped(), omnirelay_relay_slo_dropped_total).
//  5. Latency goes to the shared buckets of omnirelay/config/slo_window.h;
//     a negative or NaN latency counts as 0.
//
// Thread safety: Record from any number of threads; TakeWindow from any
// thread (takes are serialised). The clock must outlive the recorder.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "omnirelay/config/clock.h"
#include "omnirelay/config/metrics.h"
#include "omnirelay/config/mutex.h"
#include "omnirelay/config/slo_window.h"

namespace omnirelay::relay {

class SloRecorder {
 public:
  static constexpr std::size_t kShards = 16;
  static constexpr std::size_t kMaxVersions = 4;

  // `dropped` (optional) counts outcomes dropped by rule 4. The window opens now.
  explicit SloRecorder(const Clock& clock, Counter* dropped = nullptr);
  SloRecorder(const SloRecorder&) = delete;
  SloRecorder& operator=(const SloRecorder&) = delete;

  void Record(std::int64_t config_version, bool error, double latency_ms);
  // The window since the previous take, per version; resets it (rule 2).
  std::vector<SloReport> TakeWindow();
  std::uint64_t dropped() const { return dropped_total_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::int64_t version = 0;  // 0: free
    SloWindow window;
  };
  struct alignas(64) Shard {
    Mutex mu;
    std::array<Slot, kMaxVersions> slots GUARDED_BY(mu);
  };

  void Drop(std::uint64_t n);

  const Clock& clock_;
  Counter* const dropped_counter_;
  std::atomic<std::uint64_t> dropped_total_{0};
  std::array<Shard, kShards> shards_;
  Mutex take_mu_;
  std::int64_t window_start_ms_ GUARDED_BY(take_mu_);
};

}  // namespace omnirelay::relay
