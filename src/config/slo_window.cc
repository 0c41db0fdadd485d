#include "omnirelay/config/slo_window.h"

#include <algorithm>
#include <cmath>

namespace omnirelay {

std::size_t LatencyHistogram::BucketOf(double ms) {
  const auto it = std::lower_bound(kLatencyBoundsMs.begin(), kLatencyBoundsMs.end(), ms);
  return static_cast<std::size_t>(it - kLatencyBoundsMs.begin());
}

void LatencyHistogram::Record(double ms, std::uint64_t n) {
  counts[BucketOf(ms)] += n;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) counts[i] += other.counts[i];
}

std::uint64_t LatencyHistogram::Total() const {
  std::uint64_t n = 0;
  for (auto c : counts) n += c;
  return n;
}

double LatencyHistogram::QuantileMs(double q) const {
  const std::uint64_t total = Total();
  if (total == 0) return 0;
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * total)));
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    if (below + counts[i] >= rank) {
      if (i == kLatencyBoundsMs.size()) return kLatencyBoundsMs.back();
      const double lower = i == 0 ? 0.0 : kLatencyBoundsMs[i - 1];
      const double upper = kLatencyBoundsMs[i];
      return lower +
             (upper - lower) * static_cast<double>(rank - below) / static_cast<double>(counts[i]);
    }
    below += counts[i];
  }
  return kLatencyBoundsMs.back();
}

void SloWindow::Merge(const SloWindow& other) {
  requests += other.requests;
  errors += other.errors;
  latency.Merge(other.latency);
}

double SloWindow::ErrorRate() const {
  return requests == 0 ? 0.0 : static_cast<double>(errors) / static_cast<double>(requests);
}

}  // namespace omnirelay
