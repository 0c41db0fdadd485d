#include "omnirelay/relay/slo_recorder.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

namespace omnirelay::relay {
namespace {

// Threads take shards round robin, in order of their first record.
std::size_t ThisThreadShard() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard =
      next.fetch_add(1, std::memory_order_relaxed) % SloRecorder::kShards;
  return shard;
}

}  // namespace

SloRecorder::SloRecorder(const Clock& clock, Counter* dropped)
    : clock_(clock), dropped_counter_(dropped), window_start_ms_(clock.NowUnixMs()) {}

void SloRecorder::Drop(std::uint64_t n) {
  if (n == 0) return;
  dropped_total_.fetch_add(n, std::memory_order_relaxed);
  if (dropped_counter_ != nullptr) dropped_counter_->Inc(n);
}

void SloRecorder::Record(std::int64_t config_version, bool error, double latency_ms) {
  if (config_version <= 0) return;
  const double ms = std::isnan(latency_ms) ? 0.0 : std::max(latency_ms, 0.0);
  const std::size_t bucket = LatencyHistogram::BucketOf(ms);
  Shard& shard = shards_[ThisThreadShard()];
  std::uint64_t evicted = 0;
  {
    MutexLock lock(shard.mu);
    Slot* found = nullptr;
    Slot* free_slot = nullptr;
    Slot* lowest = nullptr;
    for (Slot& s : shard.slots) {
      if (s.version == config_version) {
        found = &s;
        break;
      }
      if (s.version == 0) {
        if (free_slot == nullptr) free_slot = &s;
      } else if (lowest == nullptr || s.version < lowest->version) {
        lowest = &s;
      }
    }
    Slot* slot = found != nullptr ? found : free_slot;
    if (slot == nullptr) {
      // Full (rule 4): a newer version takes the lowest one's place.
      if (lowest->version > config_version) {
        evicted = 1;
      } else {
        evicted = lowest->window.requests;
        *lowest = Slot{};
        slot = lowest;
      }
    }
    if (slot != nullptr) {
      slot->version = config_version;
      ++slot->window.requests;
      if (error) ++slot->window.errors;
      ++slot->window.latency.counts[bucket];
    }
  }
  Drop(evicted);
}

std::vector<SloReport> SloRecorder::TakeWindow() {
  MutexLock take(take_mu_);
  std::map<std::int64_t, SloWindow> by_version;
  for (Shard& shard : shards_) {
    MutexLock lock(shard.mu);
    for (Slot& s : shard.slots) {
      if (s.version == 0) continue;
      by_version[s.version].Merge(s.window);
      s = Slot{};
    }
  }
  const std::int64_t now = clock_.NowUnixMs();
  const std::int64_t start = std::exchange(window_start_ms_, now);
  std::vector<SloReport> out;
  out.reserve(by_version.size());
  for (auto& [version, window] : by_version) {
    if (window.requests == 0) continue;
    out.push_back(SloReport{version, start, std::max<std::int64_t>(now - start, 0), window});
  }
  return out;
}

}  // namespace omnirelay::relay
