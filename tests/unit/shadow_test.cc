#include "omnirelay/config/shadow.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

namespace omnirelay {
namespace {

std::string Key(int i) {
  return "request-" + std::to_string(i);
}

// The hash is fixed (FNV-1a 64 + SplitMix64): pinned values hold on every node and build.
TEST(ShadowTest, HashIsPinned) {
  EXPECT_EQ(ShadowHash(""), 0x4f2db50f124040cdULL);
  EXPECT_EQ(ShadowHash("request-1"), 0x3732a63bba8f9fd9ULL);
  EXPECT_EQ(ShadowHash("request-1", "billing"), 0xb938426199c2f4b1ULL);
  EXPECT_EQ(ShadowBucket("user:42", "auth"), 5336u);
}

// The same key and salt always get the same bucket and decision.
TEST(ShadowTest, Deterministic) {
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(ShadowBucket(Key(i), "billing"), ShadowBucket(Key(i), "billing"));
    EXPECT_EQ(ShouldShadow(Key(i), 500, "billing"), ShouldShadow(Key(i), 500, "billing"));
  }
}

// 0 basis points never shadows.
TEST(ShadowTest, ZeroNeverShadows) {
  for (int i = 0; i < 10000; ++i) EXPECT_FALSE(ShouldShadow(Key(i), 0)) << Key(i);
}

// 10000 basis points (100%) always shadows.
TEST(ShadowTest, FullAlwaysShadows) {
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(ShouldShadow(Key(i), 10000)) << Key(i);
}

// Basis points above 10000 shadow everything rather than wrapping.
TEST(ShadowTest, AboveFullAlwaysShadows) {
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(ShouldShadow(Key(i), 10001));
}

// Buckets lie in [0, 10000).
TEST(ShadowTest, BucketRange) {
  std::uint32_t lo = kShadowBasisPointsMax, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::uint32_t b = ShadowBucket(Key(i));
    lo = std::min(lo, b);
    hi = std::max(hi, b);
  }
  EXPECT_LT(hi, kShadowBasisPointsMax);
  EXPECT_LT(lo, 10u);    // the low end is reached...
  EXPECT_GT(hi, 9990u);  // ...and so is the high end
}

// A key is shadowed exactly when its bucket is below the basis points.
TEST(ShadowTest, DecisionIsBucketBelowBasisPoints) {
  for (int i = 0; i < 1000; ++i) {
    const std::uint32_t b = ShadowBucket(Key(i), "r");
    EXPECT_FALSE(ShouldShadow(Key(i), b, "r"));
    EXPECT_TRUE(ShouldShadow(Key(i), b + 1, "r"));
  }
}

// Raising the percent only adds keys: a shadowed key stays shadowed.
TEST(ShadowTest, MonotonicInPercent) {
  for (int i = 0; i < 1000; ++i) {
    if (ShouldShadow(Key(i), 1250)) {
      EXPECT_TRUE(ShouldShadow(Key(i), 1251)) << Key(i);
    }
  }
}

// Different salts (routes) sample independently: decisions differ for some keys.
TEST(ShadowTest, SaltChangesDecisions) {
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    if (ShouldShadow(Key(i), 5000, "billing") != ShouldShadow(Key(i), 5000, "auth")) ++differ;
  }
  EXPECT_GT(differ, 400);  // independent halves disagree ~50% of the time
  EXPECT_LT(differ, 600);
}

// Salt and key are separated: ("ab","c") and ("a","bc") hash differently.
TEST(ShadowTest, SaltKeyBoundary) {
  EXPECT_NE(ShadowHash("c", "ab"), ShadowHash("bc", "a"));
  EXPECT_NE(ShadowHash("k", ""), ShadowHash("", "k"));
}

// Over many keys the shadowed fraction is close to the percent (5%).
TEST(ShadowTest, RateNearPercent) {
  int shadowed = 0;
  constexpr int kKeys = 100000;
  for (int i = 0; i < kKeys; ++i) shadowed += ShouldShadow(Key(i), 500, "billing") ? 1 : 0;
  // 5% of 100k is 5000, sigma ~69: a generous 6-sigma band.
  EXPECT_GT(shadowed, 4586);
  EXPECT_LT(shadowed, 5414);
}

}  // namespace
}  // namespace omnirelay
