// Statistical and determinism properties of shadow sampling.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cmath>
#include <string>

#include "omnirelay/config/shadow.h"

namespace omnirelay {
namespace {

// Over 100k distinct keys, the shadowed count is within 4 standard deviations of n*p.
RC_GTEST_PROP(ShadowProperty, RateWithinFourSigmaOver100kKeys, ()) {
  const auto bp = *rc::gen::inRange<std::uint32_t>(0, 10001);
  const std::string salt = *rc::gen::element<std::string>("", "billing", "auth");
  constexpr int kKeys = 100'000;
  int shadowed = 0;
  for (int i = 0; i < kKeys; ++i) {
    shadowed += ShouldShadow("request-" + std::to_string(i), bp, salt) ? 1 : 0;
  }
  const double p = bp / 10000.0;
  const double mean = kKeys * p;
  const double sigma = std::sqrt(kKeys * p * (1.0 - p));
  RC_ASSERT(std::fabs(shadowed - mean) <= 4.0 * sigma + 1e-9);
}

// The same key always gets the same decision.
RC_GTEST_PROP(ShadowProperty, SameKeySameDecision, (const std::string& key)) {
  const auto bp = *rc::gen::inRange<std::uint32_t>(0, 10001);
  RC_ASSERT(ShouldShadow(key, bp, "r") == ShouldShadow(key, bp, "r"));
}

// Raising the percent never turns a shadowed key off (decisions are monotone in the percent).
RC_GTEST_PROP(ShadowProperty, MonotoneInPercent, (const std::string& key)) {
  const auto lo = *rc::gen::inRange<std::uint32_t>(0, 10001);
  const auto hi = *rc::gen::inRange<std::uint32_t>(lo, 10001);
  RC_ASSERT(!ShouldShadow(key, lo) || ShouldShadow(key, hi));
}

}  // namespace
}  // namespace omnirelay
