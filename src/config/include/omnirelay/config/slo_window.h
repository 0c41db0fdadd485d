// SLO figures as nodes report them and rollout gates compare them (DESIGN.md
// §4 Rollouts): request and error counts and a latency histogram over fixed
// bucket bounds — figures that merge (add), never percentiles, so the control
// plane can sum a wave's nodes and only then take a quantile.
//
// Latency buckets: kLatencyBoundsMs are the upper bounds (inclusive) of the
// first kLatencyBoundsMs.size() buckets; bucket i holds samples in
// (bound[i-1], bound[i]] (the first: [0, bound[0]]), and one last bucket holds
// everything above the last bound. The node feed's SloReport.latency_buckets
// carries exactly these kLatencyBuckets counts, in this order.
//
// A quantile q of n samples is the sample of rank ceil(q * n); within its
// bucket (lower, upper] it is placed by linear interpolation,
// lower + (upper - lower) * (rank - below) / in_bucket, where the first
// bucket's lower bound is 0 and the overflow bucket answers its lower bound
// (the largest finite bound). An empty histogram answers 0.
//
// Thread safety: values; no synchronisation of their own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace omnirelay {

inline constexpr std::array<double, 16> kLatencyBoundsMs = {
    1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000};
inline constexpr std::size_t kLatencyBuckets = kLatencyBoundsMs.size() + 1;

struct LatencyHistogram {
  // counts[i]: samples in (bound[i-1], bound[i]]; the last: above the last bound.
  std::array<std::uint64_t, kLatencyBuckets> counts{};

  // The bucket a sample of `ms` falls in.
  static std::size_t BucketOf(double ms);
  void Record(double ms, std::uint64_t n = 1);
  void Merge(const LatencyHistogram& other);
  std::uint64_t Total() const;
  double QuantileMs(double q) const;

  friend bool operator==(const LatencyHistogram&, const LatencyHistogram&) = default;
};

// One reporting window of a node (or a merge of several).
struct SloWindow {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  LatencyHistogram latency;

  void Merge(const SloWindow& other);
  double ErrorRate() const;  // 0 without requests

  friend bool operator==(const SloWindow&, const SloWindow&) = default;
};

// One node's window for one config version: the requests that version served
// from window_start_ms (unix ms) for window_ms. A window spanning a swap is
// reported as one SloReport per version served. The node feed's wire message
// (node_feed.proto SloReport) carries the same fields.
struct SloReport {
  std::int64_t config_version = 0;
  std::int64_t window_start_ms = 0;
  std::int64_t window_ms = 0;
  SloWindow window;

  friend bool operator==(const SloReport&, const SloReport&) = default;
};

}  // namespace omnirelay
