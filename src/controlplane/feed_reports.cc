#include "feed_reports.h"

#include <cmath>
#include <string>

namespace omnirelay::cp {
namespace {

// The rollout gates add windows up and compare rates: counts that could
// overflow a sum, more errors than requests or a window of no length would
// decide a gate, so such a window refuses its whole report.
std::string InvalidWindow(const SloReport& r) {
  constexpr std::uint64_t kMaxCount = 1'000'000'000'000;     // 1e12 a window
  constexpr std::int64_t kMaxWindowMs = 24LL * 3600 * 1000;  // a day
  if (r.config_version < 0) return "a negative config version";
  if (r.window_start_ms < 0) return "windowStartMs " + std::to_string(r.window_start_ms);
  if (r.window_ms <= 0 || r.window_ms > kMaxWindowMs) {
    return "windowMs " + std::to_string(r.window_ms) + " is outside (0, 86400000]";
  }
  const SloWindow& w = r.window;
  if (w.requests > kMaxCount) return std::to_string(w.requests) + " requests (at most 1e12)";
  if (w.errors > w.requests) {
    return std::to_string(w.errors) + " errors of " + std::to_string(w.requests) + " requests";
  }
  std::uint64_t sampled = 0;  // each count is checked first, so the sum cannot overflow
  for (std::uint64_t count : w.latency.counts) {
    if (count > w.requests) {
      return "a latency bucket of " + std::to_string(count) + " for " + std::to_string(w.requests) +
             " requests";
    }
    sampled += count;
  }
  if (sampled > w.requests) {
    return std::to_string(sampled) + " latency samples for " + std::to_string(w.requests) +
           " requests";
  }
  return "";
}

}  // namespace

std::string InvalidStatus(const StatusMsg& status) {
  constexpr std::size_t kMaxFigures = 64, kMaxFigureName = 64;
  constexpr double kMaxFigure = 1e15;
  if (status.discovery_generation < 0) {
    return "discoveryGeneration " + std::to_string(status.discovery_generation) + " is negative";
  }
  if (constexpr std::size_t kMaxFeedId = 512; status.discovery_feed_id.size() > kMaxFeedId) {
    return "a discovery feed id of " + std::to_string(status.discovery_feed_id.size()) +
           " bytes (at most " + std::to_string(kMaxFeedId) + ")";
  }
  if (status.health.size() > kMaxFigures) {
    return std::to_string(status.health.size()) + " health figures (at most " +
           std::to_string(kMaxFigures) + ")";
  }
  for (const auto& [name, value] : status.health) {
    if (name.empty() || name.size() > kMaxFigureName) {
      return "a health figure name of " + std::to_string(name.size()) + " bytes";
    }
    if (!std::isfinite(value)) return "health figure \"" + name + "\" is not finite";
    if (value < 0 || value > kMaxFigure) {
      return "health figure \"" + name + "\" = " + std::to_string(value) + " is outside [0, 1e15]";
    }
  }
  if (status.slo.size() > kMaxFigures) {
    return std::to_string(status.slo.size()) + " SLO windows (at most " +
           std::to_string(kMaxFigures) + ")";
  }
  for (const SloReport& r : status.slo) {
    if (std::string why = InvalidWindow(r); !why.empty()) {
      return "SLO window of version " + std::to_string(r.config_version) + ": " + why;
    }
  }
  return "";
}

}  // namespace omnirelay::cp
